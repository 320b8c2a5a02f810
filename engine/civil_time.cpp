#include "engine/civil_time.hpp"
#include "engine/trim.hpp"

#include <array>
#include <cctype>
#include <chrono>

#include <fmt/format.h>

namespace klaxon {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly `n` digits at `pos`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!is_digit(s[pos + i])) return std::nullopt;
    v = v * 10 + (s[pos + i] - '0');
  }
  return v;
}

std::optional<Nanos> make_instant(std::int64_t year, int month, int day, int hour, int minute,
                                  int second, std::int64_t nanos, std::int64_t offset_seconds) {
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
    return std::nullopt;
  if (year < 1970 || year >= 2200) return std::nullopt;  // kLatestInstant: no overflow below
  const std::int64_t days = days_from_civil(year, unsigned(month), unsigned(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  // Nanoseconds since 1970 in 64 bits reach the years 1677 to 2262: beyond, not an instant.
  Nanos t = 0;
  if (__builtin_mul_overflow(secs, kNanosPerSecond, &t) || __builtin_add_overflow(t, nanos, &t)) return std::nullopt;
  return t;
}

constexpr std::array<std::string_view, 12> kMonths = {"jan", "feb", "mar", "apr", "may", "jun",
                                                      "jul", "aug", "sep", "oct", "nov", "dec"};

std::optional<int> month_from_name(std::string_view word) {
  if (word.size() < 3) return std::nullopt;
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    bool same = true;
    for (std::size_t k = 0; k < 3; ++k)
      if (std::tolower(static_cast<unsigned char>(word[k])) != kMonths[i][k]) same = false;
    if (same) return int(i + 1);
  }
  return std::nullopt;
}

// Parses `HH:MM:SS` at pos; returns the position after it.
std::optional<std::size_t> clock(std::string_view s, std::size_t pos, int& h, int& m, int& sec) {
  auto hh = digits(s, pos, 2), mm = digits(s, pos + 3, 2), ss = digits(s, pos + 6, 2);
  if (!hh || !mm || !ss || s[pos + 2] != ':' || s[pos + 5] != ':') return std::nullopt;
  h = *hh, m = *mm, sec = *ss;
  return pos + 8;
}

// What stands around an instant quoted in a line: blanks, quotes, brackets, punctuation.
constexpr std::string_view kAroundInstant = " \t\"'()[],;.";

// Splits on blanks and commas.
std::size_t words(std::string_view s, std::array<std::string_view, 8>& out) {
  std::size_t n = 0, i = 0;
  while (i < s.size() && n < out.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    std::size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != ',') ++i;
    if (i > start) out[n++] = s.substr(start, i - start);
  }
  return n;
}

// `Wed, 18 Jun 2025 13:37:30 UTC`, `Jun 18 13:37:30 2025 GMT`, `Mon Jan 01 00:00:00 UTC 2024`:
// find day, month name, 4-digit year and HH:MM:SS among the words, in any order. Zones other
// than UTC/GMT/Z/+0000 are rejected rather than guessed.
std::optional<Nanos> parse_worded(std::string_view s) {
  std::array<std::string_view, 8> w;
  const std::size_t n = words(s, w);
  std::optional<int> month, day, year;
  int h = -1, m = 0, sec = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::string_view x = w[i];
    if (auto mo = month_from_name(x); mo && !month && x.size() <= 9 && !is_digit(x[0])) {
      month = mo;
    } else if (x.size() == 8 && x[2] == ':' && clock(x, 0, h, m, sec)) {
    } else if (x.size() == 4 && digits(x, 0, 4)) {
      year = digits(x, 0, 4);
    } else if (x.size() <= 2 && digits(x, 0, x.size())) {
      day = digits(x, 0, x.size());
    } else if (x == "UTC" || x == "GMT" || x == "Z" || x == "+0000") {
    } else if (x.size() == 3 && std::isalpha(static_cast<unsigned char>(x[0]))) {
      // A weekday name (Mon, Tue...) is fine; any other zone name is not.
      static constexpr std::array<std::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                                "Fri", "Sat", "Sun"};
      bool weekday = false;
      for (auto d : kDays) weekday |= (x == d);
      if (!weekday) return std::nullopt;
    } else {
      return std::nullopt;
    }
  }
  if (!month || !day || !year || h < 0) return std::nullopt;
  return make_instant(*year, *month, *day, h, m, sec, 0, 0);
}

// `5/29/2023`: .NET's DateTime.ToShortDateString() in the invariant and en-US cultures (RavenDB's
// certificate expiry alert). Month first, as those cultures print it; the date alone is read as
// midnight UTC, the start of the day the line names.
std::optional<Nanos> parse_month_day_year(std::string_view s) {
  const std::size_t first = s.find('/'), second = s.find('/', first + 1);
  if (first == std::string_view::npos || second == std::string_view::npos) return std::nullopt;
  if (first < 1 || first > 2 || second - first - 1 < 1 || second - first - 1 > 2 || s.size() - second - 1 != 4)
    return std::nullopt;
  auto month = digits(s, 0, first), day = digits(s, first + 1, second - first - 1), year = digits(s, second + 1, 4);
  if (!month || !day || !year) return std::nullopt;
  return make_instant(*year, *month, *day, 0, 0, 0, 0, 0);
}

}  // namespace

