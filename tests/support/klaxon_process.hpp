// tests/support/klaxon_process.hpp — the real klaxon binary as a child, and what it serves.
//
// KlaxonProcess runs KLAXON_BINARY with a pipe we hold as its stdin and files for stdout and
// stderr; http() asks its --listen port; parse_metrics() reads Prometheus text. Every wait is
// bounded (kProcessWait): a hung klaxon fails the test, it never hangs it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/support/test_support.hpp"

namespace klaxon::test {

inline constexpr auto kProcessWait = std::chrono::seconds(20);

class KlaxonProcess {
 public:
  explicit KlaxonProcess(const std::vector<std::string>& args) {
    static int count = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("klaxon-process-" + std::to_string(::getpid()) + "-" + std::to_string(++count));
    std::filesystem::create_directories(dir_);
    int in[2];
    if (::pipe(in) != 0) throw std::runtime_error("pipe");
    const int out = ::open((dir_ / "out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open((dir_ / "err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::close(in[1]);
      ::dup2(out, 1);
      ::dup2(err, 2);
      const std::string bin = KLAXON_BINARY;
      std::vector<char*> argv{const_cast<char*>(bin.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(bin.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out);
    ::close(err);
    stdin_ = in[1];
  }
  ~KlaxonProcess() {
    close_stdin();
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  KlaxonProcess(const KlaxonProcess&) = delete;
  KlaxonProcess& operator=(const KlaxonProcess&) = delete;

  void write(const std::string& data) { ASSERT_EQ(::write(stdin_, data.data(), data.size()), ssize_t(data.size())); }
  void close_stdin() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }
  std::string err() const { return read_file(dir_ / "err"); }
  std::string out() const { return read_file(dir_ / "out"); }

  /// Waits until stdout holds `text`; false after kProcessWait.
  bool wait_for_output(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + kProcessWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (out().find(text) != std::string::npos) return true;
      if (exited()) return out().find(text) != std::string::npos;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  /// The HOST:PORT klaxon printed after `marker` on stderr ("status on http://").
  std::string address(const std::string& marker = "status on http://") {
    const auto deadline = std::chrono::steady_clock::now() + kProcessWait;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string e = err();
      const std::size_t at = e.find(marker);
      if (at != std::string::npos) {
        const std::size_t start = at + marker.size();
        const std::size_t end = e.find_first_of("/\n", start);
        if (end != std::string::npos) return e.substr(start, end - start);
      }
      if (exited()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "klaxon did not say where it listens (" << marker << "); stderr:\n" << err();
    return "127.0.0.1:1";
  }

  bool exited() {
    if (pid_ <= 0) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      pid_ = -1;
      return true;
    }
    return false;
  }
  /// The exit status once it ends by itself (-1 if it did not within kProcessWait).
  int wait_exit() {
    const auto deadline = std::chrono::steady_clock::now() + kProcessWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (exited()) return status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  /// SIGTERM and the exit status (-1 if it did not end within kProcessWait).
  int stop() {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kProcessWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (exited()) return status_;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int status_ = -1;
};

struct HttpReply {
  int status = 0;
  std::string body;
};

/// One HTTP/1.1 GET with Connection: close, on a socket with timeouts.
inline HttpReply http_get(const std::string& address, const std::string& target) {
  HttpReply r;
  const std::size_t colon = address.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(std::uint16_t(std::stoi(address.substr(colon + 1))));
  ::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return r;
  }
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: " + address + "\r\nConnection: close\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string in;
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) in.append(buf, std::size_t(n));
  ::close(fd);
  if (in.rfind("HTTP/1.1 ", 0) == 0) r.status = std::stoi(in.substr(9, 3));
  const std::size_t head_end = in.find("\r\n\r\n");
  if (head_end != std::string::npos) r.body = in.substr(head_end + 4);
  return r;
}

/// The sample lines of Prometheus text whose name is `name` (with their labels), each as written.
inline std::vector<std::string> metric_lines(const std::string& text, const std::string& name) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name, 0) == 0 && line.size() > name.size() && (line[name.size()] == '{' || line[name.size()] == ' '))
      out.push_back(line);
  return out;
}

/// The first /metrics answer (retried while the port is not up yet, bounded).
inline std::string first_metrics(const std::string& address) {
  const auto deadline = std::chrono::steady_clock::now() + kProcessWait;
  while (std::chrono::steady_clock::now() < deadline) {
    const HttpReply r = http_get(address, "/metrics");
    if (r.status == 200) return r.body;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "no /metrics from " << address;
  return {};
}

}  // namespace klaxon::test
