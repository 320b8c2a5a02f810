#include "cli/state_dir.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <simdjson.h>

#include "engine/json_text.hpp"

namespace klaxon::cli {
namespace {

namespace dom = simdjson::dom;

constexpr const char* kStateFile = "state.json";
// Instants a state may hold: [1970, 2200), as everywhere else in klaxon.
constexpr Nanos kLatestInstant = Nanos(7'258'118'400) * kNanosPerSecond;

// ---- writing ---------------------------------------------------------------------------------

void key(std::string& b, std::string_view k) {
  if (b.back() != '{') b += ',';
  append_json_string(b, k);
  b += ':';
}
void field(std::string& b, std::string_view k, std::string_view v) {
  key(b, k);
  append_json_string(b, v);
}
void field(std::string& b, std::string_view k, std::int64_t v) {
  key(b, k);
  b += std::to_string(v);
}
void field(std::string& b, std::string_view k, bool v) {
  key(b, k);
  b += v ? "true" : "false";
}
void strings(std::string& b, std::string_view k, const std::vector<std::string>& list) {
  key(b, k);
  b += '[';
  for (const std::string& s : list) {
    if (b.back() != '[') b += ',';
    append_json_string(b, s);
  }
  b += ']';
}
// Labels as [["name","value"],...]: their order is the rule's group_by order, which keys use.
void labels(std::string& b, std::string_view k, const Labels& list) {
  key(b, k);
  b += '[';
  for (const auto& [name, value] : list) {
    if (b.back() != '[') b += ',';
    b += '[';
    append_json_string(b, name);
    b += ',';
    append_json_string(b, value);
    b += ']';
  }
  b += ']';
}

void render_incident(std::string& b, const IncidentTracker::State::HeldIncident& h) {
  const IncidentSnapshot& s = h.s;
  b += '{';
  field(b, "id", s.id);
  field(b, "rule", s.rule);
  field(b, "class", s.klass);
  field(b, "severity", to_string(s.severity));
  field(b, "title", s.title);
  field(b, "summary", s.summary);
  field(b, "runbook", s.runbook);
  labels(b, "labels", s.labels);
  field(b, "first_seen", s.first_seen);
  field(b, "last_seen", s.last_seen);
  field(b, "count", std::int64_t(s.count));
  strings(b, "samples", s.samples);
  strings(b, "pods", s.pods);
  field(b, "expires_at", s.expires_at);
  field(b, "caused_by", s.caused_by);
  field(b, "symptoms", std::int64_t(s.symptoms));
  strings(b, "symptom_pods", s.symptom_pods);
  field(b, "open", s.open);
  field(b, "resolved_because", s.resolved_because);
  field(b, "resolved_by", s.resolved_by);
  field(b, "certificate", s.certificate);
  if (!s.inventory.source.empty()) {  // a certificate read where it is kept: what it is about
    const InventoryCertificate& c = s.inventory;
    key(b, "inventory");
    b += '{';
    field(b, "source", c.source);
    field(b, "subject", c.subject);
    field(b, "issuer", c.issuer);
    field(b, "serial", c.serial);
    field(b, "not_after_text", c.not_after_text);
    field(b, "not_after_seconds", c.not_after_seconds);
    field(b, "not_before", c.not_before);
    field(b, "not_after", c.not_after);
    labels(b, "labels", c.labels);
    field(b, "runbook", c.runbook);
    strings(b, "names", c.names);
    b += '}';
  }
  field(b, "generation", std::int64_t(h.generation));
  field(b, "expired", h.expired);
  field(b, "class_since", h.class_since);
  field(b, "last_update", h.last_update);
  b += '}';
}

void render_certificate(std::string& b, const IncidentTracker::State::HeldCertificate& h) {
  b += '{';
  field(b, "identity", h.c.identity);
  field(b, "rule", h.c.rule);
  labels(b, "labels", h.c.labels);
  field(b, "expires_at", h.c.expires_at);
  field(b, "stated_at", h.c.stated_at);
  field(b, "source", h.c.source);
  field(b, "imprecision", h.imprecision);
  b += '}';
}

// ---- reading ---------------------------------------------------------------------------------

// Reads fields of one object; the first missing or mistyped one makes the whole document bad.
class Fields {
 public:
  Fields(dom::element e, std::string where, std::string& error) : where_(std::move(where)), error_(error) {
    if (e.get(object_) != simdjson::SUCCESS) fail("is not an object");
  }
  bool ok() const { return error_.empty(); }

  std::string text(const char* name) {
    std::string_view v;
    if (ok() && object_[name].get(v) != simdjson::SUCCESS) fail(fmt::format("{}: not a string", name));
    return std::string(v);
  }
  std::int64_t integer(const char* name, std::int64_t min, std::int64_t max) {
    std::int64_t v = 0;
    if (ok() && (object_[name].get(v) != simdjson::SUCCESS || v < min || v > max))
      fail(fmt::format("{}: not a number in range", name));
    return v;
  }
  Nanos instant(const char* name) { return integer(name, 0, kLatestInstant); }
  bool flag(const char* name) {
    bool v = false;
    if (ok() && object_[name].get(v) != simdjson::SUCCESS) fail(fmt::format("{}: not true or false", name));
    return v;
  }
  std::vector<std::string> texts(const char* name) {
    std::vector<std::string> out;
    dom::array a;
    if (ok() && object_[name].get(a) != simdjson::SUCCESS) fail(fmt::format("{}: not a list", name));
    if (!ok()) return out;
    for (dom::element e : a) {
      std::string_view v;
      if (e.get(v) != simdjson::SUCCESS) {
        fail(fmt::format("{}: not a list of strings", name));
        break;
      }
      out.emplace_back(v);
    }
    return out;
  }
  Labels pairs(const char* name) {
    Labels out;
    dom::array a;
    if (ok() && object_[name].get(a) != simdjson::SUCCESS) fail(fmt::format("{}: not a list", name));
    if (!ok()) return out;
    for (dom::element e : a) {
      dom::array pair;
      std::string_view k, v;
      if (e.get(pair) != simdjson::SUCCESS || pair.size() != 2 || pair.at(0).get(k) != simdjson::SUCCESS ||
          pair.at(1).get(v) != simdjson::SUCCESS) {
        fail(fmt::format("{}: not a list of [name, value]", name));
        break;
      }
      out.emplace_back(std::string(k), std::string(v));
    }
    return out;
  }
  void fail(const std::string& why) {
    if (ok()) error_ = where_ + ": " + why;
  }
  /// A field that older states do not have: nullopt when absent.
  std::optional<dom::element> optional(const char* name) {
    dom::element e;
    if (!ok() || object_[name].get(e) != simdjson::SUCCESS) return std::nullopt;
    return e;
  }
  const std::string& where() const { return where_; }

 private:
  dom::object object_;
  std::string where_;
  std::string& error_;
};

std::optional<IncidentTracker::State::HeldIncident> parse_incident(dom::element e, std::size_t n, std::string& error) {
  Fields f(e, fmt::format("incidents[{}]", n), error);
  IncidentTracker::State::HeldIncident h;
  IncidentSnapshot& s = h.s;
  s.id = f.text("id");
  s.rule = f.text("rule");
  s.klass = f.text("class");
  const std::string severity = f.text("severity");
  s.title = f.text("title");
  s.summary = f.text("summary");
  s.runbook = f.text("runbook");
  s.labels = f.pairs("labels");
  s.first_seen = f.instant("first_seen");
  s.last_seen = f.instant("last_seen");
  s.count = std::uint64_t(f.integer("count", 0, INT64_MAX));
  s.samples = f.texts("samples");
  s.pods = f.texts("pods");
  s.expires_at = f.instant("expires_at");
  s.caused_by = f.text("caused_by");
  s.symptoms = std::uint64_t(f.integer("symptoms", 0, INT64_MAX));
  s.symptom_pods = f.texts("symptom_pods");
  s.open = f.flag("open");
  s.resolved_because = f.text("resolved_because");
  s.resolved_by = f.text("resolved_by");
  s.certificate = f.text("certificate");
  if (auto inventory = f.optional("inventory")) {
    Fields c(*inventory, f.where() + ".inventory", error);
    InventoryCertificate& i = s.inventory;
    i.source = c.text("source");
    i.subject = c.text("subject");
    i.issuer = c.text("issuer");
    i.serial = c.text("serial");
    i.not_after_text = c.text("not_after_text");
    i.not_after_seconds = c.integer("not_after_seconds", -62'135'596'800, 253'402'300'799);  // years 1-9999
    i.not_before = c.instant("not_before");
    i.not_after = c.instant("not_after");
    i.labels = c.pairs("labels");
    i.runbook = c.text("runbook");
    i.names = c.texts("names");
    if (!c.ok()) return std::nullopt;
  }
  h.generation = unsigned(f.integer("generation", 1, 1'000'000));
  h.expired = f.flag("expired");
  h.class_since = f.instant("class_since");
  h.last_update = f.instant("last_update");
  if (f.ok()) {
    if (auto sev = severity_from_string(severity)) s.severity = *sev;
    else f.fail("severity: not info, warning or critical");
  }
  if (f.ok() && s.last_seen < s.first_seen) f.fail("last_seen before first_seen");
  if (!f.ok()) return std::nullopt;
  return h;
}

std::optional<IncidentTracker::State::HeldCertificate> parse_certificate(dom::element e, std::size_t n,
                                                                         std::string& error) {
  Fields f(e, fmt::format("certificates[{}]", n), error);
  IncidentTracker::State::HeldCertificate h;
  h.c.identity = f.text("identity");
  h.c.rule = f.text("rule");
  h.c.labels = f.pairs("labels");
  h.c.expires_at = f.instant("expires_at");
  h.c.stated_at = f.instant("stated_at");
  h.c.source = f.text("source");
  h.imprecision = f.integer("imprecision", 0, 366 * 86400 * kNanosPerSecond);
  if (!f.ok()) return std::nullopt;
  return h;
}

bool read_file(const std::string& path, std::string& text, int& error) {
  std::FILE* in = std::fopen(path.c_str(), "rb");
  if (!in) {
    error = errno;
    return false;
  }
  char buf[65536];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, in)) > 0;) text.append(buf, n);
  const bool ok = !std::ferror(in);
  error = ok ? 0 : EIO;
  std::fclose(in);
  return ok;
}

}  // namespace

