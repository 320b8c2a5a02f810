// cli/version.hpp — what `klaxon --version` says: which klaxon, from which commit, built with
// which libraries.
//
// A bug report starts with this text, so it names what changes behaviour: the release, the git
// commit it was built from (with "-dirty" when the tree had uncommitted changes), and the
// versions of the libraries that match (Hyperscan, RE2), parse (simdjson), serve (Boost.Asio and
// Beast) and speak TLS (OpenSSL). Hyperscan and OpenSSL are asked at run time, so a release
// that bundles its libraries says what it actually loaded; RE2, simdjson and Boost are the
// versions the build compiled against (the first two have no run-time query, Boost is headers).
// The commit is read by CMake at every build (cli/version_commit.cmake), not only at configure.
#pragma once

#include <string>

namespace klaxon::cli {

/// Two lines: "klaxon 0.1.0 (commit 5dda006a1b2c)" and the libraries, ending in a newline-less
/// string as CLI11's version flag prints it.
std::string version_text();

}  // namespace klaxon::cli
