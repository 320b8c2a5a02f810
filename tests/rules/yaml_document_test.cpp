#include "rules/yaml_document.hpp"

#include <gtest/gtest.h>

#include <string>

namespace klaxon::rules {
namespace {

// The document is refused: this message, on this line, and no tree to walk.
::testing::AssertionResult RefusedAt(const YamlDocument& d, int line, const std::string& message) {
  if (!d.error()) return ::testing::AssertionFailure() << "no error";
  if (d.error()->line != line || d.error()->message != message)
    return ::testing::AssertionFailure() << "line " << d.error()->line << ": " << d.error()->message;
  if (d.root()) return ::testing::AssertionFailure() << "a root despite the error";
  return ::testing::AssertionSuccess();
}

TEST(YamlDocument, EveryNodeHasTheLineItStartsOn) {
  const YamlDocument d(R"(top: 1
list:
  - id: a
    empty:
    flow: {
      k: v }
  -
  - [x,
     y]
anchored: &a
  k: v
)");
  ASSERT_FALSE(d.error());
  const YamlNode root = d.root();
  EXPECT_EQ(root.line(), 1);  // a block map: its first key
  const YamlNode list = root["list"];
  EXPECT_EQ(list.line(), 3);  // a block sequence: its first `-`
  std::vector<YamlNode> items;
  for (const YamlNode& item : list.items()) items.push_back(item);
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].line(), 3);           // `- id: a`: the map starts at `id`
  EXPECT_EQ(items[0]["empty"].line(), 4);  // an empty value: its key's line
  EXPECT_EQ(items[0]["flow"].line(), 5);   // a flow map: its `{`
  EXPECT_EQ(items[0]["flow"]["k"].line(), 6);
  EXPECT_EQ(items[1].line(), 7);  // an empty item: its `-`
  EXPECT_EQ(items[2].line(), 8);
  EXPECT_EQ(root["anchored"].line(), 10);  // the anchor is where the node starts
}

TEST(YamlDocument, PlainEmptyTildeAndNullAreNullQuotedOrTaggedTheyAreText) {
  const YamlDocument d("a:\nb: ~\nc: null\nd: NULL\ne: '~'\nf: !!str null\ng: \"\"\nh: nullish\n");
  ASSERT_FALSE(d.error());
  for (const char* key : {"a", "b", "c", "d"}) {
    const YamlNode n = d.root()[key];
    EXPECT_TRUE(n) << key;
    EXPECT_FALSE(n.is_scalar() || n.is_map() || n.is_sequence()) << key;
    EXPECT_EQ(n.text(), "") << key;
  }
  EXPECT_EQ(d.root()["e"].text(), "~");
  EXPECT_EQ(d.root()["f"].text(), "null");
  EXPECT_TRUE(d.root()["g"].is_scalar());
  EXPECT_EQ(d.root()["h"].text(), "nullish");
  EXPECT_FALSE(d.root()["missing"]);
}

TEST(YamlDocument, MapsAndSequencesInOrder) {
  const YamlDocument d("m: {b: 1, a: 2, c: [x, y, z]}\n");
  ASSERT_FALSE(d.error());
  const YamlNode m = d.root()["m"];
  EXPECT_EQ(m.size(), 3u);
  std::string keys;
  for (const auto& [key, value] : m.pairs()) keys += key.text();
  EXPECT_EQ(keys, "bac");
  EXPECT_EQ(m["a"].integer(), 2);
  std::string items;
  for (const YamlNode& item : m["c"].items()) items += item.text();
  EXPECT_EQ(items, "xyz");
  EXPECT_EQ(m["c"].size(), 3u);
  EXPECT_TRUE(m["a"].items().begin() == m["a"].items().end());  // not a sequence: nothing
}

TEST(YamlDocument, IntegersAreWholeDecimalNumbers) {
  const YamlDocument d("a: -12\nb: +3\nc: 0x10\nd: 1.5\ne: '7'\nf: 99999999999\n");
  EXPECT_EQ(d.root()["a"].integer(), -12);
  EXPECT_EQ(d.root()["e"].integer(), 7);
  for (const char* key : {"b", "c", "d", "f"}) EXPECT_FALSE(d.root()[key].integer()) << key;
}

// `l0: &l0 [lol, ...]`, then each level an anchored list of ten aliases of the one before.
std::string laughs(int levels) {
  std::string bomb = "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (int i = 1; i < levels; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 10; ++j) bomb += (j ? ", *l" : "*l") + std::to_string(i - 1);
    bomb += "]\n";
  }
  return bomb;
}

