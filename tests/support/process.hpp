// tests/support/process.hpp — the one way tests run a program, the klaxon binary above all.
//
// Two shapes, both bounded in time, neither through a shell:
//   run_klaxon({"--format", "jsonl", file}, ProcessOptions().with_input("...")) → {status, out, err}: the binary run
//     to completion with arguments, standard input, extra environment and a working directory;
//     killed (status -1) if it has not ended within the limit.
//   KlaxonProcess k({"serve", "--listen", "127.0.0.1:0"}): the binary in the background, stdin a
//     pipe the test writes to, stdout and stderr in files read at any time; wait for a line or a
//     port, stop with SIGTERM, SIGKILL on the way out whatever happened.
// Process is the same for any other program (Alertmanager, node). Every `--format jsonl` output
// run_klaxon or a KlaxonProcess returns is checked line by line as JSON (tests/support/jsonl.hpp):
// a stray byte on stdout fails the test that caused it, whatever the test looked for.
//
// Status: the exit code; -1 when the program died of a signal (klaxon turns SIGTERM and SIGINT
// into exit codes itself, so a death by signal is a bug to see) or did not end in time.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/jsonl.hpp"
#include "tests/support/test_support.hpp"

extern char** environ;

namespace klaxon::test {

/// How long a background process is waited for (a line, a port, its exit after SIGTERM).
inline constexpr auto kProcessWait = std::chrono::seconds(20);

struct ProcessOptions {
  /// run_klaxon: written to the program's stdin (a file, so nothing can block); KlaxonProcess:
  /// written to the stdin pipe at start. Empty and no stdin_file: /dev/null (run) or the pipe.
  std::string input;
  std::filesystem::path stdin_file;   // stdin read from this file instead
  std::filesystem::path stdout_file;  // stdout written here (say /dev/full) instead of captured
  std::map<std::string, std::string> env;  // set in the child's environment, over the test's own
  std::vector<std::string> unset;          // names left out of the child's environment (`env -u`)
  std::filesystem::path cwd;               // the child's working directory, if not the test's
  rlim_t max_files = 0;                    // RLIMIT_NOFILE, soft and hard (`ulimit -n`), when set
  std::chrono::seconds limit = std::chrono::seconds(120);  // run_klaxon: killed after this

