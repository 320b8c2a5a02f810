// adapters/net/http_auth.cpp — bearer token and basic-auth checks that leak nothing.
#include "adapters/net/http_auth.hpp"

#include <crypt.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "adapters/sources/live_source.hpp"
#include "engine/printable.hpp"
#include "engine/trim.hpp"

namespace klaxon::net {
namespace {

std::string sha256(std::string_view text) {
  std::string out(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// Equal digests, in a time that does not depend on where they differ.
bool same_digest(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string read_secret_file(const std::string& owner, const std::string& path, std::string_view flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw sources::FatalSourceError(fmt::format("{} {} {}: cannot read it", owner, flag, printable(path)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "Basic dXNlcjpwYXNz" -> "user:pass"; nullopt when not base64.
std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0 || text.size() > 4096) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t padding = 0;
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++padding;
  out.resize(std::size_t(n) - std::min<std::size_t>(padding, 2));
  return out;
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  return true;
}

// crypt(3) of `password` with the salt and cost in `hash`; "" when the scheme is unknown.
std::string crypt_of(const std::string& password, const std::string& hash) {
  auto data = std::make_unique<crypt_data>();  // 32 KiB: not on a coroutine's stack
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), int(sizeof(crypt_data)));
  if (out == nullptr || out[0] == '*') return {};
  return out;
}

}  // namespace

HttpAuth::HttpAuth(HttpAuthFiles files) : files_(std::move(files)) {
  loaded_ = stamps();
  load();
  for (const std::string& t : files_.tenants) tenants_.insert(t);
}

std::array<FileStamp, 2> HttpAuth::stamps() const {
  return {stamp_of(files_.bearer_token_file), stamp_of(files_.basic_auth_file)};
}

void HttpAuth::load() {
  std::string token_digest;
  std::map<std::string, std::string, std::less<>> users;
  const std::string& owner = files_.owner;
  if (!files_.bearer_token_file.empty()) {
    const std::string token{trim(read_secret_file(owner, files_.bearer_token_file, "--bearer-token-file"))};
    if (token.empty())
      throw sources::FatalSourceError(
          fmt::format("{} --bearer-token-file {}: the file is empty", owner, printable(files_.bearer_token_file)));
    token_digest = sha256(token);
  }
  if (!files_.basic_auth_file.empty()) {
    std::istringstream in(read_secret_file(owner, files_.basic_auth_file, "--basic-auth-file"));
    std::size_t number = 0;
    for (std::string raw; std::getline(in, raw);) {
      ++number;
      const std::string_view line = trim(raw);
      if (line.empty() || line.front() == '#') continue;
      const std::size_t colon = line.find(':');
      const std::string user{line.substr(0, colon == std::string_view::npos ? 0 : colon)};
      const std::string hash{colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1)};
      // A hash is checked by hashing something with it: one that crypt(3) does not know, or a
      // plain password, fails here rather than on the first push.
      if (user.empty() || hash.empty() || hash.front() != '$' || crypt_of("klaxon", hash).empty())
        throw sources::FatalSourceError(fmt::format(
            "{} --basic-auth-file {} line {}: write USER:HASH with a bcrypt ($2y$…, htpasswd -nbB USER) or "
            "SHA-256-crypt ($5$…, openssl passwd -5) hash",
            owner, printable(files_.basic_auth_file), number));
      users[user] = hash;
    }
    if (users.empty())
      throw sources::FatalSourceError(
          fmt::format("{} --basic-auth-file {}: no USER:HASH line", owner, printable(files_.basic_auth_file)));
  }
  token_digest_ = std::move(token_digest);
  users_ = std::move(users);
  verified_.clear();  // a password that verified against the old hashes proves nothing now
}

void HttpAuth::refresh(std::string* said) {
  const auto now = stamps();
  if (now == loaded_ || now == refused_) return;
  try {
    load();
    loaded_ = now;
    if (said) *said = fmt::format("{}: credentials reloaded", files_.owner);
  } catch (const sources::FatalSourceError& e) {
    refused_ = now;
    if (said) *said = fmt::format("{}; still asking for the previous credentials (said once per change)", e.what());
  }
}

bool HttpAuth::admits(std::string_view authorization) {
  if (!required()) return true;
  authorization = trim(authorization);
  if (!token_digest_.empty() && starts_with_ci(authorization, "bearer "))
    return same_digest(sha256(trim(authorization.substr(7))), token_digest_);
  if (!users_.empty() && starts_with_ci(authorization, "basic ")) {
    const auto pair = base64_decode(trim(authorization.substr(6)));
    if (!pair) return false;
    const std::size_t colon = pair->find(':');
    if (colon == std::string::npos) return false;
    const std::string user = pair->substr(0, colon), password = pair->substr(colon + 1);
    const auto it = users_.find(user);
    if (it == users_.end()) {
      crypt_of(password, users_.begin()->second);  // about the time a known user takes
      return false;
    }
    const std::string digest = sha256(password);
    if (const auto v = verified_.find(user); v != verified_.end() && same_digest(v->second, digest)) return true;
    const std::string computed = crypt_of(password, it->second);
    if (computed.empty() || !same_digest(computed, it->second)) return false;
    verified_[user] = digest;
    return true;
  }
  return false;
}

bool HttpAuth::allows_tenant(std::string_view tenant) const {
  return tenants_.empty() || tenants_.contains(tenant);
}

std::string HttpAuth::challenge() const {
  if (!users_.empty()) return R"(Basic realm="klaxon", charset="UTF-8")";
  return R"(Bearer realm="klaxon")";
}

std::string HttpAuth::describe() const {
  std::string out;
  if (!token_digest_.empty()) out = "bearer token";
  if (!users_.empty())
    out += fmt::format("{}basic auth ({} user{})", out.empty() ? "" : " or ", users_.size(), users_.size() == 1 ? "" : "s");
  if (!tenants_.empty()) out += fmt::format("{}{} tenant{}", out.empty() ? "" : ", ", tenants_.size(), tenants_.size() == 1 ? "" : "s");
  return out;
}

}  // namespace klaxon::net
