// The pipeline pushes every match, incident event and the summary to each of its EventSinks,
// in the order the sinks were given, and its warnings go where the options say.
#include "engine/pipeline.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {

// Writes down what it is handed, under its name, into a log shared by all recorders.
class Recorder final : public EventSink {
 public:
  Recorder(std::string name, std::vector<std::string>& log) : name_(std::move(name)), log_(log) {}
  void match(const ClassifiedLine& line) override { log_.push_back(name_ + " match " + line.rule.id); }
  void incident(const IncidentEvent& e) override {
    log_.push_back(name_ + " incident " + e.incident.klass + " " + std::string(to_string(e.kind)));
  }
  void summary(const RunSummary& s) override {
    log_.push_back(name_ + " summary " + std::to_string(s.stats.lines) + " lines");
  }
  void flush() override { log_.push_back(name_ + " flush"); }

 private:
  std::string name_;
  std::vector<std::string>& log_;
};

// Takes incident events only, as the network sinks do: the other calls are the defaults.
class IncidentsOnly final : public EventSink {
 public:
  void incident(const IncidentEvent&) override { ++events; }
  int events = 0;
};

TEST(Pipeline, EverySinkGetsMatchesIncidentsAndTheSummaryInOrder) {
  const Matcher m = test::two_rule_matcher();
  std::vector<std::string> log;
  Recorder first("first", log), second("second", log);
  IncidentsOnly third;
  Pipeline p(m, {}, PipelineOptions{}, {&first, &second});
  p.add_sink(third);
  p.set_replay(true);
  p.feed("pod-a", "2024-04-01T10:00:00Z x509: certificate has expired\n"
                  "2024-04-01T10:00:01Z all is well\n");
  p.flush();
  const RunSummary& s = p.finish();

  EXPECT_EQ(s.stats.lines, 2u);
  EXPECT_EQ(s.matches_by_class.at("cert_expired"), 1u);
  ASSERT_FALSE(log.empty());
  const std::vector<std::string> want{
      "first match t.expired",       "second match t.expired",       "first incident cert_expired opened",
      "second incident cert_expired opened", "first flush",          "second flush",
      "first summary 2 lines",       "second summary 2 lines"};
  EXPECT_EQ(log, want);
  EXPECT_EQ(third.events, 1);
  ASSERT_TRUE(p.worst().has_value());
  EXPECT_EQ(*p.worst(), Severity::warning);  // the rule says no severity: warning
}

TEST(Pipeline, WarningsGoWhereTheOptionsSayEachKindOnce) {
  const Matcher m = test::two_rule_matcher();
  std::vector<std::string> warnings;
  PipelineOptions o;
  o.max_line_bytes = 64;
  o.warn = [&](const std::string& w) { warnings.push_back(w); };
  Pipeline p(m, {}, o);
  const std::string long_line = std::string(100, 'a') + " certificate has expired\n";
  p.feed("f.log", long_line + long_line);
  p.finish();
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("f.log:1: a line longer than 64 bytes was cut"), std::string::npos) << warnings[0];
}

}  // namespace
}  // namespace klaxon
