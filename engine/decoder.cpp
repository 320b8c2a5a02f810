#include "engine/decoder.hpp"

#include <array>
#include <cctype>
#include <ctime>
#include <deque>
#include <string>

#include <simdjson.h>

#include "engine/civil_time.hpp"
#include "engine/envelope.hpp"
#include "engine/trim.hpp"

namespace klaxon {
namespace {

namespace od = simdjson::ondemand;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

constexpr std::array<std::string_view, 3> kMessageKeys = {"msg", "message", "log"};
constexpr std::array<std::string_view, 3> kLevelKeys = {"level", "severity", "lvl"};
constexpr std::array<std::string_view, 4> kTimeKeys = {"time", "ts", "timestamp", "@timestamp"};
// Fields whose value completes the message: `failed to renew: x509: certificate has expired`.
// MongoDB's structured log nests them under `attr` (`"attr":{"reason":"certificate has expired"}`).
// Log4j2's JsonLayout writes the exception as `thrown.message`.
constexpr std::array<std::string_view, 10> kErrorKeys = {
    "error", "err", "err.message", "error.message", "reason", "cause", "exception",
    "attr.error", "attr.reason", "thrown.message"};
// A Java stack trace as one field (logstash-logback-encoder, ECS, OpenTelemetry) starts with the
// error and goes on to its `Caused by:` chain, where the certificate's reason is stated.
constexpr std::array<std::string_view, 5> kStackTraceKeys = {
    "stack_trace", "stacktrace", "stackTrace", "error.stack_trace", "exception.stacktrace"};

// How deep in an exception's cause chain a field is: 2 for Log4j2's `thrown.cause.cause.message`,
// 1 for `exception.cause` or `error.cause.message`, 0 for any other field. The deepest cause is
// where the certificate's reason is stated ("General SSLEngine problem" wraps it).
int cause_depth(std::string_view name) {
  if (name.ends_with(".message")) name.remove_suffix(8);
  if (name != "cause" && !name.ends_with(".cause")) return 0;  // not "because"
  int depth = 0;
  for (std::size_t at = name.find("cause"); at != std::string_view::npos; at = name.find("cause", at + 5)) ++depth;
  return depth;
}

template <std::size_t N>
bool one_of(std::string_view key, const std::array<std::string_view, N>& keys) {
  for (auto k : keys)
    if (k == key) return true;
  return false;
}

// A JSON number as a time: unix seconds (zap's `ts`), or milliseconds when it is that large.
std::optional<Nanos> unix_number(std::string_view token) {
  double v = 0;
  try {
    v = std::stod(std::string(token));
  } catch (...) {
    return std::nullopt;
  }
  if (v > 1e11) v /= 1000;  // milliseconds
  // From 1973 to 2200 (kLatestInstant): beyond, the nanoseconds would not fit in 64 bits
  // (1e11 s is the year 5138), and a line's own time is no instant there anyway.
  constexpr double kLatestSecond = double(kLatestInstant / kNanosPerSecond);
  if (!(v >= 1e8 && v < kLatestSecond)) return std::nullopt;
  return static_cast<Nanos>(v * 1e9);
}

}  // namespace

std::string_view normalize_level(std::string_view w) noexcept {
  if (w.empty()) return {};
  if (iequals(w, "info") || iequals(w, "i") || iequals(w, "notice") || iequals(w, "information"))
    return "info";
  if (iequals(w, "warn") || iequals(w, "warning") || iequals(w, "w")) return "warning";
  if (iequals(w, "error") || iequals(w, "err") || iequals(w, "e")) return "error";
  if (iequals(w, "fatal") || iequals(w, "f") || iequals(w, "panic") || iequals(w, "dpanic") ||
      iequals(w, "critical") || iequals(w, "crit") || iequals(w, "emerg") || iequals(w, "alert"))
    return "fatal";
  if (iequals(w, "debug") || iequals(w, "trace") || iequals(w, "d") || iequals(w, "t"))
    return "debug";
  return {};
}

struct Decoder::Impl {
  od::parser envelope_parser;
  od::parser payload_parser;
  std::string envelope_buf;
  std::string payload_buf;
  std::deque<std::string> arena;  // stable storage for strings we compose or unescape

