// rules/yaml_document.hpp — the YAML a rule pack needs: maps, sequences and text, with lines.
//
// libyaml (the C parser behind PyYAML) turns the text into events; YamlDocument builds a small
// tree from them, every node in one vector and referring to its children by index. An alias is
// the index of its anchor's node, so nothing is copied for it here; but a reader copies what it
// reads, so the bytes that aliases add to the document expanded are bounded (64 MiB): past that
// (an alias bomb, a billion laughs) the document is refused with the line of the alias. Scalars
// stay text as written (`5` and `true` are not typed): the pack reader decides what a value
// means. <yaml.h> is included by the .cpp only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace klaxon::rules {

class YamlDocument;

/// One node of a YamlDocument, or none (a key the map does not have), which tests false.
/// An empty value and a plain `~`, `null`, `Null` or `NULL` are YAML's null: neither a single
/// value nor a collection (as yaml-cpp's Null was, which the pack diagnostics were written
/// against); quoted or tagged (`'~'`, `!!str null`) they are text.
///
/// Lifetime: valid while the YamlDocument it came from is.
class YamlNode {
 public:
  struct Pair;
  template <typename Child>
  class Children;
  using Items = Children<YamlNode>;
  using Pairs = Children<Pair>;

  YamlNode() = default;

  explicit operator bool() const { return data_ != nullptr; }
  bool is_map() const;
  bool is_sequence() const;
  bool is_scalar() const;

  /// A scalar's value; empty for anything else.
  std::string text() const { return std::string(scalar()); }
  /// A scalar that is a whole decimal integer (an optional '-' and digits, nothing more).
  std::optional<int> integer() const;
  /// 1-based: where the node starts (an anchor or tag before it included), 0 for none. A block
  /// map starts at its first key, a flow one at its `{`; an empty value is on its key's line.
  int line() const;
  /// Entries of a map, items of a sequence; 0 for anything else.
  std::size_t size() const;

  /// A map's value for `key`; none if this is not a map or has no such key.
  YamlNode operator[](std::string_view key) const;
  /// A sequence's items in order; nothing if this is not a sequence.
  Items items() const;
  /// A map's entries in order; nothing if this is not a map.
  Pairs pairs() const;

 private:
  friend class YamlDocument;
  struct Data;
  YamlNode(const YamlDocument* document, std::uint32_t index);
  std::string_view scalar() const;  // text(), without a copy

  const YamlDocument* document_ = nullptr;
  const Data* data_ = nullptr;
};

struct YamlNode::Pair {
  YamlNode key;
  YamlNode value;
};

// No allocation of its own: a big pack has tens of thousands of nodes.
struct YamlNode::Data {
  enum class Kind : std::uint8_t { null, scalar, sequence, map };
  Kind kind = Kind::null;
  int line = 0;
  // A scalar's text is YamlDocument::scalars_[first, first + size); a collection's children are
  // YamlDocument::children_[first, first + size): a sequence's items, a map's keys and values
  // alternating.
  std::uint32_t first = 0;
  std::uint32_t size = 0;
};

/// A range over the children of one collection, by value: a sequence's items
/// (`for (const YamlNode& item : node.items())`) or a map's entries, a key and a value each
/// (`for (const auto& [key, value] : node.pairs())`).
template <typename Child>
class YamlNode::Children {
  static constexpr int kStep = std::is_same_v<Child, Pair> ? 2 : 1;  // indices per child

 public:
  class Iterator {
   public:
    Iterator(const YamlDocument* document, const std::uint32_t* at) : document_(document), at_(at) {}
    Child operator*() const {
      if constexpr (kStep == 2) return {{document_, at_[0]}, {document_, at_[1]}};
      else return {document_, *at_};
    }
    Iterator& operator++() { at_ += kStep; return *this; }
    bool operator==(const Iterator& other) const { return at_ == other.at_; }

   private:
    const YamlDocument* document_;
    const std::uint32_t* at_;
  };

  Iterator begin() const { return {document_, begin_}; }
  Iterator end() const { return {document_, end_}; }

 private:
  friend class YamlNode;
  Children(const YamlDocument* document, const std::uint32_t* begin, const std::uint32_t* end)
      : document_(document), begin_(begin), end_(end) {}
  const YamlDocument* document_ = nullptr;
  const std::uint32_t* begin_ = nullptr;
  const std::uint32_t* end_ = nullptr;
};

/// A pack's text parsed: its root, or where and why it cannot be read. Only the first document
/// of the text is read (as yaml-cpp's YAML::Load did). A key given twice in one map is an error
/// (yaml-cpp kept one of the two without a word, and a rule with `id:` twice is a mistake its
/// author wants to hear about). Merge keys (`<<: *base`) are not resolved, as with yaml-cpp:
/// `<<` is a key like any other. Nothing is printed.
///
/// Errors: the first problem found, with its line; then root() is none.
class YamlDocument {
 public:
  struct Error {
    int line = 0;  // 1-based
    std::string message;
  };

  explicit YamlDocument(std::string_view text);
  YamlDocument(const YamlDocument&) = delete;
  YamlDocument& operator=(const YamlDocument&) = delete;

  const std::optional<Error>& error() const { return error_; }
  /// The first document's root; none if the text holds no document (empty, only comments).
  YamlNode root() const { return root_ ? YamlNode(this, *root_) : YamlNode(); }

 private:
  friend class YamlNode;
  class Builder;

  std::vector<YamlNode::Data> nodes_;
  std::string scalars_;                  // every scalar's text, one after the other
  std::vector<std::uint32_t> children_;  // every collection's children, each's in one run
  std::optional<std::uint32_t> root_;
  std::optional<Error> error_;
};

inline YamlNode::YamlNode(const YamlDocument* document, std::uint32_t index)
    : document_(document), data_(&document->nodes_[index]) {}

inline bool YamlNode::is_map() const { return data_ && data_->kind == Data::Kind::map; }
inline bool YamlNode::is_sequence() const { return data_ && data_->kind == Data::Kind::sequence; }
inline bool YamlNode::is_scalar() const { return data_ && data_->kind == Data::Kind::scalar; }
inline int YamlNode::line() const { return data_ ? data_->line : 0; }
inline std::string_view YamlNode::scalar() const {
  return is_scalar() ? std::string_view(document_->scalars_).substr(data_->first, data_->size) : std::string_view();
}

}  // namespace klaxon::rules