Nanos wall_now() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
  // Howard Hinnant's algorithm (public domain), proleptic Gregorian calendar.
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<Nanos> parse_rfc3339_prefix(std::string_view s, std::size_t* consumed) noexcept {
  auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  if (!year || !month || !day || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (s.size() < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return std::nullopt;
  int h, m, sec;
  auto after_clock = clock(s, 11, h, m, sec);
  if (!after_clock) return std::nullopt;
  std::size_t pos = *after_clock;
  std::int64_t nanos = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    int n = 0;
    while (pos < s.size() && is_digit(s[pos])) {
      if (n < 9) nanos = nanos * 10 + (s[pos] - '0'), ++n;
      ++pos;
    }
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) nanos *= 10;
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = digits(s, pos + 1, 2);
    std::size_t mpos = pos + 3 + (pos + 3 < s.size() && s[pos + 3] == ':' ? 1 : 0);
    auto om = digits(s, mpos, 2);
    if (!oh || !om) return std::nullopt;
    offset = (*oh * 3600 + *om * 60) * (s[pos] == '-' ? -1 : 1);
    pos = mpos + 2;
  } else {
    return std::nullopt;  // An instant without a zone is ambiguous: not RFC3339.
  }
  if (consumed) *consumed = pos;
  return make_instant(*year, *month, *day, h, m, sec, nanos, offset);
}

std::optional<Nanos> parse_instant(std::string_view text) noexcept {
  std::string_view s = trim(text, kAroundInstant);
  if (s.empty()) return std::nullopt;

  // Unix seconds: 9 to 11 digits (2001..5138), optionally with a fraction.
  std::size_t int_digits = 0;
  while (int_digits < s.size() && is_digit(s[int_digits])) ++int_digits;
  if (int_digits == s.size() || (int_digits < s.size() && s[int_digits] == '.')) {
    if (int_digits >= 9 && int_digits <= 11) {
      std::int64_t secs = 0;
      for (std::size_t i = 0; i < int_digits; ++i) secs = secs * 10 + (s[i] - '0');
      if (secs >= kLatestInstant / kNanosPerSecond) return std::nullopt;
      return secs * kNanosPerSecond;
    }
    if (int_digits != 4) return std::nullopt;
  }

  // RFC3339, then Go's time.Time.String(): `2023-06-16 12:31:17.5 +0000 UTC`.
  std::size_t used = 0;
  if (auto t = parse_rfc3339_prefix(s, &used)) return t;
  if (s.size() >= 19 && digits(s, 0, 4) && s[4] == '-' && s[10] == ' ') {
    // Replace the space-separated zone with RFC3339's form and reuse the parser.
    std::string_view rest = s.substr(19);
    std::string buf(s.substr(0, 19));
    if (!rest.empty() && rest[0] == '.') {
      std::size_t i = 1;
      while (i < rest.size() && is_digit(rest[i])) ++i;
      buf.append(rest.substr(0, i));
      rest.remove_prefix(i);
    }
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    if (rest.size() >= 5 && (rest[0] == '+' || rest[0] == '-')) {
      buf.append(rest.substr(0, 3)).append(":").append(rest.substr(3, 2));
    } else if (rest.empty() || rest.starts_with("UTC") || rest.starts_with("GMT")) {
      buf.push_back('Z');
    } else {
      return std::nullopt;
    }
    return parse_rfc3339_prefix(buf);
  }
  if (auto t = parse_month_day_year(s)) return t;
  return parse_worded(s);
}

namespace {

// Writes `value` as exactly `width` digits at `out`.
void put_digits(char* out, std::int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) out[i] = char('0' + value % 10);
}

}  // namespace

// Hand-rolled rather than fmt::format, and written in place: every match and incident event
// prints instants, and on a noisy stream a std::string per instant was a measurable part of the
// output cost.
void append_rfc3339(std::string& out, Nanos t) {
  std::int64_t secs = t / kNanosPerSecond;
  if (t < 0 && t % kNanosPerSecond != 0) --secs;
  std::int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) rem += 86400, --days;
  // civil_from_days (Hinnant).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  if (y < 0 || y > 9999) {
    fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, m, d, rem / 3600, rem / 60 % 60,
                   rem % 60);
    return;
  }
  char s[] = "0000-00-00T00:00:00Z";
  put_digits(&s[0], y, 4);
  put_digits(&s[5], m, 2);
  put_digits(&s[8], d, 2);
  put_digits(&s[11], rem / 3600, 2);
  put_digits(&s[14], rem / 60 % 60, 2);
  put_digits(&s[17], rem % 60, 2);
  out.append(s, sizeof s - 1);
}

void append_rfc3339_nano(std::string& out, Nanos t) {
  append_rfc3339(out, t);
  std::int64_t frac = t % kNanosPerSecond;
  if (frac < 0) frac += kNanosPerSecond;
  if (frac == 0) return;
  char digits[11] = ".000000000";
  put_digits(digits + 1, frac, 9);
  int n = 10;
  while (digits[n - 1] == '0') --n;
  out.insert(out.size() - 1, digits, std::size_t(n));  // before the `Z`
}

std::string format_rfc3339(Nanos t) {
  std::string out;
  append_rfc3339(out, t);
  return out;
}

std::string format_rfc3339_nano(Nanos t) {
  std::string out;
  append_rfc3339_nano(out, t);
  return out;
}
}  // namespace klaxon
