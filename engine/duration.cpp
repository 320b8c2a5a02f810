#include "engine/duration.hpp"

#include <array>
#include <cctype>
#include <limits>

#include <fmt/format.h>

namespace klaxon {
namespace {

struct Unit {
  std::string_view name;
  double seconds;
};

// Longest names first so that `ms` is not read as `m` + `s`, `min` not as `m`.
constexpr std::array<Unit, 24> kUnits = {{
    {"milliseconds", 1e-3}, {"millisecond", 1e-3}, {"microseconds", 1e-6}, {"seconds", 1},
    {"second", 1},          {"minutes", 60},       {"minute", 60},         {"hours", 3600},
    {"hour", 3600},         {"days", 86400},       {"day", 86400},         {"weeks", 604800},
    {"week", 604800},       {"mins", 60},          {"min", 60},            {"secs", 1},
    {"sec", 1},             {"hrs", 3600},         {"ms", 1e-3},           {"us", 1e-6},
    {"ns", 1e-9},           {"h", 3600},           {"m", 60},              {"s", 1},
}};
constexpr Unit kDayShort{"d", 86400};
constexpr Unit kWeekShort{"w", 604800};

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }

// Matches a unit name at the start of `s`, as a whole word (a unit glued to the next number,
// as in Go's `62h59m`, counts as whole).
const Unit* unit_at(std::string_view s, std::size_t& len) {
  auto whole = [&](std::size_t n) { return n == s.size() || !is_alpha(s[n]); };
  for (const Unit& u : kUnits) {
    if (s.size() >= u.name.size() && whole(u.name.size())) {
      bool same = true;
      for (std::size_t i = 0; i < u.name.size(); ++i)
        same &= std::tolower(static_cast<unsigned char>(s[i])) == u.name[i];
      if (same) return len = u.name.size(), &u;
    }
  }
  if (!s.empty() && whole(1)) {
    if (s[0] == 'd' || s[0] == 'D') return len = 1, &kDayShort;
    if (s[0] == 'w' || s[0] == 'W') return len = 1, &kWeekShort;
  }
  return nullptr;
}

bool skip_word(std::string_view s, std::string_view word, std::size_t& pos) {
  if (s.substr(pos, word.size()) != word) return false;
  std::size_t end = pos + word.size();
  if (end < s.size() && is_alpha(s[end])) return false;
  pos = end;
  return true;
}

}  // namespace

std::optional<std::int64_t> parse_duration_seconds(std::string_view s) noexcept {
  // Beyond kMaxDurationSeconds a duration is not a time ("expires in 9223372036 days"): added
  // to an instant it would overflow, or land centuries after any certificate's expiry.
  auto bounded = [](double total) -> std::optional<std::int64_t> {
    if (!(total <= double(kMaxDurationSeconds))) return std::nullopt;
    return static_cast<std::int64_t>(total + 1e-9);
  };
  std::size_t pos = 0;
  double total = 0;
  int components = 0;
  for (;;) {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == ',' || s[pos] == '\t')) ++pos;
    if (components == 0 && skip_word(s, "in", pos)) continue;
    if (components > 0 && skip_word(s, "and", pos)) continue;
    if (pos >= s.size() || !(std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.'))
      break;
    double value = 0, scale = 0;
    while (pos < s.size() && (std::isdigit(static_cast<unsigned char>(s[pos])) || s[pos] == '.')) {
      if (s[pos] == '.') {
        if (scale != 0) return std::nullopt;
        scale = 1;
      } else if (scale == 0) {
        value = value * 10 + (s[pos] - '0');
      } else {
        scale /= 10;
        value += (s[pos] - '0') * scale;
      }
      ++pos;
    }
    while (pos < s.size() && s[pos] == ' ') ++pos;
    std::size_t len = 0;
    const Unit* unit = unit_at(s.substr(pos), len);
    if (!unit) return components > 0 ? bounded(total) : std::nullopt;
    total += value * unit->seconds;
    pos += len;
    ++components;
  }
  if (components == 0) return std::nullopt;
  return bounded(total);
}

std::string format_duration(std::int64_t s) {
  const char* sign = s < 0 ? "-" : "";
  if (s < 0) s = -s;
  if (s >= 86400) return s % 86400 / 3600 ? fmt::format("{}{}d{}h", sign, s / 86400, s % 86400 / 3600)
                                         : fmt::format("{}{}d", sign, s / 86400);
  if (s >= 3600) return s % 3600 / 60 ? fmt::format("{}{}h{}m", sign, s / 3600, s % 3600 / 60)
                                      : fmt::format("{}{}h", sign, s / 3600);
  if (s >= 60) return s % 60 ? fmt::format("{}{}m{}s", sign, s / 60, s % 60) : fmt::format("{}{}m", sign, s / 60);
  return fmt::format("{}{}s", sign, s);
}

}  // namespace klaxon
