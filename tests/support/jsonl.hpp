// tests/support/jsonl.hpp — klaxon's `--format jsonl` output read as JSON (simdjson), not searched
// as text: a line that does not parse fails the test, and a test asks for fields by name.
//
//   test::JsonLines j(r.out);                 // every non-empty line must be a JSON object
//   for (auto e : j.of_type("incident")) ...  // the lines whose "type" is "incident"
//   test::field(e, "class")                   // a string's text, a number's digits, "(absent)"
#pragma once

#include <gtest/gtest.h>
#include <simdjson.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace klaxon::test {

/// One text's lines, each parsed as a JSON object; a line that is not one fails the test.
class JsonLines {
 public:
  explicit JsonLines(std::string_view text) {
    std::size_t n = 0;
    for (std::size_t start = 0; start < text.size();) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      const std::string_view line = text.substr(start, end - start);
      start = end + 1;
      ++n;
      if (line.empty()) continue;
      auto parser = std::make_unique<simdjson::dom::parser>();
      simdjson::dom::object object;
      if (const auto error = parser->parse(line.data(), line.size()).get(object); error) {
        ADD_FAILURE() << "stdout line " << n << " is not a JSON object (" << simdjson::error_message(error)
                      << "): " << line.substr(0, 500);
        continue;
      }
      parsers_.push_back(std::move(parser));
      lines_.push_back(object);
    }
  }
  JsonLines(const JsonLines&) = delete;
  JsonLines& operator=(const JsonLines&) = delete;

  const std::vector<simdjson::dom::object>& all() const { return lines_; }
  std::size_t size() const { return lines_.size(); }
  /// The lines whose "type" is `type` ("match", "incident", "summary", ...).
  std::vector<simdjson::dom::object> of_type(std::string_view type) const {
    std::vector<simdjson::dom::object> out;
    for (const auto& o : lines_) {
      std::string_view t;
      if (o["type"].get(t) == simdjson::SUCCESS && t == type) out.push_back(o);
    }
    return out;
  }

 private:
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers_;  // each line's document lives in its parser
  std::vector<simdjson::dom::object> lines_;
};

/// A value as text: a string's contents, a number or bool as JSON writes it, "null", "(absent)".
/// `key` may be a JSON pointer ("/labels/pod") or a top-level name.
inline std::string field(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element e;
  const auto error = key.starts_with('/') ? o.at_pointer(key).get(e) : o[key].get(e);
  if (error) return "(absent)";
  if (std::string_view s; e.get(s) == simdjson::SUCCESS) return std::string(s);
  return simdjson::minify(e);
}

/// Fails the test unless every non-empty line of `text` is a JSON object.
inline void expect_json_lines(std::string_view text) { JsonLines check(text); }

}  // namespace klaxon::test
