// adapters/sources/child_process.cpp — see child_process.hpp.
#include "adapters/sources/child_process.hpp"
#include "engine/trim.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <system_error>

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "adapters/net/asio.hpp"

namespace klaxon::sources {

namespace {

// The guardian never executes anything, so O_CLOEXEC does not close what it inherited: without
// this it would hold klaxon's sockets (a probe's connection, the --listen port, an Alertmanager
// connection) open for as long as the program runs. It keeps only the program's two outputs.
void close_inherited(int out_fd, int err_fd) {
  unsigned from = 3;
  for (const int kept : {std::min(out_fd, err_fd), std::max(out_fd, err_fd)}) {
    if (kept < int(from)) continue;
    if (unsigned(kept) > from) ::close_range(from, unsigned(kept) - 1, 0);
    from = unsigned(kept) + 1;
  }
  ::close_range(from, ~0U, 0);
}

// The guardian: a forked copy of klaxon between it and the program. PR_SET_PDEATHSIG on the
// program itself is not enough: kubectl is often a dispatcher (Go) that re-executes the real
// binary from another thread, and the death signal does not survive that. The guardian keeps it
// (it never executes anything), and on SIGTERM (klaxon died) it kills the program and exits.
// Otherwise it exits with the program's status. Only async-signal-safe calls here: klaxon may
// have threads. Every signal is blocked on entry (the parent blocked them around fork), so no
// handler of klaxon's (Asio's signal pipe) ever runs here; `previous` is klaxon's own mask.
[[noreturn]] void guard(pid_t parent, char* const* args, int out_fd, int err_fd, const sigset_t& previous) {
  sigset_t watched;
  ::signal(SIGCHLD, SIG_DFL);
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(127);  // klaxon died before prctl took effect
  ::setpgid(0, 0);                          // the terminal's Ctrl-C is klaxon's to handle
  close_inherited(out_fd, err_fd);

  const pid_t program = ::fork();
  if (program == 0) {
    const int null_in = ::open("/dev/null", O_RDONLY);
    ::dup2(null_in, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::signal(SIGPIPE, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &previous, nullptr);  // the program gets klaxon's mask, not ours
    ::execv(args[0], args);
    static const char msg[] = "cannot execute the program\n";
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof msg - 1);
    ::_exit(127);
  }
  ::close(out_fd);  // only the program holds the pipe: its end is the end of the output
  if (program < 0) ::_exit(127);

  sigemptyset(&watched);
  sigaddset(&watched, SIGCHLD);
  sigaddset(&watched, SIGTERM);
  for (;;) {
    const int sig = ::sigwaitinfo(&watched, nullptr);
    if (sig == SIGTERM) {
      ::kill(program, SIGKILL);
      ::waitpid(program, nullptr, 0);
      ::_exit(128 + SIGKILL);
    }
    int status = 0;
    if (sig == SIGCHLD && ::waitpid(program, &status, WNOHANG) == program)
      ::_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
}

}  // namespace

ChildProcess::ChildProcess(const asio::any_io_executor& executor, const std::vector<std::string>& argv)
    : out_(executor) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
  UniqueFd out_read(pipe_fds[0]), out_write(pipe_fds[1]);
  err_fd_.reset(::memfd_create("klaxon-child-stderr", MFD_CLOEXEC));
  if (!err_fd_) throw std::system_error(errno, std::generic_category(), "memfd_create");
  const pid_t parent = ::getpid();
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  const pid_t pid = ::fork();
  if (pid == 0) guard(parent, args.data(), out_write.get(), err_fd_.get(), previous);  // never returns
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (pid > 0) ::setpgid(pid, pid);  // as the guardian does: the group exists before kill() may need it
  if (pid < 0) {
    const int e = errno;
    err_fd_.reset();
    throw std::system_error(e, std::generic_category(), "fork");
  }
  pid_ = pid;
  out_write.reset();  // only the program holds the write end: its exit is the end of out()
  out_.assign(out_read.release());
}

ChildProcess::~ChildProcess() { terminate(); }

// The guardian leads a process group of its own with the program in it: one signal ends both.
static void kill_group(pid_t guardian) {
  if (::kill(-guardian, SIGKILL) != 0) ::kill(guardian, SIGKILL);
}

void ChildProcess::kill() {
  if (pid_ > 0) kill_group(pid_);
}

void ChildProcess::terminate() {
  if (pid_ > 0) {
    kill_group(pid_);
    while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  boost::system::error_code ec;
  out_.close(ec);
}

asio::awaitable<int> ChildProcess::wait(std::chrono::milliseconds grace) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  auto step = std::chrono::milliseconds(5);
  while (pid_ > 0) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      co_return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (r < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) break;
    timer.expires_after(step);
    co_await timer.async_wait(asio::use_awaitable);
    step = std::min(step * 2, std::chrono::milliseconds(100));
  }
  const bool was_running = pid_ > 0;
  terminate();
  co_return was_running ? 128 + SIGKILL : -1;
}

std::string ChildProcess::error_text() const {
  std::string text(16 * 1024, '\0');
  const ssize_t n = err_fd_ ? ::pread(err_fd_.get(), text.data(), text.size(), 0) : 0;
  text.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  text.resize(trim_right(text).size());
  return text;
}

std::string find_on_path(const std::string& program) {
  if (program.find('/') != std::string::npos) return ::access(program.c_str(), X_OK) == 0 ? program : "";
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "";
  while (!rest.empty()) {
    const auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
  }
  return "";
}

}  // namespace klaxon::sources
