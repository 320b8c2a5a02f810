// cli/version.cpp — `klaxon --version` (see version.hpp).
#include "cli/version.hpp"

#include <boost/version.hpp>
#include <fmt/format.h>
#include <hs/hs.h>
#include <openssl/crypto.h>

#include "klaxon_commit.hpp"  // generated at build time: KLAXON_GIT_COMMIT

namespace klaxon::cli {

std::string version_text() {
  return fmt::format(
      "klaxon {} (commit {})\n"
      "built with Hyperscan {}, RE2 {}, simdjson {}, Boost {}.{}.{}, {}",
      KLAXON_VERSION, KLAXON_GIT_COMMIT, hs_version(), KLAXON_RE2_VERSION, KLAXON_SIMDJSON_VERSION,
      BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100, OpenSSL_version(OPENSSL_VERSION));
}

}  // namespace klaxon::cli
