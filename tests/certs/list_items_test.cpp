// tests/certs/list_items_test.cpp — an API server's list cut into its items as it streams in:
// every item whole whatever the chunks (down to one byte at a time), strings with brackets and
// escaped quotes in them, the list's metadata kept; an item too large is passed over and named
// by its head; what is not a list is said, not held.
#include "adapters/certs/list_items.hpp"

#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <simdjson.h>

namespace klaxon::certs {
namespace {

struct Cut {
  std::vector<std::string> items;
  std::vector<std::pair<std::string, std::size_t>> oversized;
  std::string rest, error;
  bool fed = true;
};

Cut cut(const std::string& list, std::size_t chunk, std::size_t max_item = 1 << 20) {
  Cut c;
  ListItems items(
      max_item,
      [&](std::string_view item) {
        c.items.emplace_back(item);
        // The promised padding is there: simdjson parses the item in place.
        simdjson::dom::parser parser;
        simdjson::dom::element e;
        EXPECT_EQ(parser.parse(item.data(), item.size(), false).get(e), simdjson::SUCCESS) << item;
      },
      [&](std::string_view head, std::size_t size) { c.oversized.emplace_back(std::string(head), size); });
  for (std::size_t at = 0; at < list.size() && c.fed; at += chunk) c.fed = items.feed(std::string_view(list).substr(at, chunk));
  c.rest = items.finish();
  c.error = items.error();
  return c;
}

const std::string kList =
    R"({"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[)"
    R"({"metadata":{"name":"a","namespace":"ns"},"data":{"x":"]}\"items\":["}} ,)"
    "\n"
    R"({"metadata":{"name":"b","namespace":"ns","labels":{"k":"v\\"}},"data":{"tls.crt":"QUJD"}})"
    R"(]})";

TEST(ListItems, EveryItemWholeWhateverTheChunks) {
  for (std::size_t chunk : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}, kList.size()}) {
    const Cut c = cut(kList, chunk);
    ASSERT_TRUE(c.fed) << chunk << ": " << c.error;
    ASSERT_EQ(c.items.size(), 2u) << chunk;
    EXPECT_EQ(c.items[0], R"({"metadata":{"name":"a","namespace":"ns"},"data":{"x":"]}\"items\":["}})") << chunk;
    EXPECT_EQ(c.items[1], R"({"metadata":{"name":"b","namespace":"ns","labels":{"k":"v\\"}},"data":{"tls.crt":"QUJD"}})")
        << chunk;
    EXPECT_EQ(c.rest, R"({"kind":"SecretList","apiVersion":"v1","metadata":{"resourceVersion":"42","continue":"abc"},"items":[]})")
        << chunk;
    EXPECT_TRUE(c.oversized.empty());
  }
}

TEST(ListItems, MetadataAfterTheItemsIsKeptToo) {
  const Cut c = cut(R"({"items":[{"a":1},{"b":[2]}],"metadata":{"continue":""}})", 3);
  ASSERT_EQ(c.items.size(), 2u) << c.error;
  EXPECT_EQ(c.items[1], R"({"b":[2]})");
  EXPECT_EQ(c.rest, R"({"items":[],"metadata":{"continue":""}})");
}

TEST(ListItems, AnEmptyListHasNoItems) {
  const Cut c = cut(R"({"kind":"List","metadata":{},"items":[]})", 5);
  EXPECT_TRUE(c.items.empty());
  EXPECT_EQ(c.rest, R"({"kind":"List","metadata":{},"items":[]})");
}

TEST(ListItems, AnItemTooLargeIsPassedOverAndNamedByItsHead) {
  const std::string big(5000, 'Q');
  const std::string list = fmt::format(
      R"({{"items":[{{"metadata":{{"name":"huge","namespace":"ns"}},"data":{{"v":"{}"}}}},{{"metadata":{{"name":"small"}}}}]}})",
      big);
  const Cut c = cut(list, 100, 1000);
  ASSERT_EQ(c.items.size(), 1u) << c.error;
  EXPECT_EQ(c.items[0], R"({"metadata":{"name":"small"}})");
  ASSERT_EQ(c.oversized.size(), 1u);
  EXPECT_TRUE(c.oversized[0].first.starts_with(R"({"metadata":{"name":"huge","namespace":"ns"})")) << c.oversized[0].first;
  EXPECT_LE(c.oversized[0].first.size(), 4096u);
  EXPECT_EQ(c.oversized[0].second, big.size() + 61);
  EXPECT_FALSE(c.rest.empty());
}

TEST(ListItems, WhatIsNotAListIsSaidNotHeld) {
  EXPECT_EQ(cut("Error from server: gateway timeout\n", 4).rest, "");
  EXPECT_EQ(cut(R"({"kind":"Status","code":500})", 4).error, "no items");
  EXPECT_EQ(cut(R"({"items":[1,2]})", 4).error, "an element of its items is not an object");
  EXPECT_EQ(cut(R"({"items":[{"a":1},{"b":)", 4).error, "the answer ends before the list does");
  EXPECT_EQ(cut(R"({"items":[]}]]]})", 4).error, "unbalanced brackets");
  // A key that only looks like "items" (escaped quote inside) is not the items.
  const Cut fake = cut(R"({"x\"items":[{"a":1}],"items":[{"b":2}]})", 3);
  ASSERT_EQ(fake.items.size(), 1u) << fake.error;
  EXPECT_EQ(fake.items[0], R"({"b":2})");
  // The list's own part is bounded.
  const Cut huge_metadata = cut(R"({"metadata":{"x":")" + std::string(2 << 20, 'a') + R"("},"items":[]})", 65536);
  EXPECT_FALSE(huge_metadata.fed);
  EXPECT_EQ(huge_metadata.error, "the list's own fields are larger than 1 MiB");
}

}  // namespace
}  // namespace klaxon::certs