// An alias is its anchor's node, not a copy.
TEST(YamlDocument, AnAliasIsItsAnchorsNode) {
  const YamlDocument d(laughs(5));  // 100,000 laughs: 4 MB expanded
  ASSERT_FALSE(d.error()) << d.error()->message;
  YamlNode n = d.root()["l4"];
  for (int depth = 4; depth > 0; --depth) {
    ASSERT_EQ(n.size(), 10u);
    n = *n.items().begin();
  }
  EXPECT_EQ(n.line(), 1);
  EXPECT_EQ((*n.items().begin()).text(), "lol");

  EXPECT_TRUE(RefusedAt(YamlDocument("a: *nowhere\n"), 1, "not valid YAML: undefined alias '*nowhere'"));
}

// The pack reader copies what it reads, so what aliases add is bounded: a billion laughs, or one
// big value aliased thousands of times (2.5 GB from 175 KB of text), is refused at the alias
// that crosses the bound, with an error a pack author can act on, before any memory is spent.
TEST(YamlDocument, AliasesThatExpandPast64MiBAreRefused) {
  const std::string refused = "aliases expand this pack past 64 MiB (an alias bomb?); write the values out";
  EXPECT_TRUE(RefusedAt(YamlDocument(laughs(10)), 8, refused));

  std::string wide = "big: &big '" + std::string(100'000, 'x') + "'\nrules:\n";
  for (int i = 0; i < 25'000; ++i) wide += "  - *big\n";
  EXPECT_TRUE(RefusedAt(YamlDocument(wide), 3 + 671, refused));  // 671 aliases are 64 MiB

  std::string fine = "big: &big '" + std::string(100'000, 'x') + "'\nrules:\n";
  for (int i = 0; i < 600; ++i) fine += "  - *big\n";
  EXPECT_FALSE(YamlDocument(fine).error());
}

TEST(YamlDocument, MergeKeysAreKeysLikeAnyOther) {
  const YamlDocument d("base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n");
  ASSERT_FALSE(d.error());
  EXPECT_FALSE(d.root()["m"]["x"]);
  EXPECT_EQ(d.root()["m"]["<<"]["x"].text(), "1");
}

TEST(YamlDocument, AKeyGivenTwiceIsAnErrorOnTheSecond) {
  EXPECT_TRUE(RefusedAt(YamlDocument("a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n"), 5, "not valid YAML: duplicate key 'c'"));

  std::string big;  // past the size where keys are hashed rather than compared in pairs
  for (int i = 0; i < 40; ++i) big += "k" + std::to_string(i) + ": v\n";
  big += "k17: again\nk3: again\n";
  EXPECT_TRUE(RefusedAt(YamlDocument(big), 41, "not valid YAML: duplicate key 'k17'"));

  EXPECT_FALSE(YamlDocument("a: 1\n'a ': 2\n\"b\": 3\nb2: 4\n").error());
}

TEST(YamlDocument, ErrorsSayWhatAndWhere) {
  EXPECT_TRUE(RefusedAt(YamlDocument("a: 1\nb: 'open\n"), 3,
                        "not valid YAML: found unexpected end of stream (while scanning a quoted scalar)"));

  const YamlDocument bad_byte("a: 1\nb: 2\nc: \xff\n");  // libyaml says where only as an offset
  ASSERT_TRUE(bad_byte.error());
  EXPECT_EQ(bad_byte.error()->line, 3);
  EXPECT_EQ(bad_byte.error()->message.rfind("not valid YAML: invalid", 0), 0u) << bad_byte.error()->message;
}

TEST(YamlDocument, OnlyTheFirstDocumentIsRead) {
  const YamlDocument d("a: 1\n---\nb: [unclosed\n");
  ASSERT_FALSE(d.error());
  EXPECT_EQ(d.root()["a"].text(), "1");
  EXPECT_FALSE(d.root()["b"]);
}

TEST(YamlDocument, NoDocumentIsNoRootAndNoError) {
  for (const char* text : {"", "# only\n\n# comments\n", "\xEF\xBB\xBF"}) {
    const YamlDocument d(text);
    EXPECT_FALSE(d.error()) << text;
    EXPECT_FALSE(d.root()) << text;
  }
}

}  // namespace
}  // namespace klaxon::rules