  std::string_view keep(std::string s) { return arena.emplace_back(std::move(s)); }

  static simdjson::padded_string_view padded(std::string& buf, std::string_view text) {
    buf.assign(text);
    buf.append(simdjson::SIMDJSON_PADDING, '\0');
    return simdjson::padded_string_view(buf.data(), text.size(), buf.size());
  }

  // Docker json-file: {"log":"...\n","stream":"stderr","time":"..."}.
  bool peel_docker(std::string_view& payload, Record& r) {
    od::document doc;
    od::object obj;
    if (envelope_parser.iterate(padded(envelope_buf, payload)).get(doc) || doc.get_object().get(obj))
      return false;
    std::string_view log, stream, time;
    bool has_log = false;
    for (auto field : obj) {
      std::string_view key, value;
      if (field.unescaped_key().get(key)) return false;
      if (key != "log" && key != "stream" && key != "time") continue;
      if (field.value().get_string().get(value)) return false;
      if (key == "log") log = value, has_log = true;
      if (key == "stream") stream = value;
      if (key == "time") time = value;
    }
    if (!has_log) return false;
    payload = trim_right(log);
    if (!stream.empty()) r.labels.push_back({"stream", stream});
    if (auto t = parse_rfc3339_prefix(time)) r.time = *t;
    return true;
  }

  bool add_json_value(std::string_view key, od::value value, Record& r, int depth) {
    od::json_type type;
    if (value.type().get(type)) return false;
    switch (type) {
      case od::json_type::string: {
        std::string_view s;
        if (value.get_string().get(s)) return false;
        r.fields.push_back({key, s});
        return true;
      }
      case od::json_type::number:
      case od::json_type::boolean: {
        std::string_view token = trim_right(value.raw_json_token());
        r.fields.push_back({key, token});
        return true;
      }
      case od::json_type::null:
        return value.is_null().error() == simdjson::SUCCESS;
      case od::json_type::object: {
        // Deeper levels are left unread (on-demand skips them), but for an exception's cause
        // chain (Log4j2's `thrown.cause.cause...`), followed a few levels for its root cause.
        if (depth > 0 && !(key.ends_with(".cause") && depth < 6)) return true;
        od::object inner;
        if (value.get_object().get(inner)) return false;
        for (auto field : inner) {
          std::string_view k;
          if (field.unescaped_key().get(k)) return false;
          std::string_view name = keep(std::string(key) + "." + std::string(k));
          if (!add_json_value(name, field.value(), r, depth + 1)) return false;
        }
        return true;
      }
      case od::json_type::array:
        return true;  // left unread: no rule matches inside arrays
    }
    return true;
  }

  bool decode_json(std::string_view payload, Record& r) {
    od::document doc;
    od::object obj;
    if (payload_parser.iterate(padded(payload_buf, payload)).get(doc) || doc.get_object().get(obj))
      return false;
    for (auto field : obj) {
      std::string_view key;
      if (field.unescaped_key().get(key)) return false;
      if (!add_json_value(key, field.value(), r, 0)) return false;
    }
    r.format = PayloadFormat::json;
    finish_structured(r);
    return true;
  }

