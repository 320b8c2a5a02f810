// tests/support/test_support.hpp — small helpers shared by the tests.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>

#include "engine/matcher.hpp"
#include "engine/stream_classifier.hpp"
#include "rules/rule_pack_loader.hpp"

namespace klaxon::test {

/// Compiles the rules loaded into `set`; throws with the diagnostics (loading's and compiling's)
/// on any error.
inline Matcher compile_or_throw(const rules::RuleSet& set, std::vector<Diagnostic> problems) {
  std::optional<Matcher> m;
  if (!rules::has_errors(problems)) m = Matcher::compile(set.rules, problems);
  if (!m) {
    std::string all;
    for (const auto& d : problems) all += format_diagnostic(d) + "\n";
    throw std::runtime_error(all);
  }
  return std::move(*m);
}

/// Compiles a matcher from one pack's YAML text; throws with the diagnostics on any error.
inline Matcher matcher_from_yaml(const std::string& yaml) {
  rules::RuleSet set;
  std::vector<Diagnostic> problems;
  rules::load_pack_text(yaml, "test.yaml", set, problems);
  return compile_or_throw(set, std::move(problems));
}

/// Two rules for stream tests: `t.expired` (message has "certificate has expired") and
/// `t.lost` ("http2: client connection lost").
inline Matcher two_rule_matcher() {
  return matcher_from_yaml(R"(
pack: t
rules:
  - id: t.expired
    class: cert_expired
    title: expired
    match: { message: 'certificate has expired' }
  - id: t.lost
    class: connection_lost
    title: lost
    match: { message: 'http2: client connection lost' }
)");
}

/// The built-in packs, compiled.
inline Matcher builtin_matcher() {
  rules::RuleSet set;
  std::vector<Diagnostic> problems;
  rules::load_builtin_packs(set, problems);
  return compile_or_throw(set, std::move(problems));
}

/// What a classified line said, owned, for comparing runs.
struct Seen {
  std::uint64_t line_no;
  std::string rule;
  std::string klass;
  std::string severity;
  std::string values;  // name=value;...
  Nanos time;
  bool operator==(const Seen&) const = default;
};

inline void PrintTo(const Seen& s, std::ostream* os) {
  *os << s.line_no << ":" << s.rule << "(" << s.severity << ")" << s.values;
}

inline Seen seen_from(const ClassifiedLine& l) {
  std::string values;
  for (const Value& v : l.primary.values) values += std::string(v.name) + "=" + value_to_string(v) + ";";
  return {l.line_no, l.rule.id, l.rule.klass, std::string(to_string(l.primary.severity)), values, l.record.time};
}

/// Classifies `text` fed in pieces of `chunk` bytes (0 = all at once).
inline std::vector<Seen> classify(const Matcher& m, std::string_view text, std::size_t chunk = 0,
                                  StreamStats* stats = nullptr, std::size_t max_line = LineFramer::kDefaultMaxLineBytes) {
  std::vector<Seen> out;
  StreamOptions options;
  options.max_line_bytes = max_line;
  options.now = [] { return Nanos{1'700'000'000} * kNanosPerSecond; };
  StreamClassifier s(m, "test", {}, options, [&](const ClassifiedLine& l) { out.push_back(seen_from(l)); });
  if (chunk == 0) chunk = text.size() ? text.size() : 1;
  for (std::size_t i = 0; i < text.size(); i += chunk) s.feed(text.substr(i, chunk));
  s.finish();
  if (stats) *stats = s.stats();
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A fresh directory under the system's temp dir, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "klaxon-test-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int status = -1;
  std::string out;
  std::string err;
};

/// Runs a shell command line; captures stdout and stderr.
inline CommandResult run_command(const std::string& command) {
  char err_path[] = "/tmp/klaxon-test-stderr-XXXXXX";
  const int fd = mkstemp(err_path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  ::close(fd);
  CommandResult r;
  std::FILE* p = ::popen((command + " 2>" + err_path).c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_path);
  std::remove(err_path);
  return r;
}

}  // namespace klaxon::test
