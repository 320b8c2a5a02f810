// deploy/release/launcher.cpp — bin/klaxon of the release tarball and the image: starts the real
// klaxon with the libraries it was built with, wherever the tree was unpacked.
//
// The release runs on machines that have none of the build's libraries (another distribution,
// an empty container), so it carries them: lib/klaxon/ holds the klaxon binary, glibc's loader
// and every shared library `ldd` named. A binary's loader path (PT_INTERP) is absolute, so the
// binary cannot find a loader that moves with the tree; this launcher, linked statically (it
// needs nothing but exec), finds its own directory and runs
//   lib/klaxon/ld-linux-x86-64.so.2 --library-path lib/klaxon --argv0 ARGV0 lib/klaxon/klaxon ARGS...
// The library path applies to klaxon only, not to the kubectl it starts.
//
// Why not a static klaxon: Debian has no static simdjson or fmt, and a static glibc cannot load
// the host's name services. The bundled glibc (2.36) resolves names through /etc/hosts and DNS
// (/etc/resolv.conf) itself, the "files" and "dns" services being built into libc since 2.34.
//
// CA certificates: the bundled OpenSSL looks where Debian keeps them. Unless SSL_CERT_FILE or
// SSL_CERT_DIR is set, the launcher points SSL_CERT_FILE at the host's bundle (Debian, Fedora,
// Alpine, SUSE paths), or else at the Mozilla bundle shipped in share/klaxon/.
//
// Its own directory comes from /proc/self/exe, or, where /proc is not mounted (a bare chroot),
// from argv[0] (a path, or a name looked up in PATH as the shell did).
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

namespace {

bool executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }
bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

std::string resolved(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) != nullptr ? std::string(buf) : std::string();
}

// The launcher's own path, symlinks resolved, or "" when it cannot be known.
std::string self_path(const char* argv0) {
  if (std::string p = resolved("/proc/self/exe"); !p.empty()) return p;
  const std::string name = argv0 != nullptr ? argv0 : "";
  if (name.find('/') != std::string::npos) return resolved(name);
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  for (std::size_t from = 0; from <= dirs.size();) {
    std::size_t to = dirs.find(':', from);
    if (to == std::string::npos) to = dirs.size();
    const std::string dir = to > from ? dirs.substr(from, to - from) : ".";
    if (executable(dir + "/" + name)) return resolved(dir + "/" + name);
    from = to + 1;
  }
  return {};
}

std::string parent(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? std::string("/") : path.substr(0, slash);
}

void choose_ca_bundle(const std::string& root) {
  if (std::getenv("SSL_CERT_FILE") != nullptr || std::getenv("SSL_CERT_DIR") != nullptr) return;
  for (const char* host : {"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
                           "/etc/ssl/cert.pem", "/etc/ssl/ca-bundle.pem"}) {
    if (readable(host)) {
      ::setenv("SSL_CERT_FILE", host, 1);
      return;
    }
  }
  const std::string shipped = root + "/share/klaxon/ca-certificates.crt";
  if (readable(shipped)) ::setenv("SSL_CERT_FILE", shipped.c_str(), 1);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string self = self_path(argc > 0 ? argv[0] : nullptr);
  if (self.empty()) {
    std::fprintf(stderr, "klaxon: cannot find where klaxon is installed (no /proc, and argv[0] is not a path); "
                         "run it by its full path\n");
    return 127;
  }
  const std::string root = parent(parent(self));  // bin/klaxon -> the tree
  const std::string lib = root + "/lib/klaxon";
  const std::string loader = lib + "/ld-linux-x86-64.so.2";
  const std::string binary = lib + "/klaxon";
  choose_ca_bundle(root);

  std::vector<char*> args;
  auto add = [&](const std::string& s) { args.push_back(::strdup(s.c_str())); };
  add(loader);
  add("--library-path");
  add(lib);
  add("--argv0");
  add(argc > 0 ? argv[0] : "klaxon");
  add(binary);
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  ::execv(loader.c_str(), args.data());
  std::fprintf(stderr, "klaxon: cannot start %s: %s (is the release tree complete?)\n", loader.c_str(),
               std::strerror(errno));
  return 127;
}
