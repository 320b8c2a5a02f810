// The Slack message a webhook posts: Slack's mrkdwn escaped, numbers in words that agree.
#include <gtest/gtest.h>

#include <simdjson.h>

#include "adapters/sinks/webhook_sink.hpp"

namespace klaxon::sinks {
namespace {

IncidentEvent dapr_root(std::uint64_t count, std::uint64_t symptoms, std::size_t pods) {
  IncidentEvent e{IncidentEvent::Kind::opened, 0, {}};
  IncidentSnapshot& i = e.incident;
  i.id = "r1";
  i.rule = "dapr.root_cert_expired";
  i.klass = "cert_expired";
  i.severity = Severity::critical;
  i.title = "Dapr root certificate has expired";
  i.summary = "sentry says: <b>expired</b> & gone; <!channel>";
  i.runbook = "dapr mtls renew-certificate -k --valid-until <days> --restart";
  i.labels = {{"namespace", "dapr-system"}, {"pod", "a<b>&c"}};
  i.count = count;
  i.symptoms = symptoms;
  for (std::size_t p = 0; p < pods; ++p) i.symptom_pods.push_back("app" + std::to_string(p));
  return e;
}

// The "text" of a Slack body, JSON-decoded.
std::string slack_text(const IncidentEvent& e) {
  const auto body = WebhookSink::body(e, WebhookFormat::slack);
  EXPECT_TRUE(body.has_value());
  simdjson::dom::parser parser;
  std::string_view text;
  EXPECT_EQ(parser.parse(*body)["text"].get(text), simdjson::SUCCESS) << *body;
  return std::string(text);
}

TEST(WebhookSink, SlackTextEscapesWhatSlackWouldReadAsMarkup) {
  const std::string text = slack_text(dapr_root(3, 2, 2));
  EXPECT_NE(text.find("--valid-until &lt;days&gt; --restart"), std::string::npos) << text;
  EXPECT_NE(text.find("&lt;b&gt;expired&lt;/b&gt; &amp; gone; &lt;!channel&gt;"), std::string::npos) << text;
  EXPECT_NE(text.find("`pod=a&lt;b&gt;&amp;c`"), std::string::npos) << text;
  // Nothing of the incident's text is left for Slack to take as a link or a mention.
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
  EXPECT_EQ(text.find('>'), std::string::npos) << text;
  EXPECT_NE(text.find("*CRITICAL* opened"), std::string::npos) << "our own bold stays: " << text;
}

TEST(WebhookSink, SlackTextSaysOneTimeAndManyTimes) {
  const std::string one = slack_text(dapr_root(1, 1, 1));
  EXPECT_NE(one.find("seen 1 time since"), std::string::npos) << one;
  EXPECT_NE(one.find(", 1 symptom incident in 1 pod"), std::string::npos) << one;
  EXPECT_EQ(one.find("1 times"), std::string::npos) << one;
  const std::string many = slack_text(dapr_root(40, 41, 40));
  EXPECT_NE(many.find("seen 40 times since"), std::string::npos) << many;
  EXPECT_NE(many.find(", 41 symptom incidents in 40 pods"), std::string::npos) << many;
}

}  // namespace
}  // namespace klaxon::sinks