  // Message, level, time and error from the fields of a JSON or logfmt payload.
  void finish_structured(Record& r) {
    std::string_view message, error, trace, root_cause;
    int root_depth = 0;
    for (const Field& f : r.fields) {
      if (message.empty() && one_of(f.name, kMessageKeys)) message = f.value;
      if (r.level.empty() && one_of(f.name, kLevelKeys)) r.level = normalize_level(f.value);
      if (error.empty() && one_of(f.name, kErrorKeys)) error = f.value;
      if (trace.empty() && one_of(f.name, kStackTraceKeys)) trace = f.value;
      if (const int depth = cause_depth(f.name); depth > root_depth) root_depth = depth, root_cause = f.value;
    }
    if (!trace.empty()) error = trace;
    for (const Field& f : r.fields) {
      if (!one_of(f.name, kTimeKeys)) continue;
      auto t = is_digit(f.value.empty() ? ' ' : f.value[0]) && f.value.find('-') == std::string_view::npos
                   ? unix_number(f.value)
                   : parse_instant(f.value);
      if (t) {
        r.time = *t;
        break;
      }
    }
    if (!error.empty() && message.find(error) == std::string_view::npos)
      message = message.empty() ? error : keep(std::string(message) + ": " + std::string(error));
    if (!root_cause.empty() && message.find(root_cause) == std::string_view::npos)
      message = message.empty() ? root_cause : keep(std::string(message) + ": " + std::string(root_cause));
    r.message = message.empty() ? r.payload : message;
  }

  // `E0601 02:52:46.531050       1 leaderelection.go:330] text`
  bool decode_klog(std::string_view p, Record& r, int year) {
    if (p.size() < 24 || std::string_view("IWEF").find(p[0]) == std::string_view::npos) return false;
    for (int i : {1, 2, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16, 17, 18, 19, 20})
      if (!is_digit(p[i])) return false;
    if (p[5] != ' ' || p[8] != ':' || p[11] != ':' || p[14] != '.') return false;
    const std::size_t close = p.find("] ", 21);
    if (close == std::string_view::npos) return false;
    std::string_view head = p.substr(21, close - 21);  // "      1 leaderelection.go:330"
    while (!head.empty() && head.front() == ' ') head.remove_prefix(1);
    const std::size_t space = head.find(' ');
    if (space == std::string_view::npos) return false;
    r.fields.push_back({"file", head.substr(space + 1)});
    r.level = normalize_level(p.substr(0, 1));
    r.message = p.substr(close + 2);
    r.format = PayloadFormat::klog;
    // A klog line names no year: the caller's (the envelope's, the file's), which must leave the
    // nanoseconds in range (kLatestInstant), or the line keeps no time of its own.
    if (r.time == 0 && year >= 1970 && year < 2200) {
      auto num = [&](int at) { return (p[at] - '0') * 10 + (p[at + 1] - '0'); };
      const int month = num(1), day = num(3);
      const std::int64_t secs =
          days_from_civil(year, unsigned(month), unsigned(day)) * 86400 + num(6) * 3600 + num(9) * 60 + num(12);
      std::int64_t micros = 0;
      for (int i = 15; i < 21; ++i) micros = micros * 10 + (p[i] - '0');
      r.time = secs * kNanosPerSecond + micros * 1000;
    }
    return true;
  }

  // `level=warn ts=2024-01-01T00:00:00Z msg="certificate expires" err="..."`
  bool decode_logfmt(std::string_view p, Record& r) {
    auto key_char = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == '@';
    };
    std::size_t pos = 0;
    int pairs = 0;
    while (pos < p.size()) {
      while (pos < p.size() && p[pos] == ' ') ++pos;
      if (pos >= p.size()) break;
      const std::size_t key_start = pos;
      while (pos < p.size() && key_char(p[pos])) ++pos;
      if (pos == key_start || pos >= p.size() || p[pos] != '=') return pairs >= 2 ? finish_logfmt(r) : false;
      std::string_view key = p.substr(key_start, pos - key_start);
      ++pos;
      std::string_view value;
      if (pos < p.size() && p[pos] == '"') {
        std::string unescaped;
        ++pos;
        bool closed = false;
        while (pos < p.size()) {
          char c = p[pos++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\' && pos < p.size()) {
            char n = p[pos++];
            unescaped.push_back(n == 'n' ? '\n' : n == 't' ? '\t' : n);
          } else {
            unescaped.push_back(c);
          }
        }
        if (!closed) return false;
        value = keep(std::move(unescaped));
      } else {
        const std::size_t start = pos;
        while (pos < p.size() && p[pos] != ' ') ++pos;
        value = p.substr(start, pos - start);
      }
      r.fields.push_back({key, value});
      ++pairs;
    }
    return pairs >= 2 ? finish_logfmt(r) : false;
  }

