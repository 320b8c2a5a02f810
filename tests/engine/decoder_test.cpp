#include "engine/decoder.hpp"

#include <gtest/gtest.h>

#include "engine/envelope.hpp"

namespace klaxon {
namespace {

struct Decoded {
  Decoder decoder;
  Record r;
  Decoded(std::string_view line, int year = 2023) { decoder.decode(line, r, year); }
};

TEST(Envelope, PeelsKubectlPrefixThenTimestamp) {
  Envelope e = peel_envelope("[pod/dapr-sentry-7f9/dapr-sentry] 2023-06-19T12:49:06.566339341Z {\"msg\":\"x\"}");
  EXPECT_EQ(e.pod, "dapr-sentry-7f9");
  EXPECT_EQ(e.container, "dapr-sentry");
  EXPECT_EQ(format_rfc3339_nano(e.time), "2023-06-19T12:49:06.566339341Z");
  EXPECT_EQ(e.payload, "{\"msg\":\"x\"}");
}

TEST(Envelope, PeelsCriAndMarksPartialPieces) {
  Envelope f = peel_envelope("2023-06-19T13:19:53.535Z stderr F hello world");
  EXPECT_EQ(f.stream, "stderr");
  EXPECT_FALSE(f.partial);
  EXPECT_EQ(f.payload, "hello world");
  Envelope p = peel_envelope("2023-06-19T13:19:53.535Z stdout P piece");
  EXPECT_TRUE(p.partial);
  EXPECT_EQ(p.payload, "piece");
}

TEST(Envelope, LeavesOtherLinesAlone) {
  for (std::string_view line : {"[INFO] not a prefix", "plain text", "[a/b]no space", "2023-06-19 not a timestamp"}) {
    Envelope e = peel_envelope(line);
    EXPECT_EQ(e.payload, line);
    EXPECT_TRUE(e.pod.empty());
    EXPECT_EQ(e.time, 0);
  }
}

TEST(Decoder, JsonMessageLevelTimeAndFields) {
  Decoded d(R"({"instance":"dapr-sentry-1","level":"warning","msg":"Dapr root certificate expiration warning: certificate has expired.","scope":"dapr.sentry","time":"2023-06-19T12:49:06.566339341Z","n":3,"ok":true})");
  EXPECT_EQ(d.r.format, PayloadFormat::json);
  EXPECT_EQ(d.r.message, "Dapr root certificate expiration warning: certificate has expired.");
  EXPECT_EQ(d.r.level, "warning");
  EXPECT_EQ(format_rfc3339_nano(d.r.time), "2023-06-19T12:49:06.566339341Z");
  EXPECT_EQ(d.r.get("scope"), "dapr.sentry");
  EXPECT_EQ(d.r.get("instance"), "dapr-sentry-1");
  EXPECT_EQ(d.r.get("n"), "3");
  EXPECT_EQ(d.r.get("ok"), "true");
}

TEST(Decoder, JsonUnescapesAndAppendsTheErrorField) {
  Decoded d(R"({"level":"error","ts":1686919877.5,"msg":"failed to renew \"cert\"","error":"x509: certificate signed by unknown authority \u003cnil\u003e","err":{"code":"E1"}})");
  EXPECT_EQ(d.r.message, "failed to renew \"cert\": x509: certificate signed by unknown authority <nil>");
  EXPECT_EQ(d.r.get("err.code"), "E1");
  EXPECT_EQ(format_rfc3339_nano(d.r.time), "2023-06-16T12:51:17.5Z");
}

// Log4j2's JsonLayout nests an exception's causes under `thrown`; the deepest one states why
// ("General SSLEngine problem" wraps "PKIX path building failed"), and the message carries it.
TEST(Decoder, JsonAppendsTheDeepestCauseOfANestedException) {
  Decoded d(R"({"level":"ERROR","message":"request failed","thrown":{"message":"General SSLEngine problem","name":"javax.net.ssl.SSLHandshakeException","cause":{"message":"PKIX path building failed","cause":{"message":"unable to find valid certification path to requested target"}}}})");
  EXPECT_EQ(d.r.message, "request failed: General SSLEngine problem: unable to find valid certification path to requested target");
  Decoded flat(R"({"message":"request failed","exception":{"class":"E","cause":"NotAfter: Mon Jan 01 00:00:00 UTC 2024"}})");
  EXPECT_EQ(flat.r.message, "request failed: NotAfter: Mon Jan 01 00:00:00 UTC 2024");
  Decoded unrelated(R"({"message":"retrying","because":"timeout"})");
  EXPECT_EQ(unrelated.r.message, "retrying");
}

// A `ts` past 2200 (or a millisecond count past it) is no time: before, 9e10 seconds became
// nanoseconds past 64 bits (found by fuzz/decoder_fuzz under UBSan).
TEST(Decoder, ATimestampBeyondTheYear2200IsNoTime) {
  Decoded far(R"({"ts":90000000000,"msg":"x509: certificate has expired"})");
  EXPECT_EQ(far.r.time, 0);
  EXPECT_EQ(far.r.message, "x509: certificate has expired");
  Decoded far_ms(R"({"ts":17180000000000000000,"msg":"x"})");
  EXPECT_EQ(far_ms.r.time, 0);
  Decoded ms(R"({"ts":1686919877500,"msg":"x"})");
  EXPECT_EQ(format_rfc3339_nano(ms.r.time), "2023-06-16T12:51:17.5Z");
}

TEST(Decoder, BrokenJsonIsReadAsPlainTextAndCounted) {
  Decoded d(R"({"level":"error","msg":"x509: certificate has expired)");
  EXPECT_EQ(d.r.format, PayloadFormat::plain);
  EXPECT_EQ(d.r.message, R"({"level":"error","msg":"x509: certificate has expired)");
  EXPECT_EQ(d.decoder.malformed_json(), 1u);
}

TEST(Decoder, DockerJsonFileWithAJsonPayload) {
  Decoded d(R"({"log":"{\"level\":\"warning\",\"msg\":\"a \\\"quoted\\\" word\",\"time\":\"2023-06-19T12:49:06Z\"}\n","stream":"stderr","time":"2023-06-19T12:49:07.1Z"})");
  EXPECT_EQ(d.r.format, PayloadFormat::json);
  EXPECT_EQ(d.r.message, "a \"quoted\" word");
  EXPECT_EQ(d.r.get("stream"), "stderr");
  EXPECT_EQ(format_rfc3339(d.r.time), "2023-06-19T12:49:06Z");  // the payload's time wins
}

// A year from context that no 64-bit nanosecond count can hold (a fuzzed envelope) leaves the
// klog line without a time of its own rather than overflowing (found by stream_fuzz).
TEST(Decoder, KlogWithAYearBeyondTheInstantsKeepsNoTime) {
  Decoded d("W0601 02:52:46.530879 1 reflector.go:347] watch ended", 371086126);
  EXPECT_EQ(d.r.format, PayloadFormat::klog);
  EXPECT_EQ(d.r.time, 0);
  EXPECT_EQ(d.r.message, "watch ended");
}

TEST(Decoder, KlogTakesItsYearFromTheEnvelope) {
  Decoded d("2023-06-01T02:52:46.531Z stderr F E0601 02:52:46.531050       1 leaderelection.go:330] error retrieving resource lock: http2: client connection lost", 1999);
  EXPECT_EQ(d.r.format, PayloadFormat::klog);
  EXPECT_EQ(d.r.level, "error");
  EXPECT_EQ(d.r.get("file"), "leaderelection.go:330");
  EXPECT_EQ(d.r.message, "error retrieving resource lock: http2: client connection lost");
  EXPECT_EQ(format_rfc3339_nano(d.r.time), "2023-06-01T02:52:46.53105Z");
  Decoded bare("W0601 02:52:46.530879 1 reflector.go:347] watch ended", 2023);
  EXPECT_EQ(format_rfc3339(bare.r.time), "2023-06-01T02:52:46Z");
  EXPECT_EQ(bare.r.level, "warning");
}

TEST(Decoder, Logfmt) {
  Decoded d(R"(time="2024-01-01T00:00:00Z" level=error msg="unable to renew" err="x509: certificate has expired" cert=web)");
  EXPECT_EQ(d.r.format, PayloadFormat::logfmt);
  EXPECT_EQ(d.r.message, "unable to renew: x509: certificate has expired");
  EXPECT_EQ(d.r.level, "error");
  EXPECT_EQ(d.r.get("cert"), "web");
  EXPECT_EQ(format_rfc3339(d.r.time), "2024-01-01T00:00:00Z");
}

TEST(Decoder, LinkerdProxyTracingText) {
  Decoded d("[    29.380529s]  WARN ThreadId(01) identity:identity{server.addr=linkerd-identity-headless.linkerd.svc.cluster.local:8080}: linkerd_reconnect: Failed to connect error=invalid peer certificate: BadSignature");
  EXPECT_EQ(d.r.format, PayloadFormat::tracing);
  EXPECT_EQ(d.r.level, "warning");
  EXPECT_TRUE(d.r.message.starts_with("ThreadId(01) identity:identity{"));
  EXPECT_TRUE(d.r.message.ends_with("error=invalid peer certificate: BadSignature"));
  EXPECT_EQ(d.r.get("uptime"), "29.380529");  // seconds since the proxy started
}

TEST(Decoder, PlainTextKeepsEverything) {
  Decoded d("some words = without a level");
  EXPECT_EQ(d.r.format, PayloadFormat::plain);
  EXPECT_EQ(d.r.message, "some words = without a level");
  EXPECT_EQ(d.r.time, 0);
}

}  // namespace
}  // namespace klaxon
