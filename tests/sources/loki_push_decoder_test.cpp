// Loki push bodies byte by byte: protobuf+snappy built with the generated classes, JSON, gzip,
// and the bad ones a user may send (truncated snappy, wrong type, bombs, broken selectors).
#include <gtest/gtest.h>

#include <snappy.h>
#include <zlib.h>

#include "adapters/sources/loki_push.pb.h"
#include "adapters/sources/loki_push_decoder.hpp"

namespace klaxon::sources {
namespace {

constexpr std::size_t kMax = 64u << 20;

std::string protobuf_body(const std::string& labels, const std::vector<std::pair<std::int64_t, std::string>>& entries) {
  logproto::PushRequest req;
  auto* s = req.add_streams();
  s->set_labels(labels);
  for (const auto& [ns, line] : entries) {
    auto* e = s->add_entries();
    e->mutable_timestamp()->set_seconds(ns / 1'000'000'000);
    e->mutable_timestamp()->set_nanos(int(ns % 1'000'000'000));
    e->set_line(line);
  }
  std::string raw, compressed;
  req.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &compressed);
  return compressed;
}

// window_bits: 16 + MAX_WBITS gzip, MAX_WBITS zlib (HTTP deflate), -MAX_WBITS raw deflate.
std::string compress(const std::string& in, int window_bits) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&z, in.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = uInt(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}
std::string gzip(const std::string& in) { return compress(in, 16 + MAX_WBITS); }

PushRequestBody ok(const std::variant<PushRequestBody, PushError>& r) {
  if (auto* e = std::get_if<PushError>(&r)) ADD_FAILURE() << e->status << " " << e->message;
  return std::holds_alternative<PushRequestBody>(r) ? std::get<PushRequestBody>(r) : PushRequestBody{};
}

PushError error(const std::variant<PushRequestBody, PushError>& r) {
  EXPECT_TRUE(std::holds_alternative<PushError>(r)) << "the body should have been refused";
  return std::holds_alternative<PushError>(r) ? std::get<PushError>(r) : PushError{0, ""};
}

TEST(LokiPushDecoder, ProtobufSnappyBodyGivesLabelsTimesAndLines) {
  const std::string body =
      protobuf_body(R"({namespace="dapr-system", app="dapr-sentry"})", {{1712015015931825236, "first"}, {1712015016000000001, "second"}});
  const auto r = ok(decode_push_body(body, "application/x-protobuf", "", kMax));
  EXPECT_EQ(r.format, PushFormat::protobuf);
  ASSERT_EQ(r.streams.size(), 1u);
  const auto want = Labels{{"app", "dapr-sentry"}, {"namespace", "dapr-system"}};
  EXPECT_EQ(r.streams[0].labels, want);
  ASSERT_EQ(r.streams[0].entries.size(), 2u);
  EXPECT_EQ(r.streams[0].entries[0].time_ns, 1712015015931825236);
  EXPECT_EQ(r.streams[0].entries[1].line, "second");
  // No Content-Type means protobuf, as in Loki.
  EXPECT_EQ(ok(decode_push_body(body, "", "", kMax)).streams.size(), 1u);
}

TEST(LokiPushDecoder, JsonBodyPlainAndGzipped) {
  const std::string json =
      R"({"streams":[{"stream":{"pod":"a","ns":"x"},"values":[["1700000000000000001","line \"one\"\n"],)"
      R"(["1700000000000000002","two",{"trace_id":"t"}]]},{"stream":{"pod":"b"},"values":[]}]})";
  for (const auto& [body, encoding] : {std::pair{json, ""}, std::pair{gzip(json), "gzip"}}) {
    const auto r = ok(decode_push_body(body, "application/json; charset=utf-8", encoding, kMax));
    EXPECT_EQ(r.format, PushFormat::json);
    ASSERT_EQ(r.streams.size(), 2u);
    EXPECT_EQ(r.streams[0].labels.front().first, "ns");  // sorted
    ASSERT_EQ(r.streams[0].entries.size(), 2u);
    EXPECT_EQ(r.streams[0].entries[0].line, "line \"one\"\n");
    EXPECT_EQ(r.streams[0].entries[1].time_ns, 1700000000000000002);
  }
}

TEST(LokiPushDecoder, DeflateZlibOrRawAndNumericTimestamps) {
  const std::string json = R"({"streams":[{"stream":{"a":"b"},"values":[[1700000000000000003,"x"]]}]})";
  for (const int bits : {MAX_WBITS, -MAX_WBITS}) {
    const auto r = ok(decode_push_body(compress(json, bits), "application/json", "deflate", kMax));
    ASSERT_EQ(r.streams.size(), 1u) << bits;
    EXPECT_EQ(r.streams[0].entries.at(0).time_ns, 1700000000000000003);
  }
  std::string broken = gzip(json);
  broken.resize(broken.size() - 10);
  const PushError e = error(decode_push_body(broken, "application/json", "gzip", kMax));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.message.find("gzip"), std::string::npos) << e.message;
}

TEST(LokiPushDecoder, TruncatedSnappyIsRefusedWith400) {
  std::string body = protobuf_body(R"({app="x"})", {{1, std::string(1000, 'a')}});
  body.resize(body.size() / 2);
  const PushError e = error(decode_push_body(body, "application/x-protobuf", "", kMax));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.message.find("snappy"), std::string::npos) << e.message;
}

