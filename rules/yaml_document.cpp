#include "rules/yaml_document.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <yaml.h>

namespace klaxon::rules {
namespace {

// libyaml's objects, released however parsing ends.
struct Parser {
  Parser() {
    if (!yaml_parser_initialize(&parser)) throw std::bad_alloc();
  }
  ~Parser() { yaml_parser_delete(&parser); }
  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;
  yaml_parser_t parser;
};

struct Event {
  Event() = default;
  ~Event() { yaml_event_delete(&event); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  yaml_event_t event{};  // yaml_parser_parse fills it, or leaves it empty when it fails
};

bool is_null(const yaml_event_t& scalar) {
  const auto& s = scalar.data.scalar;
  if (s.style != YAML_PLAIN_SCALAR_STYLE || s.tag) return false;  // `'~'` and `!!str ~` are text
  const std::string_view value(reinterpret_cast<const char*>(s.value), s.length);
  return value.empty() || value == "~" || value == "null" || value == "Null" || value == "NULL";
}

std::string anchor_of(const unsigned char* anchor) { return anchor ? reinterpret_cast<const char*>(anchor) : ""; }

// The 1-based line of a byte of text: libyaml gives a reader error (bad UTF-8, a control
// character) as an offset only.
int line_at(std::string_view text, std::size_t offset) {
  const std::string_view before = text.substr(0, std::min(offset, text.size()));
  return 1 + int(std::count(before.begin(), before.end(), '\n'));
}

}  // namespace

// Builds the nodes from libyaml's events. A collection is added when it starts, so that its
// parent lists it in document order; its children wait in pending_ until it ends, and then move
// to children_ in one run.
class YamlDocument::Builder {
  using Node = YamlNode::Data;
  using Kind = Node::Kind;

 public:
  explicit Builder(YamlDocument& document) : document_(document) {}

  // Takes one event; false once the document is complete or wrong (see document_.error_).
  bool take(const yaml_event_t& e) {
    const int line = int(e.start_mark.line) + 1;
    switch (e.type) {
      case YAML_SCALAR_EVENT: {
        const bool null = is_null(e);
        const auto& s = e.data.scalar;
        const std::uint32_t index = add(null ? Kind::null : Kind::scalar, line, s.anchor);
        weight_[index] += s.length;
        if (!null) {
          Node& node = document_.nodes_[index];
          node.first = std::uint32_t(document_.scalars_.size());
          node.size = std::uint32_t(s.length);
          document_.scalars_.append(reinterpret_cast<const char*>(s.value), s.length);
        }
        return true;
      }
      case YAML_ALIAS_EVENT: {
        const auto anchor = anchors_.find(anchor_of(e.data.alias.anchor));
        if (anchor == anchors_.end())
          return fail(line, "not valid YAML: undefined alias '*" + anchor_of(e.data.alias.anchor) + "'");
        aliased_ = std::min(kMaxExpandedBytes + 1, aliased_ + weight_[anchor->second]);
        if (aliased_ > kMaxExpandedBytes)
          return fail(line, fmt::format("aliases expand this pack past {} MiB (an alias bomb?); write the values out",
                                        kMaxExpandedBytes >> 20));
        attach(anchor->second);
        return true;
      }
      case YAML_SEQUENCE_START_EVENT:
        open_.push_back({add(Kind::sequence, line, e.data.sequence_start.anchor), pending_.size()});
        return true;
      case YAML_MAPPING_START_EVENT:
        open_.push_back({add(Kind::map, line, e.data.mapping_start.anchor), pending_.size()});
        return true;
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT:
        return close();
      case YAML_DOCUMENT_END_EVENT:  // the first document is the pack; what follows is not read
      case YAML_STREAM_END_EVENT:
        return false;
      default:  // stream and document starts
        return true;
    }
  }

 private:
  struct Open {
    std::uint32_t node;
    std::size_t first_pending;  // where its children start in pending_
  };

  std::uint32_t add(Kind kind, int line, const unsigned char* anchor) {
    auto& nodes = document_.nodes_;
    const auto index = std::uint32_t(nodes.size());
    nodes.push_back({kind, line, 0, 0});
    weight_.push_back(1);
    // A later anchor of the same name hides the earlier one from then on. A collection's anchor
    // holds from its start, so an alias inside it makes a cycle; the pack reader walks a fixed
    // depth and never follows one around.
    if (anchor) anchors_[anchor_of(anchor)] = index;
    attach(index);
    return index;
  }

  void attach(std::uint32_t index) {
    if (open_.empty()) document_.root_ = index;
    else pending_.push_back(index);
  }

  bool close() {
    const Open open = open_.back();
    open_.pop_back();
    auto& children = document_.children_;
    Node& node = document_.nodes_[open.node];
    node.first = std::uint32_t(children.size());
    node.size = std::uint32_t(pending_.size() - open.first_pending);
    children.insert(children.end(), pending_.begin() + std::ptrdiff_t(open.first_pending), pending_.end());
    for (std::uint32_t i = 0; i < node.size; ++i)
      weight_[open.node] = std::min(kMaxExpandedBytes + 1, weight_[open.node] + weight_[children[node.first + i]]);
    pending_.resize(open.first_pending);
    if (node.kind == Kind::map)
      if (const Node* again = repeated_key(node))
        return fail(again->line, "not valid YAML: duplicate key '" + std::string(text(*again)) + "'");
    return true;
  }

