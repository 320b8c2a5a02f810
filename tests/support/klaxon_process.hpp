// tests/support/klaxon_process.hpp — what the real klaxon binary serves, asked from a test.
//
// KlaxonProcess (tests/support/process.hpp) runs the binary; http_get() asks its --listen port;
// metric_lines() and first_metrics() read Prometheus text. Every wait is bounded (kProcessWait):
// a hung klaxon fails the test, it never hangs it.
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

#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::test {

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