  bool finish_logfmt(Record& r) {
    bool known = false;
    for (const Field& f : r.fields)
      known |= one_of(f.name, kMessageKeys) || one_of(f.name, kLevelKeys);
    if (!known) return false;
    r.format = PayloadFormat::logfmt;
    finish_structured(r);
    return true;
  }

  // `[    29.380529s]  WARN ThreadId(01) span{k=v}: target: text` or `2024-...Z  WARN target: text`.
  bool decode_tracing(std::string_view p, Record& r) {
    std::string_view s = p;
    std::string_view uptime;  // `[    29.380529s]`: seconds since the process started
    if (s.starts_with("[")) {
      const std::size_t close = s.find("s]");
      if (close == std::string_view::npos || close > 24) return false;
      uptime = s.substr(1, close - 1);
      while (!uptime.empty() && uptime.front() == ' ') uptime.remove_prefix(1);
      s.remove_prefix(close + 2);
    } else if (std::size_t used = 0; auto t = parse_rfc3339_prefix(s, &used)) {
      if (r.time == 0) r.time = *t;
      s.remove_prefix(used);
    }
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    static constexpr std::array<std::string_view, 5> kLevels = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR"};
    for (auto level : kLevels) {
      if (s.starts_with(level) && s.size() > level.size() && s[level.size()] == ' ') {
        r.level = normalize_level(level);
        s.remove_prefix(level.size());
        while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
        r.message = s;
        r.format = PayloadFormat::tracing;
        // Kept as a field so that a rule can tell a proxy's first seconds (its control plane
        // not reachable yet, by design) from the same line an hour later.
        if (!uptime.empty()) r.fields.push_back({"uptime", uptime});
        return true;
      }
    }
    return false;
  }

  void decode_payload(std::string_view p, Record& r, int year, std::uint64_t& malformed) {
    r.payload = p;
    std::size_t lead = 0;
    while (lead < p.size() && (p[lead] == ' ' || p[lead] == '\t')) ++lead;
    if (lead < p.size() && p[lead] == '{') {
      const std::size_t labels = r.labels.size();
      if (decode_json(p.substr(lead), r)) return;
      ++malformed;
      r.fields.clear();
      r.labels.resize(labels);
      r.level = {};
    } else if (decode_klog(p, r, year)) {
      return;
    } else if (decode_tracing(p, r)) {
      return;
    } else if (decode_logfmt(p, r)) {
      return;
    }
    r.fields.clear();
    r.format = PayloadFormat::plain;
    r.message = p;
    if (r.time == 0)
      if (auto t = parse_rfc3339_prefix(p)) r.time = *t;
  }
};

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

void Decoder::decode(std::string_view line, Record& r, int context_year) {
  impl_->arena.clear();
  r.line = line;
  r.payload = r.message = r.level = {};
  r.time = 0;
  r.fields.clear();
  r.format = PayloadFormat::plain;

  Envelope e = peel_envelope(line);
  if (!e.pod.empty()) r.labels.push_back({"pod", e.pod});
  if (!e.container.empty()) r.labels.push_back({"container", e.container});
  if (!e.stream.empty()) r.labels.push_back({"stream", e.stream});
  r.time = e.time;
  std::string_view payload = e.payload;
  if (payload.starts_with("{\"log\":")) {
    if (!impl_->peel_docker(payload, r)) ++malformed_json_;
  }
  const Nanos envelope_time = r.time;
  int year = context_year;
  if (envelope_time != 0) {
    // klog's header has no year: take it from the envelope when there is one.
    std::time_t secs = envelope_time / kNanosPerSecond;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    year = tm.tm_year + 1900;
  }
  r.time = 0;
  impl_->decode_payload(payload, r, year, malformed_json_);
  r.envelope_time = envelope_time;
  if (r.time == 0) r.time = envelope_time;
}

}  // namespace klaxon
