// `klaxon --follow`: the real binary follows real files while the test rotates them (rename,
// copytruncate), adds files under a glob, and restarts klaxon with --state; and the other inputs
// that arrive over time or are cut short (a FIFO, an interrupted replay). Every test writes
// lines that the shipped rules classify, each tagged [req-N], polls klaxon's JSON-lines output
// until the expected tags appear (bounded), stops klaxon with SIGTERM, and checks the exit
// status, the summary, and that every tagged line was reported exactly once.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using namespace std::chrono_literals;

const std::string kBin = KLAXON_BINARY;
constexpr auto kPatience = 20s;  // for klaxon to report what was written; a hung klaxon fails the test

// A line of the kubelet's CRI files that the shipped Go pack classifies (cert_unknown_authority).
std::string cri_line(int req) {
  return "2023-06-19T13:19:53.535301118Z stderr F {\"level\":\"error\",\"msg\":\"[req-" + std::to_string(req) +
         "] transport: authentication handshake failed: x509: certificate signed by unknown authority\"}\n";
}
// A line no rule classifies.
std::string noise_line(int n) {
  return "2023-06-19T13:19:54.000000000Z stdout F {\"level\":\"info\",\"msg\":\"served request " + std::to_string(n) +
         "\"}\n";
}

void append(const fs::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::app | std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good()) << file;
}


// klaxon as a child (tests/support/process.hpp); `max_files`: its RLIMIT_NOFILE, soft and hard (`ulimit -n`).
class Klaxon : public test::KlaxonProcess {
 public:
  explicit Klaxon(const std::vector<std::string>& args, rlim_t max_files = 0)
      : KlaxonProcess(args, test::ProcessOptions().with_max_files(max_files)) {}
};

// Whole output lines of one type ("match", "summary", ...).
std::vector<std::string> of_type(const std::string& out, const std::string& type) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    const std::string line = out.substr(start, end - start);
    if (line.starts_with("{\"type\":\"" + type + "\"")) lines.push_back(line);
  }
  return lines;
}

// How often each [req-N] was reported as a match.
std::map<int, int> reported(const std::string& out) {
  std::map<int, int> seen;
  for (const std::string& line : of_type(out, "match")) {
    const std::size_t at = line.find("[req-");
    if (at != std::string::npos) ++seen[std::stoi(line.substr(at + 5))];
  }
  return seen;
}

std::function<bool(const std::string&)> reported_all(const std::set<int>& reqs) {
  return [reqs](const std::string& out) {
    const auto seen = reported(out);
    for (int r : reqs)
      if (!seen.contains(r)) return false;
    return true;
  };
}

std::map<int, int> once_each(const std::set<int>& reqs) {
  std::map<int, int> want;
  for (int r : reqs) want[r] = 1;
  return want;
}

std::string match_with(const std::string& out, int req) {
  for (const std::string& line : of_type(out, "match"))
    if (line.find("[req-" + std::to_string(req) + "]") != std::string::npos) return line;
  return "";
}

