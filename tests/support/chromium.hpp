// tests/support/chromium.hpp — headless Chromium as a test peer: what a browser makes of a page.
//
// The report and the status page are for people, so their tests ask a real browser (Debian's
// `chromium`, installed by scripts/setup) for the DOM after any script ran (--dump-dom) and for
// a screenshot. Each run is bounded (`timeout`), uses a fresh profile directory, and cannot
// reach any host: every name resolves to nothing (--host-resolver-rules), so a page that tried
// to load something from the network would fail to, not leak. As root Chromium needs
// --no-sandbox. Missing Chromium skips a test, or fails it with CI=true (tests/support/peer.hpp).
#pragma once

#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "tests/support/peer.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon::test {

/// The Chromium binary to drive: $CHROMIUM, else chromium or chromium-browser on PATH; empty if none.
inline std::string chromium_binary() {
  if (const char* c = std::getenv("CHROMIUM"); c && *c) return c;
  for (const char* name : {"chromium", "chromium-browser"}) {
    const CommandResult r = run_command(std::string("command -v ") + name);
    if (r.status == 0 && !r.out.empty()) return r.out.substr(0, r.out.find('\n'));
  }
  return {};
}

/// Runs headless Chromium on `url` with `args` (--dump-dom, --screenshot=FILE, ...), within
/// `seconds`; its profile lives in `profile_dir`. stdout is what --dump-dom printed.
inline CommandResult run_chromium(const std::string& binary, const std::string& profile_dir,
                                  const std::vector<std::string>& args, const std::string& url, int seconds = 90) {
  std::string cmd = "timeout -k 5 " + std::to_string(seconds) + " '" + binary + "' --headless --disable-gpu" +
                    " --no-first-run --no-default-browser-check --disable-extensions --disable-sync" +
                    " --disable-background-networking --disable-component-update --mute-audio" +
                    " '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'" + " --user-data-dir='" +
                    profile_dir + "'";
  if (::geteuid() == 0) cmd += " --no-sandbox";
  for (const std::string& a : args) cmd += " '" + a + "'";
  cmd += " '" + url + "' </dev/null";
  return run_command(cmd);
}

}  // namespace klaxon::test
