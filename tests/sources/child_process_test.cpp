// The child process klaxon reads (kubectl): what the guardian between them keeps open.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <set>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>

#include "adapters/sources/child_process.hpp"

namespace klaxon::sources {
namespace {

// The guardian never executes anything, so close-on-exec does not close what it inherited from
// klaxon. It must not hold klaxon's files and sockets for as long as kubectl runs: a peer then
// never sees klaxon close a connection, and a port stays bound after klaxon is gone.
TEST(ChildProcess, TheGuardianHoldsNoneOfKlaxonsFiles) {
  const int held = ::open("/dev/null", O_RDONLY);  // inheritable, as a socket of klaxon's may be
  ASSERT_GE(held, 3);
  const int held_cloexec = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(held_cloexec, 3);

  boost::asio::io_context io;
  // The program's parent is the guardian: list the guardian's open descriptors.
  ChildProcess child(io.get_executor(), {"/bin/sh", "-c", "ls /proc/$PPID/fd"});
  std::string out;
  boost::system::error_code ec;
  boost::asio::read(child.out(), boost::asio::dynamic_buffer(out), ec);
  std::istringstream listing(out);
  std::set<int> open_fds;
  for (int fd; listing >> fd;) open_fds.insert(fd);
  child.terminate();
  ::close(held);
  ::close(held_cloexec);

  ASSERT_FALSE(open_fds.empty()) << "the guardian's descriptors could not be listed";
  EXPECT_FALSE(open_fds.contains(held));
  EXPECT_FALSE(open_fds.contains(held_cloexec));
  // Its standard streams and the program's stderr file; nothing else.
  EXPECT_LE(open_fds.size(), 4u);
}

}  // namespace
}  // namespace klaxon::sources
