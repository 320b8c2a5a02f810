// `klaxon loki --shard I/N` against the Loki-protocol test server: two shards replaying one
// window over 40 streams see disjoint sets of streams that together are all 40, each where the
// documented hash (FNV-1a 64 over sorted `name=value\n`) puts it; a bad --shard is a usage error.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "adapters/sources/loki_source.hpp"
#include "engine/civil_time.hpp"
#include "tests/support/loki_test_server.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_support.hpp"

namespace klaxon {
namespace {


// The hash is part of the contract: a fleet mid-upgrade must agree on it. These values were
// computed by hand (python: h = (h ^ byte) * 1099511628211 mod 2^64 from 14695981039346656037).
TEST(LokiShard, TheStreamHashIsFnv1a64OverSortedNameValueLines) {
  EXPECT_EQ(sources::stream_shard_hash({{"a", "b"}}), 0xec8b8c82c37596fbull);
  EXPECT_EQ(sources::stream_shard_hash({{"pod", "app1"}, {"namespace", "default"}}), 0x59f4d24f58f6f8e8ull)
      << "labels are sorted by name first";
}

TEST(LokiShard, TwoShardsSplitFortyStreamsWithNoOverlapAndNoGap) {
  test::LokiTestServer server;
  Nanos first = 0, last = 0;
  for (int s = 0; s < 40; ++s) {
    const std::string labels = R"({"namespace":"default","pod":"app)" + std::to_string(s) + R"("})";
    last = server.append(labels, "x509: certificate has expired or is not yet valid (stream-" + std::to_string(s) + ")");
    if (first == 0) first = last;
  }
  const std::vector<std::string> window{"--from", format_rfc3339_nano(first), "--to", format_rfc3339_nano(last + 1)};
  std::set<int> seen[2];
  for (int shard = 0; shard < 2; ++shard) {
    std::vector<std::string> args{"--format", "jsonl", "--matches", "loki", "--url", server.url(),
                                  "--query", "{namespace=\"default\"}", "--shard", std::to_string(shard) + "/2"};
    args.insert(args.end(), window.begin(), window.end());
    auto r = test::run_klaxon(args);
    ASSERT_EQ(r.status, 0) << r.err;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) {
      const std::size_t at = l.find("(stream-");
      if (!l.starts_with("{\"type\":\"match\"") || at == std::string::npos) continue;
      const int s = std::stoi(l.substr(at + 8));
      EXPECT_TRUE(seen[shard].insert(s).second) << "stream " << s << " twice in shard " << shard;
      const std::uint64_t h = sources::stream_shard_hash({{"namespace", "default"}, {"pod", "app" + std::to_string(s)}});
      EXPECT_EQ(int(h % 2), shard) << "stream " << s;
    }
  }
  for (int s : seen[0]) EXPECT_EQ(seen[1].count(s), 0u) << "stream " << s << " in both shards";
  EXPECT_EQ(seen[0].size() + seen[1].size(), 40u);
  EXPECT_FALSE(seen[0].empty());
  EXPECT_FALSE(seen[1].empty());
}

TEST(LokiShard, ABadShardIsAUsageError) {
  for (const char* bad : {"2/2", "0/0", "1", "a/2", "-1/2", "0/2000"}) {
    auto r = test::run_klaxon({"loki", "--url", "http://127.0.0.1:9", "--query", "{a=\"b\"}", "--shard", bad});
    EXPECT_EQ(r.status, 2) << bad;
    EXPECT_NE(r.err.find("--shard"), std::string::npos) << bad << ": " << r.err;
  }
}

}  // namespace
}  // namespace klaxon