TEST(Follow, PodLogTreeThroughRenameRotationLosesAndRepeatsNothing) {
  TempDir tmp;
  const fs::path container = tmp.path() / "pods" / "dapr-system_dapr-sentry-7c8d9f6b5-x2x4q_0b6e1a2c" / "dapr-sentry";
  fs::create_directories(container);
  append(container / "0.log", cri_line(1) + noise_line(1) + cri_line(2));  // history: read first

  // A generous --rotate-wait: the late line below must arrive within it even on a loaded machine.
  Klaxon k({"--format", "jsonl", "--matches", "--rotate-wait", "60s", "--follow", (tmp.path() / "pods").string()});
  ASSERT_TRUE(k.wait_for(reported_all({1, 2}))) << k.out() << k.err();

  append(container / "0.log", cri_line(3) + noise_line(2));
  ASSERT_TRUE(k.wait_for(reported_all({3}))) << k.out() << k.err();

  // The kubelet's rotation: rename, a new file; the runtime, not yet reopened, still writes a line
  // to the old one after klaxon has moved on to the new file.
  std::ofstream writer(container / "0.log", std::ios::app | std::ios::binary);
  writer << cri_line(4) << std::flush;
  fs::rename(container / "0.log", container / "0.log.20240401-234335");
  append(container / "0.log", cri_line(6) + noise_line(3));
  ASSERT_TRUE(k.wait_for(reported_all({4, 6}))) << k.out() << k.err();
  writer << cri_line(5) << std::flush;
  append(container / "0.log", cri_line(7));
  ASSERT_TRUE(k.wait_for(reported_all({5, 7}))) << k.out() << k.err();

  EXPECT_EQ(k.stop(), 0) << k.err();
  const std::string out = k.out();
  EXPECT_EQ(reported(out), once_each({1, 2, 3, 4, 5, 6, 7})) << out;
  const std::string first = match_with(out, 1);
  EXPECT_NE(first.find(R"("labels":{"namespace":"dapr-system","pod":"dapr-sentry-7c8d9f6b5-x2x4q","container":"dapr-sentry")"),
            std::string::npos)
      << first;
  EXPECT_NE(match_with(out, 7).find(R"("class":"cert_unknown_authority")"), std::string::npos);
  // A late line of the rotated file is reported under the name it has now.
  EXPECT_NE(match_with(out, 5).find(R"(0.log.20240401-234335","line_no":1,)"), std::string::npos) << match_with(out, 5);
  const auto summary = of_type(out, "summary");
  ASSERT_EQ(summary.size(), 1u) << out;
  EXPECT_NE(summary[0].find(R"("matched_lines":7)"), std::string::npos) << summary[0];
}

TEST(Follow, CopytruncatedFileIsReadAgainFromItsStart) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  append(log, cri_line(1) + cri_line(2) + noise_line(1) + cri_line(3));

  Klaxon k({"--format", "jsonl", "--matches", "--follow", (tmp.path() / "*.log").string()});
  ASSERT_TRUE(k.wait_for(reported_all({1, 2, 3}))) << k.out() << k.err();

  // logrotate's copytruncate: copy away (a name the glob does not match), then truncate in place.
  fs::copy_file(log, tmp.path() / "app.log.1");
  fs::resize_file(log, 0);
  append(log, cri_line(4) + cri_line(5));  // shorter than before, as right after a truncation
  ASSERT_TRUE(k.wait_for(reported_all({4, 5}))) << k.out() << k.err();
  EXPECT_TRUE(k.wait_for_err("was truncated; reading it again from the start")) << k.err();

  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(reported(k.out()), once_each({1, 2, 3, 4, 5})) << k.out();
  EXPECT_NE(match_with(k.out(), 4).find(R"("labels":{"file":"app.log")"), std::string::npos) << match_with(k.out(), 4);
  EXPECT_EQ(of_type(k.out(), "summary").size(), 1u);
}

