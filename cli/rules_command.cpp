// cli/rules_command.cpp — `klaxon rules check | test | list`.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "adapters/sources/file_source.hpp"
#include "cli/options.hpp"
#include "engine/decoder.hpp"
#include "engine/envelope.hpp"
#include "engine/line_framer.hpp"
#include "engine/prefilter.hpp"
#include "rules/rule_selection.hpp"
#include "rules/rule_tests.hpp"

namespace klaxon::cli {

// The packs named on the command line, or the built-in ones when none are.
// A PATH that names a shipped pack (`dapr`, or a file at `.../rules/packs/dapr.yaml`) brings
// the shipped packs in: its lines are tested against the whole set, as a run classifies them.
// An existing file there is read and overrides the shipped pack's rules by id.
rules::RuleSet load_rules_for_command(const RuleOptions& options, const std::vector<std::string>& paths,
                                      std::vector<Diagnostic>& problems, std::vector<std::string>* named_files) {
  rules::RuleSelection selection;
  selection.builtin = paths.empty() && !options.no_default_rules;
  for (const std::string& p : paths) {
    std::error_code ec;
    const auto shipped = rules::shipped_pack_file(p);
    if (shipped && !options.no_default_rules) selection.builtin = true;
    if (shipped && !std::filesystem::exists(p, ec)) {
      if (named_files) named_files->push_back(*shipped);
      continue;
    }
    selection.user_paths.push_back(p);
    if (named_files) named_files->push_back(p);
  }
  for (const std::string& p : options.rule_paths) selection.user_paths.push_back(p);
  selection.disabled = options.disabled_rules;
  selection.runbook_base = options.runbook_base;
  selection.expiry = options.expiry;
  rules::RuleSet set;
  rules::load_rule_selection(selection, set, problems);
  rules::check_rule_set(set, problems);
  return set;
}

namespace {

rules::RuleSet load_for_command(const RuleOptions& options, const std::vector<std::string>& paths,
                                std::vector<Diagnostic>& problems) {
  return load_rules_for_command(options, paths, problems);
}

void print(const std::vector<Diagnostic>& problems) {
  for (const Diagnostic& d : problems) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
}

std::string severity_summary(const RuleSpec& r) {
  if (r.severity.empty()) return "warning";
  std::string out;
  for (const SeverityCase& c : r.severity) {
    std::string s(to_string(c.severity));
    if (out.find(s) == std::string::npos) out += (out.empty() ? "" : "/") + s;
  }
  return out;
}

// RE2 syntax to what `rg -f` (Rust regex, which joins the lines into one: named groups must
// go) or `grep -E -f` (POSIX ERE: no (?:), no \d) takes. For the benchmark's side-by-side runs.
std::string export_regex(const std::string& re2, const std::string& dialect) {
  std::string out;
  for (std::size_t i = 0; i < re2.size(); ++i) {
    if (re2.compare(i, 3, "(?P") == 0) {
      const std::size_t close = re2.find('>', i);
      out += dialect == "rg" ? "(?:" : "(";
      i = close;
    } else if (dialect == "rg") {
      out += re2[i];
    } else if (re2.compare(i, 3, "(?:") == 0) {
      out += '(';
      i += 2;
    } else if (re2[i] == '\\' && i + 1 < re2.size() && re2[i + 1] == 'd') {
      out += "[0-9]";
      ++i;
    } else if (re2[i] == '\\' && i + 1 < re2.size()) {
      out += re2.substr(i, 2);
      ++i;
    } else {
      out += re2[i];
    }
  }
  return out;
}

// What a sample of real logs says each rule costs. A line holding one of a rule's literals is a
// candidate for it and costs an RE2 run; a candidate the rule does not match is that cost for
// nothing. The literal that let it through is the one to make longer.
struct SampleCounts {
  std::uint64_t lines = 0;
  std::string broke;  // why the sample could not be read to its end (the lines before count)
  std::vector<std::uint64_t> candidates, matched;          // per rule
  std::vector<std::vector<std::uint64_t>> idle_by_literal;  // per rule and literal: candidates not matched
};

// Reads the sample (plain, .gz or .zst) line by line. Returns why it cannot be opened, or "".
std::string count_sample(const Matcher& matcher, const std::string& path, SampleCounts& counts) {
  std::string error;
  std::unique_ptr<sources::ByteSource> source = sources::open_file_source(path, error);
  if (!source) return error;
  const Prefilter& prefilter = matcher.prefilter();
  const std::size_t rules = matcher.rules().size();
  counts.candidates.assign(rules, 0);
  counts.matched.assign(rules, 0);
  counts.idle_by_literal.resize(rules);
  for (std::size_t r = 0; r < rules; ++r) counts.idle_by_literal[r].assign(prefilter.literals_of(int(r)).size(), 0);
  Matcher::Scratch scratch;
  Decoder decoder;
  Record record;
  std::vector<RuleMatch> matches;
  std::string lowered;
  auto on_line = [&](std::string_view line, bool) {
    ++counts.lines;
    if (!matcher.may_match(line, scratch)) return;
    record.labels.clear();
    decoder.decode(peel_envelope(line).payload, record, 2024);
    matches.clear();
    matcher.match(record, scratch, matches);
    lowered.assign(line);
    std::transform(lowered.begin(), lowered.end(), lowered.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    for (int rule : matcher.candidates(scratch)) {
      const auto r = std::size_t(rule);
      ++counts.candidates[r];
      if (std::any_of(matches.begin(), matches.end(), [&](const RuleMatch& m) { return m.rule == rule; })) {
        ++counts.matched[r];
        continue;
      }
      const std::vector<std::string>& literals = prefilter.literals_of(rule);
      for (std::size_t l = 0; l < literals.size(); ++l)  // literals are lowercase, searched caseless
        counts.idle_by_literal[r][l] += lowered.find(literals[l]) != std::string::npos;
    }
  };
  LineFramer framer;
  std::vector<char> buffer(256 << 10);
  for (;;) {
    const sources::ReadResult r = source->read(buffer);
    framer.feed(std::string_view(buffer.data(), r.bytes), on_line);
    if (!r.error.empty()) counts.broke = r.error;
    if (r.eof || !r.error.empty()) break;
  }
  framer.finish(on_line);
  return {};
}

// A rule whose literal lets through 1 line in 100 that it then does not match adds a tenth to a
// fifth to the time of a replay: decoding a line and running RE2 on it takes a microsecond or
// two, the prefilter's scan about 0.15 microseconds a line (bench/README.md).
void warn_about_costly_rules(const Matcher& matcher, const std::string& sample, const SampleCounts& counts,
                             std::vector<Diagnostic>& problems) {
  const std::vector<int>& unfiltered = matcher.prefilter().unfiltered();
  for (std::size_t r = 0; r < counts.candidates.size(); ++r) {
    const std::uint64_t idle = counts.candidates[r] - counts.matched[r];
    if (idle < std::max<std::uint64_t>(10, counts.lines / 100)) continue;
    if (std::find(unfiltered.begin(), unfiltered.end(), int(r)) != unfiltered.end()) continue;  // said already
    const std::vector<std::uint64_t>& by_literal = counts.idle_by_literal[r];
    const auto worst = std::size_t(std::max_element(by_literal.begin(), by_literal.end()) - by_literal.begin());
    const RuleSpec& rule = matcher.rules()[r];
    problems.push_back(
        {rule.defined_at,
         fmt::format("rule {}: tried on {:.1f}% of the lines of {} ({} of {}), matched {}: its literal \"{}\" is "
                     "common there and each try costs an RE2 run (a longer fixed phrase in the regex makes the rule "
                     "cheaper)",
                     rule.id, 100.0 * double(counts.candidates[r]) / double(counts.lines), sample,
                     counts.candidates[r], counts.lines, counts.matched[r],
                     matcher.prefilter().literals_of(int(r))[worst]),
         true});
  }
}

}  // namespace

int rules_check(const std::vector<std::string>& paths, const std::string& sample) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(RuleOptions{}, paths, problems);  // no paths: the built-in packs
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems);
  SampleCounts counts;
  if (matcher) {
    // A rule without a selective literal is tried with RE2 on every line: say so.
    for (int index : matcher->prefilter().unfiltered()) {
      const RuleSpec& r = matcher->rules()[std::size_t(index)];
      problems.push_back({r.defined_at,
                          fmt::format("rule {}: no literal of {} or more characters that every match contains; "
                                      "this rule runs RE2 on every line (add a fixed phrase to the regex)",
                                      r.id, 3),
                          true});
    }
    if (!sample.empty()) {
      if (const std::string error = count_sample(*matcher, sample, counts); !error.empty()) {
        print(problems);
        std::fprintf(stderr, "rules check: cannot read the sample: %s\n", error.c_str());
        return kExitUsage;
      }
      warn_about_costly_rules(*matcher, sample, counts, problems);
    }
  }
  print(problems);
  if (!matcher) {
    std::fprintf(stderr, "rules check: errors found\n");
    return kExitUsage;
  }
  std::printf("rules check: %zu pack%s, %zu rules, %zu correlations: ok", set.packs.size(),
              set.packs.size() == 1 ? "" : "s", set.rules.size(), set.correlations.size());
  if (!sample.empty()) std::printf(" (measured on %llu lines of %s)", static_cast<unsigned long long>(counts.lines), sample.c_str());
  std::printf("\n");
  if (!counts.broke.empty()) {
    std::fprintf(stderr, "rules check: the sample broke after %llu lines: %s\n",
                 static_cast<unsigned long long>(counts.lines), counts.broke.c_str());
    return kExitFailure;
  }
  return kExitOk;
}