  // The first key of a map, in document order, that an earlier key of it already has; nullptr
  // if none. Keys are compared as text (null with null); a collection is never a repeat.
  const Node* repeated_key(const Node& map) const {
    const auto& nodes = document_.nodes_;
    const std::uint32_t* keys = document_.children_.data() + map.first;
    const auto key = [&](std::uint32_t i) -> const Node& { return nodes[keys[2 * i]]; };
    const auto comparable = [](const Node& k) { return k.kind == Kind::scalar || k.kind == Kind::null; };
    const std::uint32_t pairs = map.size / 2;
    if (pairs <= 16) {  // the usual map: comparing every two keys is cheaper than hashing them
      for (std::uint32_t j = 1; j < pairs; ++j) {
        if (!comparable(key(j))) continue;
        for (std::uint32_t i = 0; i < j; ++i)
          if (key(i).kind == key(j).kind && text(key(i)) == text(key(j))) return &key(j);
      }
      return nullptr;
    }
    std::unordered_set<std::string_view> seen[2];  // scalars, nulls
    for (std::uint32_t j = 0; j < pairs; ++j)
      if (comparable(key(j)) && !seen[key(j).kind == Kind::null].insert(text(key(j))).second) return &key(j);
    return nullptr;
  }

  std::string_view text(const Node& scalar) const {
    return std::string_view(document_.scalars_).substr(scalar.first, scalar.size);
  }

  bool fail(int line, std::string message) {
    document_.error_ = Error{line, std::move(message)};
    return false;
  }

  YamlDocument& document_;
  std::vector<Open> open_;             // collections started and not ended, innermost last
  std::vector<std::uint32_t> pending_;  // their children so far
  std::unordered_map<std::string, std::uint32_t> anchors_;
  // What a reader that copies every value it reads pays for the document: per node, its text's
  // bytes plus one, with its children's (an alias's included); saturated past the bound. The
  // tree itself never copies an alias, but the pack reader copies what it reads, so 25,000
  // aliases of one 100 KB scalar would cost it 2.5 GB: the bytes aliases add are bounded here.
  static constexpr std::uint64_t kMaxExpandedBytes = std::uint64_t{64} << 20;
  std::vector<std::uint64_t> weight_;
  std::uint64_t aliased_ = 0;
};

YamlDocument::YamlDocument(std::string_view text) {
  if (text.size() > std::numeric_limits<std::uint32_t>::max() / 2) {  // offsets are 32-bit
    error_ = Error{0, "too big for a rule pack (2 GiB or more)"};
    return;
  }
  // Room enough, most of the time, for growing never to copy: the scalars' text adds up to less
  // than the text, and packs have a node (and a child) for every 20 to 40 bytes.
  scalars_.reserve(text.size());
  nodes_.reserve(text.size() / 16);
  children_.reserve(text.size() / 16);
  Parser p;
  if (text.empty()) text = "";  // libyaml asserts that the input is not a null pointer
  yaml_parser_set_input_string(&p.parser, reinterpret_cast<const unsigned char*>(text.data()), text.size());
  Builder builder(*this);
  for (;;) {
    Event e;
    if (!yaml_parser_parse(&p.parser, &e.event)) {
      const yaml_parser_t& failed = p.parser;
      if (failed.error == YAML_MEMORY_ERROR) throw std::bad_alloc();
      const int line = failed.error == YAML_READER_ERROR ? line_at(text, failed.problem_offset)
                                                         : int(failed.problem_mark.line) + 1;
      std::string message = std::string("not valid YAML: ") + (failed.problem ? failed.problem : "?");
      if (failed.context) message += std::string(" (") + failed.context + ")";
      error_ = Error{line, std::move(message)};
      break;
    }
    if (!builder.take(e.event)) break;
  }
  if (error_) root_.reset();
}

std::optional<int> YamlNode::integer() const {
  const std::string_view digits = scalar();
  int value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return value;
}

std::size_t YamlNode::size() const {
  if (is_map()) return data_->size / 2;
  if (is_sequence()) return data_->size;
  return 0;
}

YamlNode YamlNode::operator[](std::string_view key) const {
  for (const auto& [k, value] : pairs())
    if (k.is_scalar() && k.scalar() == key) return value;
  return {};
}

YamlNode::Items YamlNode::items() const {
  if (!is_sequence()) return {nullptr, nullptr, nullptr};
  const std::uint32_t* first = document_->children_.data() + data_->first;
  return {document_, first, first + data_->size};
}

YamlNode::Pairs YamlNode::pairs() const {
  if (!is_map()) return {nullptr, nullptr, nullptr};
  const std::uint32_t* first = document_->children_.data() + data_->first;
  return {document_, first, first + data_->size};
}

}  // namespace klaxon::rules