  // Chained, as in ProcessOptions().with_cwd(dir).with_limit(20s) (GCC 12 warns on designated
  // initializers that leave members to their defaults).
  ProcessOptions& with_input(std::string v) { input = std::move(v); return *this; }
  ProcessOptions& with_stdin_file(std::filesystem::path v) { stdin_file = std::move(v); return *this; }
  ProcessOptions& with_stdout_file(std::filesystem::path v) { stdout_file = std::move(v); return *this; }
  ProcessOptions& with_env(std::map<std::string, std::string> v) { env = std::move(v); return *this; }
  ProcessOptions& with_unset(std::string name) { unset.push_back(std::move(name)); return *this; }
  ProcessOptions& with_cwd(std::filesystem::path v) { cwd = std::move(v); return *this; }
  ProcessOptions& with_max_files(rlim_t v) { max_files = v; return *this; }
  ProcessOptions& with_limit(std::chrono::seconds v) { limit = v; return *this; }
};

/// A real child process: stdin a pipe we hold, stdout and stderr files we read.
class Process {
 public:
  Process(std::vector<std::string> argv, ProcessOptions options = {}) : options_(std::move(options)) {
    static int count = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("klaxon-process-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    std::filesystem::create_directories(dir_);
    jsonl_ = is_jsonl_run(argv);
    std::signal(SIGPIPE, SIG_IGN);  // a child that died makes write() fail, not the test process

    // Everything the child needs is made before fork: between fork and exec only
    // async-signal-safe calls (open, dup2, chdir, setrlimit, execve).
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv = *e;
      const std::string name = kv.substr(0, kv.find('='));
      if (!options_.env.contains(name) && std::find(options_.unset.begin(), options_.unset.end(), name) == options_.unset.end())
        env.push_back(kv);
    }
    for (const auto& [k, v] : options_.env) env.push_back(k + "=" + v);
    std::vector<char*> args, envp;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string out = options_.stdout_file.empty() ? (dir_ / "out").string() : options_.stdout_file.string();
    const std::string err = (dir_ / "err").string();
    const std::string in_file = options_.stdin_file.string();
    const std::string cwd = options_.cwd.string();
    const rlim_t max_files = options_.max_files;

    int in[2] = {-1, -1};
    if (in_file.empty() && ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      const int i = in_file.empty() ? in[0] : ::open(in_file.c_str(), O_RDONLY);
      const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (i < 0 || o < 0 || e < 0 || ::dup2(i, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
      if (max_files > 0) {
        const struct rlimit limit{max_files, max_files};
        ::setrlimit(RLIMIT_NOFILE, &limit);
      }
      ::execve(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    if (in_file.empty()) {
      ::close(in[0]);
      stdin_ = in[1];
      if (!options_.input.empty()) write(options_.input);
    }
  }
  virtual ~Process() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  void write(const std::string& data) {
    if (stdin_ < 0) return;
    for (std::size_t done = 0; done < data.size();) {
      const ssize_t n = ::write(stdin_, data.data() + done, data.size() - done);
      if (n <= 0) throw std::runtime_error("writing to the child failed");
      done += std::size_t(n);
    }
  }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  std::string out() const { return options_.stdout_file.empty() ? slurp(dir_ / "out") : std::string(); }
  std::string err() const { return slurp(dir_ / "err"); }

  /// Waits until `done(stdout)` holds; false after `limit` or once it exited without.
  bool wait_for(const std::function<bool(const std::string&)>& done, std::chrono::seconds limit = kProcessWait) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done(out())) return true;
      if (exited()) return done(out());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  /// Waits until stdout holds `text`.
  bool wait_for_output(const std::string& text, std::chrono::seconds limit = kProcessWait) {
    return wait_for([&](const std::string& o) { return o.find(text) != std::string::npos; }, limit);
  }
  /// Waits until stderr holds `text`.
  bool wait_for_err(const std::string& text, std::chrono::seconds limit = kProcessWait) {
    return !line_after(text, limit).empty() || err().find(text) != std::string::npos;
  }
  /// Waits until stderr holds `marker`; what follows it to the end of its line ("" if it never came).
  std::string line_after(const std::string& marker, std::chrono::seconds limit = kProcessWait) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      const std::string e = err();
      if (const std::size_t at = e.find(marker); at != std::string::npos) {
        const std::size_t end = e.find('\n', at);
        if (end != std::string::npos) return e.substr(at + marker.size(), end - at - marker.size());
      }
      if (exited() || std::chrono::steady_clock::now() >= deadline) return {};
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  /// The HOST:PORT printed after `marker` on stderr ("status on http://"); fails the test if none.
  std::string address(const std::string& marker = "status on http://", std::chrono::seconds limit = kProcessWait) {
    const std::string rest = line_after(marker, limit);
    const std::string at = rest.substr(0, rest.find('/'));
    if (!at.empty()) return at;
    ADD_FAILURE() << "klaxon did not say where it listens (" << marker << "); stderr:\n" << err();
    return "127.0.0.1:1";
  }

  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    if (jsonl_ && options_.stdout_file.empty()) expect_json_lines(out());
    return true;
  }
  /// The exit status once it ends by itself (-1 if it did not within `limit`).
  int wait_exit(std::chrono::seconds limit = kProcessWait) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!exited()) {
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
  }
  /// `signal` (SIGTERM, as a service manager stops it), then the exit status (-1: it did not end in time).
  int stop(int signal = SIGTERM, std::chrono::seconds limit = kProcessWait) {
    if (pid_ > 0) ::kill(pid_, signal);
    return wait_exit(limit);
  }
  /// A crash: SIGKILL, nothing flushed or saved on the way out.
  void crash() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  static bool is_jsonl_run(const std::vector<std::string>& argv) {
    for (std::size_t i = 1; i + 1 < argv.size(); ++i)
      if (argv[i] == "--format" && argv[i + 1] == "jsonl") return true;
    for (const auto& a : argv)
      if (a == "--format=jsonl") return true;
    return false;
  }
  static std::string slurp(const std::filesystem::path& p) {
    std::error_code ec;
    return std::filesystem::exists(p, ec) ? read_file(p.string()) : std::string();
  }

  ProcessOptions options_;
  std::filesystem::path dir_;
  bool jsonl_ = false;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = -1;
};

/// The klaxon binary of this build in the background: `args` follow its name.
class KlaxonProcess : public Process {
 public:
  explicit KlaxonProcess(const std::vector<std::string>& args, ProcessOptions options = {})
      : Process(with_binary(args), std::move(options)) {}

  static std::vector<std::string> with_binary(const std::vector<std::string>& args) {
    std::vector<std::string> argv{KLAXON_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }
};

/// Runs `argv` (a program and its arguments) to completion; killed after options.limit.
inline CommandResult run_process(const std::vector<std::string>& argv, ProcessOptions options = {}) {
  const auto limit = options.limit;
  // The input goes through a pipe, as `echo x | klaxon` (klaxon reads a regular file on stdin
  // as a replay), written by a thread: a child that never reads it cannot block the test.
  const std::string input = std::move(options.input);
  options.input.clear();
  if (options.stdin_file.empty() && input.empty()) options.stdin_file = "/dev/null";
  Process p(argv, std::move(options));
  std::thread writer([&] {
    try {
      p.write(input);
    } catch (const std::exception&) {  // the child ended without reading it all
    }
    p.close_stdin();
  });
  CommandResult r;
  r.status = p.wait_exit(limit);
  const bool hung = r.status == -1 && !p.exited();
  if (hung) p.crash();
  writer.join();
  if (hung) ADD_FAILURE() << argv[0] << " did not end within " << limit.count() << " s";
  r.out = p.out();
  r.err = p.err();
  return r;
}

/// Runs this build's klaxon with `args` to completion: exit status, stdout, stderr.
inline CommandResult run_klaxon(const std::vector<std::string>& args, ProcessOptions options = {}) {
  return run_process(KlaxonProcess::with_binary(args), std::move(options));
}

}  // namespace klaxon::test
