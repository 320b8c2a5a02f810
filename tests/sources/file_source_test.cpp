#include "adapters/sources/file_source.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "tests/support/test_support.hpp"

namespace klaxon::sources {
namespace {

namespace fs = std::filesystem;

class FileSourceTest : public ::testing::Test {
 protected:
  fs::path dir = fs::temp_directory_path() / ("klaxon-fs-" + std::to_string(::getpid()));
  std::string text;
  void SetUp() override {
    fs::create_directories(dir);
    for (int i = 0; i < 20000; ++i) text += "line " + std::to_string(i) + " x509: certificate has expired\n";
    std::ofstream(dir / "plain.log") << text;
  }
  void TearDown() override { fs::remove_all(dir); }

  std::string sh(const std::string& cmd) {
    auto r = test::run_command("cd " + dir.string() + " && " + cmd);
    EXPECT_EQ(r.status, 0) << cmd << r.err;
    return r.out;
  }

  // Reads a whole source in small buffers (or the buffers an archive lends, when `borrow`);
  // returns bytes and the error, if any.
  std::pair<std::string, std::string> slurp(const fs::path& p, bool borrow = false) {
    std::string error;
    auto src = open_file_source(p.string(), error);
    EXPECT_TRUE(src) << error;
    if (!src) return {};
    std::string out;
    char buf[1000];
    for (;;) {
      std::string_view lent;
      ReadResult r = borrow && src->lends() ? src->lend(lent) : src->read(buf);
      out.append(borrow && src->lends() ? lent.data() : buf, r.bytes);
      if (!r.error.empty()) return {out, r.error};
      if (r.eof) return {out, ""};
    }
  }
};

TEST_F(FileSourceTest, PlainGzipZstdAndConcatenatedGzipGiveTheSameBytes) {
  sh("gzip -k plain.log && zstd -q -k plain.log && cp plain.log.gz twice.gz && cat plain.log.gz >> twice.gz "
     "&& cp plain.log.gz named-without-extension");
  for (bool borrow : {false, true}) {
    EXPECT_EQ(slurp(dir / "plain.log", borrow).first, text);
    EXPECT_EQ(slurp(dir / "plain.log.gz", borrow).first, text) << borrow;
    EXPECT_EQ(slurp(dir / "plain.log.zst", borrow).first, text) << borrow;
    EXPECT_EQ(slurp(dir / "named-without-extension", borrow).first, text) << borrow;
    EXPECT_EQ(slurp(dir / "twice.gz", borrow).first, text + text) << borrow;
  }
}

// `kubectl logs -f | gzip | klaxon`: an archive arriving through a pipe that stays open. Its
// bytes come out whole, a quiet pipe times out instead of blocking (the clock must move on),
// and letting go of the source while the writer lives does not hang.
TEST_F(FileSourceTest, CompressedPipeThatStaysOpenTimesOutAndLetsGo) {
  sh("gzip -k plain.log && mkfifo pipe");
  const std::string gz = test::read_file((dir / "plain.log.gz").string());
  const int writer = ::open((dir / "pipe").c_str(), O_RDWR);  // does not wait for a reader
  ASSERT_GE(writer, 0);
  std::thread feed([&] { ASSERT_EQ(::write(writer, gz.data(), gz.size()), ssize_t(gz.size())); });
  std::string error;
  auto src = open_file_source((dir / "pipe").string(), error);
  ASSERT_TRUE(src) << error;
  std::string out;
  std::vector<char> buf(4096);
  for (int quiet = 0; out.size() < text.size() && quiet < 50;) {
    ReadResult r = src->read(buf, 100);
    out.append(buf.data(), r.bytes);
    ASSERT_TRUE(r.error.empty()) << r.error;
    ASSERT_FALSE(r.eof);
    quiet += r.timed_out;
  }
  feed.join();
  EXPECT_EQ(out, text);
  EXPECT_TRUE(src->read(buf, 100).timed_out);
  src.reset();
  ::close(writer);
}

TEST_F(FileSourceTest, TruncatedArchivesKeepWhatCameBeforeAndSaySo) {
  sh("gzip -k plain.log && zstd -q -k plain.log && head -c $(( $(stat -c %s plain.log.gz) / 2 )) plain.log.gz > cut.gz && head -c $(( $(stat -c %s plain.log.zst) / 2 )) plain.log.zst > cut.zst");
  for (bool borrow : {false, true})
    for (const char* name : {"cut.gz", "cut.zst"}) {
      auto [bytes, error] = slurp(dir / name, borrow);
      EXPECT_NE(error.find("truncated"), std::string::npos) << name << ": " << error;
      EXPECT_GT(bytes.size(), 1000u) << name;
      EXPECT_EQ(text.compare(0, bytes.size(), bytes), 0) << name;
    }
}

TEST_F(FileSourceTest, CorruptGzipSaysWhere) {
  sh("gzip -k plain.log && cp plain.log.gz bad.gz && printf 'XXXXXXXX' | dd of=bad.gz bs=1 seek=2000 conv=notrunc 2>/dev/null");
  auto [bytes, error] = slurp(dir / "bad.gz");
  EXPECT_NE(error.find("corrupt gzip data after"), std::string::npos) << error;
}

TEST_F(FileSourceTest, MissingFileIsAClearError) {
  std::string error;
  EXPECT_FALSE(open_file_source((dir / "nope.log").string(), error));
  EXPECT_NE(error.find("cannot open"), std::string::npos);
  EXPECT_NE(error.find("No such file"), std::string::npos);
}

TEST_F(FileSourceTest, EmptyFileEndsAtOnce) {
  std::ofstream(dir / "empty.log");
  EXPECT_EQ(slurp(dir / "empty.log"), (std::pair<std::string, std::string>{"", ""}));
}

// A file cut while it is replayed (copytruncate, a rewrite) ends before the size it had: the
// replay says so instead of ending as if it had read it all. A file that grows is read to its end.
TEST_F(FileSourceTest, AFileThatShrinksWhileReadIsAnError) {
  std::string error;
  auto src = open_file_source((dir / "plain.log").string(), error);
  ASSERT_TRUE(src) << error;
  char buf[1000];
  ReadResult first = src->read(buf);
  ASSERT_GT(first.bytes, 0u);
  fs::resize_file(dir / "plain.log", 5000);
  std::string rest_error;
  for (int reads = 0; reads < 100; ++reads) {
    const ReadResult r = src->read(buf);
    if (!r.error.empty()) rest_error = r.error;
    if (r.eof) break;
  }
  EXPECT_EQ(rest_error, "the file shrank while being read");

  std::ofstream(dir / "grows.log") << "first line\n";
  auto grows = open_file_source((dir / "grows.log").string(), error);
  ASSERT_TRUE(grows) << error;
  std::ofstream(dir / "grows.log", std::ios::app) << "second line\n";
  std::string all;
  for (ReadResult r{}; !r.eof;) {
    r = grows->read(buf);
    EXPECT_EQ(r.error, "");
    all.append(buf, r.bytes);
  }
  EXPECT_EQ(all, "first line\nsecond line\n");
}

}  // namespace
}  // namespace klaxon::sources
