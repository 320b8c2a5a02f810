// The one URL parser (adapters/net/url.hpp): what operators write after --alertmanager,
// --webhook and --url, and what a bad one is told.
#include <gtest/gtest.h>

#include "adapters/net/url.hpp"

namespace klaxon::net {
namespace {

std::optional<Url> http(std::string_view text, std::string& error) { return parse_url(text, {"http", "https"}, error); }

TEST(Url, TakesApartWhatOperatorsWrite) {
  std::string error;
  auto a = http("http://alertmanager:9093", error);
  ASSERT_TRUE(a) << error;
  EXPECT_EQ(a->host, "alertmanager");
  EXPECT_EQ(a->port, "9093");
  EXPECT_EQ(a->target, "/");
  EXPECT_FALSE(a->tls);
  EXPECT_FALSE(a->ip_literal);
  EXPECT_EQ(a->host_header(), "alertmanager:9093");
  EXPECT_EQ(a->shown, "http://alertmanager:9093");

  auto b = http("https://hooks.slack.com/services/T0/B0/x?y=1#frag", error);
  ASSERT_TRUE(b) << error;
  EXPECT_TRUE(b->tls);
  EXPECT_EQ(b->target, "/services/T0/B0/x?y=1") << "the fragment is never sent";
  EXPECT_EQ(b->shown, "https://hooks.slack.com/…") << "a webhook's path is its secret";

  auto q = http("http://am:9093?x=1", error);
  ASSERT_TRUE(q) << error;
  EXPECT_EQ(q->target, "/?x=1");
}

TEST(Url, DefaultPortsComeFromTheScheme) {
  std::string error;
  auto plain = http("http://am", error);
  ASSERT_TRUE(plain) << error;
  EXPECT_EQ(plain->port, "80");
  EXPECT_EQ(plain->host_header(), "am") << "the default port is left out of Host";
  auto secure = http("HTTPS://am/x", error);
  ASSERT_TRUE(secure) << error;
  EXPECT_EQ(secure->scheme, "https");
  EXPECT_EQ(secure->port, "443");
  auto explicit_default = http("https://am:443", error);
  ASSERT_TRUE(explicit_default) << error;
  EXPECT_EQ(explicit_default->host_header(), "am");
  auto ws = parse_url("wss://loki.example/prefix", {"http", "https", "ws", "wss"}, error);
  ASSERT_TRUE(ws) << error;
  EXPECT_TRUE(ws->tls);
  EXPECT_EQ(ws->port, "443");
  EXPECT_EQ(ws->target, "/prefix");
}

TEST(Url, Ipv6LiteralsLoseTheirBracketsButKeepThemInHost) {
  std::string error;
  auto v6 = http("http://[::1]:9093/am", error);
  ASSERT_TRUE(v6) << error;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_TRUE(v6->ip_literal);
  EXPECT_EQ(v6->target, "/am");
  EXPECT_EQ(v6->host_header(), "[::1]:9093");
  EXPECT_EQ(v6->shown, "http://[::1]:9093/…");
  auto v6default = http("https://[2001:db8::7]/", error);
  ASSERT_TRUE(v6default) << error;
  EXPECT_EQ(v6default->host_header(), "[2001:db8::7]");
  auto v4 = http("http://127.0.0.1:8080", error);
  ASSERT_TRUE(v4) << error;
  EXPECT_TRUE(v4->ip_literal);
  EXPECT_EQ(v4->host, "127.0.0.1");
}

TEST(Url, CredentialsAreFoundAndNeverShown) {
  std::string error;
  auto u = http("https://admin:hunter2@am.example:9093/api?token=s3cret", error);
  ASSERT_TRUE(u) << error;
  EXPECT_TRUE(u->has_credentials);
  EXPECT_EQ(u->host, "am.example");
  EXPECT_EQ(u->shown, "https://am.example:9093/…");
  EXPECT_EQ(u->shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(u->shown.find("admin"), std::string::npos);
  EXPECT_EQ(u->host_header().find("admin"), std::string::npos);
  auto plain = http("http://am:9093/", error);
  ASSERT_TRUE(plain) << error;
  EXPECT_FALSE(plain->has_credentials);
}

TEST(Url, ABadUrlSaysWhatIsWrongWithoutEchoingSecrets) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c : {Case{"alertmanager:9093", "not an http:// or https:// URL"},
                        Case{"ftp://user:pw@files", "not an http:// or https:// URL"},
                        Case{"am.example", "not a URL: write http:// or https://host[:port][/path]"},
                        Case{"http://:9093", "no host"},
                        Case{"http:///path", "no host"},
                        Case{"http://am:port", "cannot be read as a URL"},
                        Case{"http://am:80x/path", "cannot be read as a URL"},
                        Case{"http://am:99999", "the port is not a number from 1 to 65535"},
                        Case{"http://am:0", "the port is not a number from 1 to 65535"},
                        Case{"http://[::1", "unclosed [ in the host"},
                        Case{"http://am host:80", "cannot be read as a URL"}}) {
    std::string error;
    EXPECT_FALSE(http(c.text, error)) << c.text;
    EXPECT_NE(error.find(c.says), std::string::npos) << c.text << " said: " << error;
    EXPECT_EQ(error.find("pw"), std::string::npos) << error;
  }
}

}  // namespace
}  // namespace klaxon::net
