// adapters/certs/list_items.hpp — an API server's list, cut into its items as it streams in.
//
// A list of 10,000 Secrets is some 30 MiB of JSON. Read whole, it is held whole (and parsed into
// a DOM twice its size); so a large page would cost memory in proportion to the cluster, and
// small pages cost one kubectl start each (about a second on a busy machine: 50 pages of 200
// took 99 s). ListItems reads the list as kubectl writes it: each element of the top-level
// `items` array is handed on as soon as its closing brace arrives and its bytes are wiped, so
// memory holds one object, whatever the page size. Everything outside `items` (kind,
// apiVersion, metadata with `continue` and `resourceVersion`) is kept, small, for the end.
//
// It is a lexer, not a parser: it follows strings (with their escapes) and nesting only to
// know where an item ends; each item is then parsed by simdjson, which says whether it is JSON.
// Input from the API server is not trusted: a page that is not a list, a list part that grows
// past a bound, or an item larger than `max_item` are said (not quoted), never held.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace klaxon::certs {

class ListItems {
 public:
  /// `item`: one whole element of `items` (a JSON object's text), valid during the call only,
  /// with room for simdjson's padding after it (`padded_capacity()` bytes in all).
  /// `oversized`: an element larger than `max_item` was passed over; `head` is its first bytes
  /// (to name it by its metadata, which comes first), `size` its length.
  ListItems(std::size_t max_item, std::function<void(std::string_view item)> item,
            std::function<void(std::string_view head, std::size_t size)> oversized);
  ~ListItems();
  ListItems(const ListItems&) = delete;
  ListItems& operator=(const ListItems&) = delete;

  /// More of the list. False once it is known not to be a list (the rest is ignored).
  bool feed(std::string_view bytes);
  /// After the last byte: the list without its items (`{"kind":..,"metadata":{..},"items":[]}`)
  /// for its metadata; empty when it was not a whole list (`error()` says why).
  std::string finish();
  const std::string& error() const { return error_; }

  /// The bytes an item's buffer holds beyond its text (simdjson::SIMDJSON_PADDING or more).
  static constexpr std::size_t kPadding = 64;

 private:
  void fail(const char* why);
  void end_item();

  std::size_t max_item_;
  std::function<void(std::string_view)> item_;
  std::function<void(std::string_view, std::size_t)> oversized_;
  std::string rest_;    // the list outside `items`
  std::string held_;    // the item being read (or the head of an oversized one)
  std::size_t item_size_ = 0;
  std::string key_;     // the last string at the list's own level (a key candidate), up to 16 bytes
  std::size_t string_start_ = 0;  // where in rest_ that string began
  std::string error_;
  int depth_ = 0;       // nesting of objects and arrays
  bool in_string_ = false, escaped_ = false;
  bool keyed_ = false;  // `key_` was followed by ':'
  bool in_items_ = false, in_item_ = false, items_seen_ = false, failed_ = false;
};

}  // namespace klaxon::certs