std::string render_state(const Pipeline::State& state) {
  std::string b = "{";
  field(b, "klaxon_state", std::int64_t(kStateVersion));
  field(b, "written", format_rfc3339(wall_now()));
  key(b, "clock");
  b += '{';
  field(b, "latest", state.tracker.latest);
  field(b, "watermark", state.tracker.watermark);
  field(b, "latest_wall", state.latest_wall);
  b += '}';
  key(b, "incidents");
  b += "[\n";
  for (const auto& h : state.tracker.incidents) {
    if (b.back() != '\n') b += ",\n";
    render_incident(b, h);
  }
  b += "]";
  key(b, "certificates");
  b += "[\n";
  for (const auto& h : state.tracker.certificates) {
    if (b.back() != '\n') b += ",\n";
    render_certificate(b, h);
  }
  b += "]}\n";
  return b;
}

std::optional<Pipeline::State> parse_state(const std::string& text, std::string& error, bool& newer) {
  newer = false;
  error.clear();
  dom::parser parser;
  dom::element doc;
  if (auto e = parser.parse(text).get(doc); e != simdjson::SUCCESS) {
    error = fmt::format("not JSON ({})", simdjson::error_message(e));
    return std::nullopt;
  }
  std::int64_t version = 0;
  if (doc["klaxon_state"].get(version) != simdjson::SUCCESS) {
    error = "not a klaxon state (no \"klaxon_state\" version)";
    return std::nullopt;
  }
  if (version > kStateVersion) {
    newer = true;
    error = fmt::format("written by a newer klaxon (state version {}; this one reads {})", version, kStateVersion);
    return std::nullopt;
  }
  if (version < 1) {
    error = fmt::format("state version {} is not one klaxon wrote", version);
    return std::nullopt;
  }
  Pipeline::State state;
  dom::element clock;
  if (doc["clock"].get(clock) != simdjson::SUCCESS) {
    error = "no clock";
    return std::nullopt;
  }
  Fields c(clock, "clock", error);
  state.tracker.latest = c.instant("latest");
  state.tracker.watermark = c.integer("watermark", -kLatestInstant, kLatestInstant);
  state.latest_wall = c.instant("latest_wall");
  if (!c.ok()) return std::nullopt;
  dom::array incidents, certificates;
  if (doc["incidents"].get(incidents) != simdjson::SUCCESS || doc["certificates"].get(certificates) != simdjson::SUCCESS) {
    error = "no incidents or certificates list";
    return std::nullopt;
  }
  std::size_t n = 0;
  for (dom::element e : incidents) {
    auto h = parse_incident(e, n++, error);
    if (!h) return std::nullopt;
    state.tracker.incidents.push_back(std::move(*h));
  }
  n = 0;
  for (dom::element e : certificates) {
    auto h = parse_certificate(e, n++, error);
    if (!h) return std::nullopt;
    state.tracker.certificates.push_back(std::move(*h));
  }
  return state;
}