TEST(Follow, GlobGainsFilesThatAppearLater) {
  TempDir tmp;
  Klaxon k({"--format", "jsonl", "--matches", "--follow", (tmp.path() / "*" / "*.log").string()});
  ASSERT_TRUE(k.wait_for_err("no file there yet; waiting for one to appear")) << k.err();

  fs::create_directories(tmp.path() / "later");
  append(tmp.path() / "later" / "other.txt", cri_line(99));  // not matched by the glob
  append(tmp.path() / "later" / "old.log", std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00") + cri_line(98));  // gzip
  append(tmp.path() / "later" / "app.log", cri_line(1) + noise_line(1));
  ASSERT_TRUE(k.wait_for(reported_all({1}))) << k.out() << k.err();
  append(tmp.path() / "later" / "app.log", cri_line(2));
  fs::create_directories(tmp.path() / "second");
  append(tmp.path() / "second" / "b.log", cri_line(3));
  ASSERT_TRUE(k.wait_for(reported_all({2, 3}))) << k.out() << k.err();

  EXPECT_TRUE(k.wait_for_err("old.log is compressed, so it is not followed")) << k.err();
  EXPECT_FALSE(k.exited()) << "a follower never ends on its own: " << k.err();
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(reported(k.out()), once_each({1, 2, 3})) << k.out();
  EXPECT_EQ(of_type(k.out(), "summary").size(), 1u);
}

TEST(Follow, RestartWithStateResumesWithoutLossOrRepetition) {
  TempDir tmp;
  const fs::path container = tmp.path() / "pods" / "shop_web-6d8f_1f2e3d" / "web";
  fs::create_directories(container);
  const std::string state = (tmp.path() / "follow.state").string();
  const std::vector<std::string> args{"--format", "jsonl", "--matches", "--state", state,
                                      "--follow", (tmp.path() / "pods").string()};
  append(container / "0.log", cri_line(1) + noise_line(1) + cri_line(2));

  std::map<int, int> all;
  {
    Klaxon first(args);
    ASSERT_TRUE(first.wait_for(reported_all({1, 2}))) << first.out() << first.err();
    append(container / "0.log", cri_line(3));
    ASSERT_TRUE(first.wait_for(reported_all({3}))) << first.out() << first.err();
    ASSERT_EQ(first.stop(), 0) << first.err();
    for (auto [r, n] : reported(first.out())) all[r] += n;
  }
  // While klaxon is down: more lines, then a rotation by rename, then lines in the new file.
  append(container / "0.log", cri_line(4) + cri_line(5));
  fs::rename(container / "0.log", container / "0.log.20240401-234335");
  append(container / "0.log", cri_line(6) + noise_line(2) + cri_line(7));
  {
    Klaxon second(args);
    ASSERT_TRUE(second.wait_for(reported_all({4, 5, 6, 7}))) << second.out() << second.err();
    // What the rotated file still held comes first, under the name it has now.
    EXPECT_LT(second.out().find("[req-5]"), second.out().find("[req-6]"));
    EXPECT_NE(match_with(second.out(), 4).find("0.log.20240401-234335"), std::string::npos) << match_with(second.out(), 4);
    append(container / "0.log", cri_line(8));
    ASSERT_TRUE(second.wait_for(reported_all({8}))) << second.out() << second.err();
    ASSERT_EQ(second.stop(), 0) << second.err();
    for (auto [r, n] : reported(second.out())) all[r] += n;
  }
  {
    Klaxon third(args);  // nothing new: nothing reported again
    ASSERT_TRUE(third.wait_for_err("following 1 file")) << third.err();
    append(container / "0.log", cri_line(9));
    ASSERT_TRUE(third.wait_for(reported_all({9}))) << third.out() << third.err();
    ASSERT_EQ(third.stop(), 0) << third.err();
    for (auto [r, n] : reported(third.out())) all[r] += n;
  }
  EXPECT_EQ(all, once_each({1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

// After a crash the state file may be behind (lines read again), never ahead (lines lost): every
// line before the saved offset was written out before klaxon died.
TEST(Follow, CrashLeavesTheStateBehindTheOutputNeverAhead) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  const fs::path state = tmp.path() / "follow.state";
  const std::vector<std::string> args{"--format", "jsonl", "--matches", "--state", state.string(), "--follow", log.string()};
  std::string text;
  for (int i = 1; i <= 10; ++i) text += cri_line(i);
  append(log, text);

  auto saved_offset = [&]() -> std::uint64_t {
    if (!fs::exists(state)) return 0;
    const std::string s = test::read_file(state.string());
    const std::size_t line = s.find('\n');
    if (line == std::string::npos || line + 1 >= s.size()) return 0;
    std::istringstream fields(s.substr(line + 1));
    std::uint64_t device = 0, inode = 0, offset = 0;
    fields >> device >> inode >> offset;
    return offset;
  };
  std::map<int, int> all;
  std::uint64_t offset = 0;
  {
    Klaxon first(args);
    ASSERT_TRUE(first.wait_for([&](const std::string&) { return saved_offset() > 0; })) << first.err();
    for (int i = 11; i <= 20; ++i) append(log, cri_line(i));  // may or may not be read before the crash
    first.crash();
    offset = saved_offset();
    for (auto [r, n] : reported(first.out())) all[r] += n;
  }
  const std::string before = test::read_file(log.string()).substr(0, offset);
  for (int i = 1; i <= 20; ++i) {
    if (before.find("[req-" + std::to_string(i) + "]") != std::string::npos) {
      EXPECT_TRUE(all.contains(i)) << "req-" << i << " is before the saved offset " << offset << " but was never written out";
    }
  }
  {
    Klaxon second(args);
    std::set<int> everything;
    for (int i = 1; i <= 20; ++i) everything.insert(i);
    std::set<int> after;
    for (int i = 1; i <= 20; ++i)
      if (before.find("[req-" + std::to_string(i) + "]") == std::string::npos) after.insert(i);
    ASSERT_TRUE(second.wait_for(reported_all(after))) << second.out() << second.err();
    ASSERT_EQ(second.stop(), 0) << second.err();
    EXPECT_EQ(reported(second.out()), once_each(after));  // nothing before the offset is read again
    for (auto [r, n] : reported(second.out())) all[r] += n;
    for (int i : everything) EXPECT_GE(all[i], 1) << "req-" << i << " was lost";
  }
}

TEST(Follow, FromEndSkipsWhatFilesHoldAtStart) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  append(log, cri_line(1) + cri_line(2));
  Klaxon k({"--format", "jsonl", "--matches", "--from-end", "--follow", log.string()});
  ASSERT_TRUE(k.wait_for_err("following 1 file from their end")) << k.err();
  append(log, cri_line(3));
  ASSERT_TRUE(k.wait_for(reported_all({3}))) << k.out() << k.err();
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(reported(k.out()), once_each({3})) << k.out();
}

// A node can hold more log files than klaxon may open (ulimit -n, hard limit included): the newest
// are followed, the rest counted and said, and none is read twice (a directory walk cut short by
// the limit is not a rotation of every file it did not reach).
TEST(Follow, PastTheFileLimitTheNewestAreFollowedAndNothingIsReadTwice) {
  TempDir tmp;
  const fs::path pods = tmp.path() / "pods";
  fs::create_directories(pods);
  const auto base = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (int i = 1; i <= 150; ++i) {
    const fs::path file = pods / ("app-" + std::to_string(1000 + i) + ".log");
    append(file, cri_line(i));
    fs::last_write_time(file, base + std::chrono::seconds(i));  // the higher, the newer
  }
  // 128 descriptors: klaxon keeps 64 for itself and follows 64 files, the 64 newest.
  Klaxon k({"--format", "jsonl", "--matches", "--follow", pods.string()}, 128);
  std::set<int> newest;
  for (int i = 87; i <= 150; ++i) newest.insert(i);
  ASSERT_TRUE(k.wait_for(reported_all(newest))) << k.err();
  EXPECT_TRUE(k.wait_for_err("86 files are not followed")) << k.err();
  append(pods / "app-1150.log", cri_line(200));  // still followed, live, after several scans
  ASSERT_TRUE(k.wait_for(reported_all({200}))) << k.err();
  EXPECT_EQ(k.stop(), 0) << k.err();
  newest.insert(200);
  EXPECT_EQ(reported(k.out()), once_each(newest)) << k.err();
}

// `klaxon <(kubectl logs -f ...)` reads a pipe by name (/dev/fd/N), as a FIFO is read: each
// line is reported as it arrives, with several threads as with one (they are for files).
TEST(LiveInput, AFifoIsReportedLineByLineWhateverTheThreads) {
  TempDir tmp;
  const fs::path fifo = tmp.path() / "logs";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Klaxon k({"--format", "jsonl", "--matches", "--threads", "4", fifo.string()});
  const int w = ::open(fifo.c_str(), O_WRONLY);  // waits for klaxon to open it
  ASSERT_GE(w, 0);
  const std::string first = cri_line(1);
  ASSERT_EQ(::write(w, first.data(), first.size()), ssize_t(first.size()));
  EXPECT_TRUE(k.wait_for(reported_all({1}))) << "a line in a FIFO that stays open must be reported: " << k.err();
  const std::string second = noise_line(1) + cri_line(2);
  ASSERT_EQ(::write(w, second.data(), second.size()), ssize_t(second.size()));
  EXPECT_TRUE(k.wait_for(reported_all({2}))) << k.err();
  EXPECT_FALSE(k.exited());
  ::close(w);
  EXPECT_TRUE(k.wait_for([](const std::string& out) { return !of_type(out, "summary").empty(); })) << k.err();
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(reported(k.out()), once_each({1, 2}));
}

// A replay stopped by Ctrl-C or SIGTERM has not read its input: it exits as a signal does
// (130, 143) and the summary says after how many lines it was cut. Here the replay reads a file,
// then a FIFO that holds one line and stays open, and is stopped there (once that line is
// reported, klaxon is past opening the FIFO, in reads that wake every second to look for a stop).
TEST(Replay, AnInterruptedReplayExitsWithTheSignalAndSaysItWasCutShort) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  append(log, cri_line(1) + noise_line(1) + cri_line(2));
  const fs::path fifo = tmp.path() / "quiet";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const int signal : {SIGTERM, SIGINT}) {
    const std::string name = signal == SIGTERM ? "term" : "int";
    Klaxon jsonl({"--format", "jsonl", "--matches", log.string(), fifo.string()});
    const int w = ::open(fifo.c_str(), O_WRONLY);
    ASSERT_GE(w, 0);
    const std::string third = cri_line(3);
    ASSERT_EQ(::write(w, third.data(), third.size()), ssize_t(third.size()));
    ASSERT_TRUE(jsonl.wait_for(reported_all({1, 2, 3}))) << jsonl.err();
    EXPECT_EQ(jsonl.stop(signal), 128 + signal) << jsonl.err();
    ::close(w);
    const auto summary = of_type(jsonl.out(), "summary");
    ASSERT_EQ(summary.size(), 1u) << jsonl.out();
    EXPECT_NE(summary[0].find("\"cut_short_by_signal\":" + std::to_string(signal)), std::string::npos) << summary[0];
    EXPECT_NE(summary[0].find("\"lines\":4,"), std::string::npos) << summary[0];
  }
  Klaxon console({"--matches", log.string(), fifo.string()});
  const int w = ::open(fifo.c_str(), O_WRONLY);
  ASSERT_GE(w, 0);
  const std::string third = cri_line(3);
  ASSERT_EQ(::write(w, third.data(), third.size()), ssize_t(third.size()));
  ASSERT_TRUE(console.wait_for([](const std::string& out) { return out.find("req-3") != std::string::npos; })) << console.err();
  EXPECT_EQ(console.stop(SIGINT), 130);
  ::close(w);
  EXPECT_NE(console.out().find("cut short after 4 lines (Ctrl-C): the rest was not read"), std::string::npos) << console.out();

  // Read to its end, the same replay says nothing of the kind.
  const auto whole = test::run_klaxon({"--format", "jsonl", log.string()});
  EXPECT_EQ(whole.status, 0) << whole.err;
  EXPECT_EQ(whole.out.find("cut_short"), std::string::npos);
}

// Output that cannot be written (a full disk) is an error, not a quiet success.
TEST(Replay, AFailedWriteToStandardOutputIsAnError) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  append(log, cri_line(1) + noise_line(1));
  const auto r = test::run_klaxon({"--format", "jsonl", "--matches", log.string()}, test::ProcessOptions().with_stdout_file("/dev/full"));
  EXPECT_EQ(r.status, 1) << r.err;
  EXPECT_NE(r.err.find("klaxon: error: writing the output failed"), std::string::npos) << r.err;
}

