// bench/memchr_floor.cpp — the floor: read a file and count its lines with memchr, nothing else.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int fd = ::open(argv[1], O_RDONLY);
  if (fd < 0) return 1;
  std::vector<char> buf(256 * 1024);
  unsigned long long lines = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    const char* p = buf.data();
    const char* end = p + n;
    while ((p = static_cast<const char*>(std::memchr(p, '\n', std::size_t(end - p)))) != nullptr) ++lines, ++p;
  }
  std::printf("%llu\n", lines);
  return 0;
}