// ---- the directory ---------------------------------------------------------------------------

std::unique_ptr<StateDir> StateDir::open(const std::string& dir, std::string& error) {
  if (dir.empty()) {
    error = "--state-dir: give a directory";
    return nullptr;
  }
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = fmt::format("--state-dir {}: cannot create it: {}", dir, std::strerror(errno));
    return nullptr;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = fmt::format("--state-dir {}: not a directory", dir);
    return nullptr;
  }
  std::unique_ptr<StateDir> d(new StateDir());
  d->dir_ = dir;
  while (d->dir_.size() > 1 && d->dir_.back() == '/') d->dir_.pop_back();
  d->lock_fd_.reset(::open(d->file("lock").c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!d->lock_fd_) {
    error = fmt::format("--state-dir {}: cannot write there: {} (choose a writable directory)", dir, std::strerror(errno));
    return nullptr;
  }
  if (::flock(d->lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    error = fmt::format("--state-dir {}: another klaxon is using it (one state directory per klaxon)", dir);
    return nullptr;
  }
  return d;
}

StateDir::~StateDir() = default;

std::optional<Pipeline::State> StateDir::load() {
  const std::string path = file(kStateFile);
  std::string text;
  int err = 0;
  if (!read_file(path, text, err)) {
    if (err != ENOENT)
      std::fprintf(stderr, "klaxon: warning: --state-dir: cannot read %s: %s; starting afresh\n", path.c_str(),
                   std::strerror(err));
    return std::nullopt;
  }
  std::string error;
  bool newer = false;
  auto state = parse_state(text, error, newer);
  if (state) return state;
  // Kept for a person to look at; never read again.
  const std::string aside = fmt::format("{}.{}-{}", path, newer ? "newer" : "damaged", wall_now() / kNanosPerSecond);
  const bool moved = ::rename(path.c_str(), aside.c_str()) == 0;
  std::fprintf(stderr, "klaxon: warning: --state-dir: %s is %s; %s, starting afresh\n", path.c_str(),
               newer ? error.c_str() : ("damaged: " + error).c_str(),
               moved ? ("moved aside to " + aside).c_str() : "left as it is");
  return std::nullopt;
}

bool StateDir::save(const std::string& text, std::string& error) {
  const std::string path = file(kStateFile);
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  UniqueFd fd;
  auto failed = [&](const char* what) {
    error = fmt::format("--state-dir {}: cannot {} the state: {}", dir_, what, std::strerror(errno));
    fd.reset();
    ::unlink(tmp.c_str());
    return false;
  };
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  fd.reset(::open(tmp.c_str(), flags, 0600));
  if (!fd && errno == EEXIST) {  // left by a crash of a klaxon with our pid: ours to replace
    ::unlink(tmp.c_str());
    fd.reset(::open(tmp.c_str(), flags, 0600));
  }
  if (!fd) {
    error = fmt::format("--state-dir {}: cannot write the state: {}", dir_, std::strerror(errno));
    return false;
  }
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return failed("write");
    done += std::size_t(n);
  }
  if (::fsync(fd.get()) != 0) return failed("sync");
  if (!fd.close()) return failed("write");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return failed("rename");
  // The rename itself is durable only once the directory is.
  if (const UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); dir) ::fsync(dir.get());
  return true;
}