int rules_test(const RuleOptions& options, const std::vector<std::string>& paths) {
  std::vector<Diagnostic> problems;
  std::vector<std::string> named;
  rules::RuleSet set = load_rules_for_command(options, paths, problems, &named);
  // Only the named packs' lines, tested against everything loaded.
  if (!named.empty())
    std::erase_if(set.tests, [&](const rules::RuleTest& t) {
      return std::none_of(named.begin(), named.end(), [&](const std::string& n) {
        return t.at.file == n || t.at.file.starts_with(n + "/");
      });
    });
  std::optional<Matcher> matcher;
  if (!rules::has_errors(problems)) matcher = Matcher::compile(set.rules, problems);
  if (!matcher) {
    print(problems);
    return kExitUsage;
  }
  rules::TestReport report = rules::run_rule_tests(*matcher, set.tests);
  for (const rules::TestFailure& f : report.failures) {
    std::printf("FAIL %s:%d %s\n     line: %s\n     %s\n", f.test->at.file.c_str(), f.test->at.line,
                f.test->rule_id.c_str(), f.test->line.c_str(), f.why.c_str());
  }
  std::printf("%zu passed, %zu failed\n", report.passed, report.failures.size());
  return report.failures.empty() ? kExitOk : kExitFailure;
}

int rules_export(const RuleOptions& options, const std::vector<std::string>& paths, const std::string& what) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(options, paths, problems);
  if (rules::has_errors(problems)) {
    print(problems);
    return kExitUsage;
  }
  std::string out;
  if (what == "anchors") {
    std::optional<Matcher> m = Matcher::compile(set.rules, problems);
    if (!m) return print(problems), kExitUsage;
    for (const std::string& a : m->prefilter().anchors()) out += fmt::format("{:?}\n", a);
    std::fputs(out.c_str(), stdout);
    return kExitOk;
  }
  for (const RuleSpec& r : set.rules) {
    if (what == "literals") {
      std::string lits;
      const Prefilter one({r.pattern});
      for (const std::string& l : one.literals_of(0)) lits += fmt::format("{}{:?}", lits.empty() ? "" : " ", l);
      out += fmt::format("{}\t{}\n", r.id, lits.empty() ? "(none: runs on every line)" : lits);
    } else {
      out += export_regex(r.pattern, what) + "\n";
    }
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

int rules_list(const RuleOptions& options, const std::vector<std::string>& paths) {
  std::vector<Diagnostic> problems;
  rules::RuleSet set = load_for_command(options, paths, problems);
  if (rules::has_errors(problems)) {
    print(problems);
    return kExitUsage;
  }
  std::size_t id_width = 2, class_width = 5;
  for (const RuleSpec& r : set.rules) {
    id_width = std::max(id_width, r.id.size());
    class_width = std::max(class_width, r.klass.size());
  }
  std::string out = fmt::format("{:<{}}  {:<{}}  {:<16}  {}\n", "ID", id_width, "CLASS", class_width, "SEVERITY", "TITLE");
  for (const RuleSpec& r : set.rules) {
    out += fmt::format("{:<{}}  {:<{}}  {:<16}  {}", r.id, id_width, r.klass, class_width, severity_summary(r), r.title);
    for (const auto& [id, pack] : set.overrides)
      if (id == r.id) out += fmt::format("  (overrides {}, from {})", pack, r.defined_at.file);
    out += '\n';
  }
  std::fputs(out.c_str(), stdout);
  return kExitOk;
}

}  // namespace klaxon::cli
