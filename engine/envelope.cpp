#include "engine/envelope.hpp"

#include <string.h>  // memmem (GNU)

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

constexpr std::string_view kDockerStart = "{\"log\":\"";
constexpr std::string_view kDockerStream = "\",\"stream\":\"";

// True when escaped JSON text ends in the escape `\n` (an 'n' after an odd run of backslashes).
bool ends_in_newline_escape(std::string_view escaped) {
  if (escaped.empty() || escaped.back() != 'n') return false;
  std::size_t backslashes = 0;
  for (std::size_t i = escaped.size() - 1; i > 0 && escaped[i - 1] == '\\'; --i) ++backslashes;
  return backslashes % 2 == 1;
}

}  // namespace

std::optional<DockerRecord> peel_docker_record(std::string_view line) noexcept {
  if (!line.starts_with(kDockerStart)) return std::nullopt;
  std::size_t close = kDockerStart.size();
  while (close < line.size() && line[close] != '"') close += line[close] == '\\' ? 2 : 1;
  if (close >= line.size()) return std::nullopt;
  DockerRecord r;
  r.text = line.substr(kDockerStart.size(), close - kDockerStart.size());
  r.piece = !ends_in_newline_escape(r.text);
  if (const std::string_view rest = line.substr(close); rest.starts_with(kDockerStream)) {
    const std::string_view stream = rest.substr(kDockerStream.size(), 7);
    if (stream == "stdout\"" || stream == "stderr\"") r.stream = stream.substr(0, 6);
  }
  return r;
}

bool may_hold_docker_piece(std::string_view block) noexcept {
  // A JSON string holds no bare quote, so `","stream":"` is where a record's text ends. memmem:
  // glibc's is a vectorised two-way search, where string_view::find stops at every quote.
  const auto find = [&](std::size_t from) {
    const void* hit = ::memmem(block.data() + from, block.size() - from, kDockerStream.data(), kDockerStream.size());
    return hit ? std::size_t(static_cast<const char*>(hit) - block.data()) : std::string_view::npos;
  };
  for (std::size_t at = find(0); at != std::string_view::npos; at = find(at + kDockerStream.size())) {
    const std::size_t start = block.rfind('\n', at);
    const std::string_view head = block.substr(start == std::string_view::npos ? 0 : start + 1);
    if (head.starts_with(kDockerStart) && !ends_in_newline_escape(block.substr(0, at))) return true;
  }
  return false;
}

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
