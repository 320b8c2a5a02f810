// adapters/net/http_auth.hpp — who may push: a bearer token, basic-auth users, tenants.
//
// What Loki's clients send: Promtail, Alloy, Vector and Fluent Bit set `Authorization: Bearer
// TOKEN` (bearer_token_file) or `Authorization: Basic base64(user:password)` (basic_auth), and
// `X-Scope-OrgID: TENANT` in multi-tenant setups. The secrets stay in files so that they are
// never on a command line (ps, shell history) and a Kubernetes Secret can be mounted as is.
//
// - The bearer token file holds the token (surrounding whitespace ignored).
// - The basic-auth file holds `user:hash` lines, the format of htpasswd and nginx: hashes in
//   crypt(3) form, bcrypt (`htpasswd -nbB user`, `$2y$…`) or SHA-256-crypt (`openssl passwd -5`,
//   `$5$…`); `#` comments and blank lines are skipped. Plain passwords are refused at start.
//
// With both, either credential is accepted. Comparisons take the same time whatever the guess
// (CRYPTO_memcmp over fixed-size digests), so the token cannot be found byte by byte. bcrypt is
// slow by design (milliseconds); a password that verified is remembered as its SHA-256 digest,
// so a client pushing every second pays it once. Credentials are never printed or exported.
//
// The files are re-read when they change (refresh(), a stat of each per request), because a
// Kubernetes Secret mounted as a file is rotated in place: a new token or a removed user takes
// effect at the next request, not at the next restart. A changed file that does not load (half
// written, emptied) keeps the credentials that were in force and is said once per change.
#pragma once

#include <array>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "adapters/net/file_stamp.hpp"

namespace klaxon::net {

struct HttpAuthFiles {
  std::string bearer_token_file;  // "" = no token accepted
  std::string basic_auth_file;    // "" = no users
  std::set<std::string> tenants;  // X-Scope-OrgID values allowed; empty = any (or none)
  std::string owner = "serve";    // who has the flags, in messages: "serve", "--listen"
};

class HttpAuth {
 public:
  /// Reads the files now; throws FatalSourceError naming the file and the fault (never its content).
  explicit HttpAuth(HttpAuthFiles files);

  /// Re-reads the files if one changed since the last call. When a changed file does not load,
  /// the credentials in force stay and `said` (if not null) receives the one message about it,
  /// once per change; after a reload it says so; otherwise it is left empty.
  void refresh(std::string* said = nullptr);

  /// True when a credential is asked for at all.
  bool required() const { return !token_digest_.empty() || !users_.empty(); }
  /// True when a tenant allow-list is set.
  bool checks_tenants() const { return !tenants_.empty(); }

  /// Whether an `Authorization` header value lets the request in (always, when none is required).
  bool admits(std::string_view authorization);
  /// Whether an `X-Scope-OrgID` value is allowed (always, without an allow-list).
  bool allows_tenant(std::string_view tenant) const;

  /// The `WWW-Authenticate` challenge of a 401: what the client should send.
  std::string challenge() const;
  /// For the start-up line: "bearer token", "basic auth (3 users)", "bearer token or basic auth …".
  std::string describe() const;

 private:
  std::array<FileStamp, 2> stamps() const;
  void load();  // throws FatalSourceError

  HttpAuthFiles files_;
  std::array<FileStamp, 2> loaded_{}, refused_{};  // token file, users file
  std::string token_digest_;                          // SHA-256 of the token; "" = none
  std::map<std::string, std::string, std::less<>> users_;  // user -> crypt(3) hash
  std::map<std::string, std::string, std::less<>> verified_;  // user -> SHA-256 of a password that matched
  std::set<std::string, std::less<>> tenants_;
};

}  // namespace klaxon::net
