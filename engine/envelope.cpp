#include "engine/envelope.hpp"

namespace klaxon {
namespace {

// `[pod/NAME/CONTAINER] ` (kubectl ≥1.27 with a pod/ resource prefix) or `[NAME/CONTAINER] `.
bool peel_prefix(std::string_view& s, Envelope& e) {
  if (s.size() < 4 || s[0] != '[') return false;
  const std::size_t close = s.find("] ");
  if (close == std::string_view::npos || close > 512) return false;
  std::string_view inside = s.substr(1, close - 1);
  if (inside.starts_with("pod/")) inside.remove_prefix(4);
  const std::size_t slash = inside.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= inside.size()) return false;
  std::string_view pod = inside.substr(0, slash), container = inside.substr(slash + 1);
  // Pod and container names are DNS labels: no blanks, no further slashes.
  for (char c : inside)
    if (c == ' ' || c == '\t') return false;
  if (container.find('/') != std::string_view::npos) return false;
  e.pod = pod;
  e.container = container;
  s.remove_prefix(close + 2);
  return true;
}

bool peel_timestamp(std::string_view& s, Envelope& e) {
  if (s.size() < 21 || s[4] != '-' || s[10] != 'T') return false;
  std::size_t used = 0;
  auto t = parse_rfc3339_prefix(s, &used);
  if (!t || used >= s.size() || s[used] != ' ') return false;
  e.time = *t;
  s.remove_prefix(used + 1);
  return true;
}

// After a timestamp: `stdout F msg` / `stderr P msg` (msg may be empty: `stdout F`).
bool peel_cri(std::string_view& s, Envelope& e) {
  if (s.size() < 8 || !(s.starts_with("stdout ") || s.starts_with("stderr "))) return false;
  const char tag = s[7];
  if ((tag != 'F' && tag != 'P') || (s.size() > 8 && s[8] != ' ')) return false;
  e.stream = s.substr(0, 6);
  e.partial = tag == 'P';
  s.remove_prefix(s.size() > 8 ? 9 : 8);
  return true;
}

}  // namespace

Envelope peel_envelope(std::string_view line) noexcept {
  Envelope e;
  std::string_view s = line;
  peel_prefix(s, e);
  if (peel_timestamp(s, e)) {
    // A CRI file line read through `kubectl --timestamps` is not a thing, but a CRI line is
    // `<ts> stdout F msg`: the timestamp we just took is the CRI one.
    peel_cri(s, e);
  }
  e.payload = s;
  return e;
}

}  // namespace klaxon