// The state's temp file sits beside it, often in a directory others can write (/tmp, a shared
// volume). A symlink planted at its name must not make klaxon (often root) write through it.
TEST(Follow, StateTempFileNeverWritesThroughAPlantedSymlink) {
  TempDir tmp;
  const fs::path log = tmp.path() / "app.log";
  const fs::path state = tmp.path() / "follow.state";
  const fs::path victim = tmp.path() / "victim";
  append(log, cri_line(1));
  append(victim, "precious\n");
  fs::create_symlink(victim, tmp.path() / "follow.state.tmp");
  Klaxon k({"--format", "jsonl", "--matches", "--state", state.string(), "--follow", log.string()});
  ASSERT_TRUE(k.wait_for(reported_all({1}))) << k.out() << k.err();
  EXPECT_EQ(k.stop(), 0) << k.err();
  EXPECT_EQ(test::read_file(victim.string()), "precious\n");
  ASSERT_FALSE(fs::is_symlink(state));
  EXPECT_NE(test::read_file(state.string()).find(log.string()), std::string::npos);  // the state was saved
}

TEST(Follow, UsageErrorsSayWhatToDo) {
  TempDir tmp;
  auto r = test::run_klaxon({"--state", (tmp.path() / "s").string(), (tmp.path() / "x.log").string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--state go with --follow"), std::string::npos) << r.err;

  const fs::path not_ours = tmp.path() / "notes.txt";
  append(not_ours, "my notes\n");
  r = test::run_klaxon({"--state", not_ours.string(), "--follow", tmp.path().string()});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("not a klaxon state file"), std::string::npos) << r.err;
  EXPECT_EQ(test::read_file(not_ours.string()), "my notes\n");  // left as it was
}

}  // namespace
}  // namespace klaxon
