// tests/cli/window_resize_test.cpp — the real binary writing to a pseudo-terminal whose window
// is resized between two log lines: the kernel sends SIGWINCH to klaxon (the terminal is its
// controlling terminal), and the line after the resize fits the new width (issue 19).
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <utmp.h>

namespace klaxon {
namespace {

using namespace std::chrono_literals;
constexpr auto kWait = 20s;  // for klaxon to answer a line; a hang fails the test after this

// Two long lines (../shared/seeds/000's sidecar failure) one second apart, 400-odd bytes each.
std::string daprd_line(const std::string& time, const std::string& pod) {
  return R"({"app_id":"app1","instance":")" + pod +
         R"(","level":"error","msg":"error starting server: error from authenticator CreateSignedWorkloadCert: error from sentry SignCertificate: rpc error: code = Unavailable desc = connection error: desc = \"transport: authentication handshake failed: tls: failed to verify certificate: x509: certificate has expired or is not yet valid: current time 2023-06-19T13:19:51Z is after 2023-06-16T12:31:17Z\"","scope":"dapr.runtime.grpc.internal","time":")" +
         time + R"(","type":"log","ver":"1.10.4"})" + "\n";
}

std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

class PtyKlaxon {
 public:
  explicit PtyKlaxon(unsigned short columns) {
    winsize ws{};
    ws.ws_col = columns;
    ws.ws_row = 40;
    int slave = -1;
    if (::openpty(&master_, &slave, nullptr, nullptr, &ws) != 0) throw std::runtime_error("openpty");
    int in[2];
    if (::pipe(in) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(master_);
      ::close(in[1]);
      if (::login_tty(slave) != 0) ::_exit(126);  // a session of its own, the pty its terminal, fds 0-2
      ::dup2(in[0], 0);  // lines come from our pipe; output goes to the terminal
      ::close(in[0]);
      ::unsetenv("COLUMNS");
      ::execl(KLAXON_BINARY, KLAXON_BINARY, "--color", "never", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(slave);
    ::close(in[0]);
    stdin_ = in[1];
    ::fcntl(master_, F_SETFL, ::fcntl(master_, F_GETFL) | O_NONBLOCK);
  }
  ~PtyKlaxon() {
    if (stdin_ >= 0) ::close(stdin_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(master_);
  }

  void write(const std::string& s) { ASSERT_EQ(::write(stdin_, s.data(), s.size()), ssize_t(s.size())); }
  // The window changes as a terminal emulator changes it: the kernel signals the foreground group.
  void resize(unsigned short columns) {
    winsize ws{};
    ws.ws_col = columns;
    ws.ws_row = 40;
    ASSERT_EQ(::ioctl(master_, TIOCSWINSZ, &ws), 0);
  }
  // Reads the terminal until a whole line holding `needle` has come; returns every line read.
  std::vector<std::string> read_until(const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      for (std::size_t end; (end = pending_.find('\n')) != std::string::npos;) {
        std::string line = pending_.substr(0, end);
        pending_.erase(0, end + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();  // the terminal's \r\n
        lines_.push_back(line);
        if (line.find(needle) != std::string::npos) return std::exchange(lines_, {});
      }
      pollfd p{master_, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::read(master_, buf, sizeof buf);
      if (n > 0) pending_.append(buf, std::size_t(n));
    }
    ADD_FAILURE() << "no line with " << needle << " within " << kWait.count() << "s; read:\n" << pending_;
    return std::exchange(lines_, {});
  }

 private:
  int master_ = -1, stdin_ = -1;
  pid_t pid_ = -1;
  std::string pending_;
  std::vector<std::string> lines_;
};

TEST(WindowResize, TheLineAfterAResizeFitsTheNewWidth) {
  PtyKlaxon k(150);
  k.write(daprd_line("2023-06-19T13:19:53.535259601Z", "app1-123456-abc7"));
  std::size_t widest = 0;
  // The line, then the incident it opened: all that the first line makes klaxon say.
  for (const std::string& line : k.read_until("INCIDENT OPENED")) {
    EXPECT_LE(code_points(line), 150u) << line;
    widest = std::max(widest, code_points(line));
  }
  EXPECT_GT(widest, 100u) << "the first line used the first width";

  k.resize(72);
  k.write(daprd_line("2023-06-19T13:20:09.123456789Z", "app2-654321-xyz9"));
  bool seen = false;
  for (const std::string& line : k.read_until("13:20:09")) {
    EXPECT_LE(code_points(line), 72u) << "after the resize: " << line;
    seen = seen || line.find("13:20:09") != std::string::npos;
  }
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace klaxon