TEST(LokiPushDecoder, SnappyThatIsNotAPushRequestIsRefused) {
  std::string garbage = "\xff\xff\xff\x0f not protobuf at all", compressed;
  snappy::Compress(garbage.data(), garbage.size(), &compressed);
  EXPECT_EQ(error(decode_push_body(compressed, "application/x-protobuf", "", kMax)).status, 400u);
}

TEST(LokiPushDecoder, WrongContentTypeOrEncodingIs415) {
  EXPECT_EQ(error(decode_push_body("x", "text/plain", "", kMax)).status, 415u);
  EXPECT_EQ(error(decode_push_body("x", "application/json", "br", kMax)).status, 415u);
}

TEST(LokiPushDecoder, MalformedJsonSaysWhatShapeIsExpected) {
  for (const std::string body : {R"({"streams":[{"stream":{"a":"b"},"values":[["notanumber","x"]]}]})",
                                 R"({"streams":[{"stream":{"a":"b"},"values":[["1"]]}]})",
                                 R"({"streams":[{"stream":{"a":"b"}}]})", R"({"streams":[)", "not json"}) {
    const PushError e = error(decode_push_body(body, "application/json", "", kMax));
    EXPECT_EQ(e.status, 400u) << body;
    EXPECT_NE(e.message.find("JSON"), std::string::npos) << e.message;
  }
}

TEST(LokiPushDecoder, BombsAndOversizedBodiesAre413BeforeTheyAreHeld) {
  const std::string big(8u << 20, 'a');
  const std::string json = R"({"streams":[{"stream":{"a":"b"},"values":[["1",")" + big + R"("]]}]})";
  EXPECT_EQ(error(decode_push_body(gzip(json), "application/json", "gzip", 1u << 20)).status, 413u);
  EXPECT_EQ(error(decode_push_body(protobuf_body(R"({a="b"})", {{1, big}}), "", "", 1u << 20)).status, 413u);
  EXPECT_EQ(error(decode_push_body(json, "application/json", "", 1u << 20)).status, 413u);
}

TEST(LokiPushDecoder, BadSelectorIsRefusedAndNamesIt) {
  const PushError e = error(decode_push_body(protobuf_body("app=x", {{1, "l"}}), "", "", kMax));
  EXPECT_EQ(e.status, 400u);
  EXPECT_NE(e.message.find("app=x"), std::string::npos) << e.message;
}

TEST(LokiPushDecoder, SelectorsParseGoQuotingAndFormatBack) {
  const auto l = parse_label_selector(R"( { b = "say \"hi\"\\n" , a="" } )");
  ASSERT_TRUE(l);
  const auto want = Labels{{"a", ""}, {"b", "say \"hi\"\\n"}};
  EXPECT_EQ(*l, want);
  EXPECT_EQ(format_label_selector(*l), R"({a="", b="say \"hi\"\\n"})");
  EXPECT_EQ(parse_label_selector("{}")->size(), 0u);
  for (const char* bad : {"", "{a=\"b\"", "{a=b}", "{a=\"b\" c=\"d\"}", "{=\"b\"}", "{a=\"b\"} x", "{a!=\"b\"}"})
    EXPECT_FALSE(parse_label_selector(bad)) << bad;
}

}  // namespace
}  // namespace klaxon::sources