std::optional<Nanos> saved_resume_point(const std::string& dir) {
  std::string text;
  int err = 0;
  if (dir.empty() || !read_file(dir + "/" + kStateFile, text, err)) return std::nullopt;
  std::string error;
  bool newer = false;
  auto state = parse_state(text, error, newer);
  if (!state || state->tracker.latest == 0) return std::nullopt;
  return state->tracker.latest;
}

bool keep_state(const std::string& dir, Pipeline& pipeline, std::unique_ptr<StateKeeper>& out) {
  out.reset();
  if (dir.empty()) return true;
  std::string error;
  auto d = StateDir::open(dir, error);
  if (!d) {
    std::fprintf(stderr, "klaxon: %s\n", error.c_str());
    return false;
  }
  out = std::make_unique<StateKeeper>(std::move(d), pipeline);
  out->restore();
  return true;
}

// ---- the keeper ------------------------------------------------------------------------------

StateKeeper::StateKeeper(std::unique_ptr<StateDir> dir, Pipeline& pipeline, std::chrono::milliseconds interval)
    : dir_(std::move(dir)), pipeline_(pipeline), interval_(interval) {}

void StateKeeper::restore() {
  auto state = dir_->load();
  last_save_ = std::chrono::steady_clock::now();
  if (!state) return;
  std::size_t open = 0;
  for (const auto& h : state->tracker.incidents) open += h.s.open;
  const std::size_t skipped = pipeline_.restore(*state);
  std::fprintf(stderr, "klaxon: --state-dir %s: %zu open incidents and %zu certificate expiries restored%s\n",
               dir_->path().c_str(), open, state->tracker.certificates.size(),
               skipped ? fmt::format(" ({} left out: their rules are gone)", skipped).c_str() : "");
  last_text_ = render_state(pipeline_.state());
}

void StateKeeper::tick() {
  if (std::chrono::steady_clock::now() - last_save_ >= interval_) save();
}

void StateKeeper::finish() { save(); }

void StateKeeper::save() {
  last_save_ = std::chrono::steady_clock::now();
  std::string text = render_state(pipeline_.state());
  // "written" changes every second; what matters is the rest.
  auto body = [](const std::string& t) { return t.substr(std::min(t.size(), t.find("\"clock\""))); };
  if (!last_text_.empty() && body(text) == body(last_text_)) return;
  std::string error;
  if (!dir_->save(text, error)) {
    if (!said_error_) std::fprintf(stderr, "klaxon: error: %s (said once; klaxon keeps running)\n", error.c_str());
    said_error_ = true;
    return;
  }
  said_error_ = false;
  last_text_ = std::move(text);
}

}  // namespace klaxon::cli
