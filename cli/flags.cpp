#include "cli/flags.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "adapters/net/url.hpp"
#include "engine/duration.hpp"

namespace klaxon::cli {
namespace {

std::optional<std::chrono::milliseconds> parse_ms(std::string_view text) {
  if (text == "0") return std::chrono::milliseconds(0);  // "0: never", without a unit
  if (text.ends_with("ms")) {
    const std::string_view digits = text.substr(0, text.size() - 2);
    if (digits.empty() || digits.size() > 12 || digits.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    return std::chrono::milliseconds(std::stoll(std::string(digits)));
  }
  const auto secs = parse_duration_seconds(text);
  if (!secs) return std::nullopt;
  return std::chrono::milliseconds(*secs * 1000);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The option `word` names in `app` or, as flags fall through to the command above, its parents.
const CLI::Option* find_option(const CLI::App* app, const std::string& word) {
  for (; app != nullptr; app = app->get_parent())
    if (const CLI::Option* o = app->get_option_no_throw(word)) return o;
  return nullptr;
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app != nullptr; app = app->get_parent()) path = app->get_parent() ? " " + app->get_name() + path : "klaxon" + path;
  return path;
}

// What to say about `--name` that neither `at` nor a command above it knows.
std::string unknown_flag(const CLI::App* at, const std::string& name) {
  std::string nearest;
  std::size_t best = 3;  // at most two letters off
  for (const CLI::App* app = at; app != nullptr; app = app->get_parent())
    for (const CLI::Option* o : app->get_options())
      for (const std::string& long_name : o->get_lnames())
        if (const std::size_t d = edit_distance(name, "--" + long_name); d < best) best = d, nearest = "--" + long_name;
  const std::string path = command_path(at);
  if (!nearest.empty()) return fmt::format("{}: {} is not supported here; did you mean {}?", path, name, nearest);
  return fmt::format("{}: {} is not supported here (see {} --help)", path, name, path);
}

}  // namespace

CLI::Validator duration_check(bool positive) {
  return CLI::Validator(
      [positive](std::string& text) -> std::string {
        const auto ms = parse_ms(text);
        if (!ms || ms->count() < 0) return text + " is not a duration (write 30s, 5m, 2h, 7d)";
        if (positive && ms->count() == 0) return text + " is too short: give a duration above zero (30s, 5m)";
        return {};
      },
      "");
}

CLI::Validator count_check(std::uint64_t min, std::uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        std::uint64_t n = 0;
        const char* end = text.data() + text.size();
        const auto [at, ec] = std::from_chars(text.data(), end, n);
        if (text.empty() || text[0] < '0' || text[0] > '9' || ec != std::errc() || at != end || n < min || n > max)
          return fmt::format("{} is not a whole number from {} to {}", text, min, max);
        return {};
      },
      "");
}

CLI::Validator external_url_check() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        // The one URL parser (adapters/net/url.hpp): a URL it reads holds no space, quote, < or >,
        // so it is safe in a page's href as written.
        std::string why;
        if (!net::parse_url(text, {"http", "https"}, why))
          return text + " is not a URL klaxon can link to (write https://klaxon.example.com or http://host:9095/klaxon)";
        return {};
      },
      "");
}

std::chrono::milliseconds duration_ms(const std::string& text) { return parse_ms(text).value_or(std::chrono::milliseconds(0)); }

std::string did_you_mean(const CLI::App& app, const std::vector<std::string>& args) {
  const CLI::App* at = &app;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word == "--" || at->get_prefix_command()) break;  // the rest is not ours (kubectl's words)
    if (word.size() > 1 && word[0] == '-') {
      const std::string name = word.substr(0, word.find('='));
      if (word[1] != '-' && word.size() > 2) continue;  // -n5, -fA: left to CLI11
      const CLI::Option* o = find_option(at, name);
      if (!o) return unknown_flag(at, name);
      // A flag (--matches) takes no value: its type size is 1 all the same, only the number of
      // items it expects says so.
      if (o->get_items_expected_max() > 0 && name.size() == word.size()) ++i;  // its value
      continue;
    }
    const std::vector<const CLI::App*> commands = at->get_subcommands([](const CLI::App*) { return true; });
    if (commands.empty()) continue;
    const CLI::App* named = nullptr;
    for (const CLI::App* c : commands)
      if (c->check_name(word)) named = c;
    if (named) {
      at = named;
      continue;
    }
    const CLI::App* nearest = nullptr;
    std::size_t best = std::string::npos;
    for (const CLI::App* c : commands) {
      const std::size_t d = edit_distance(word, c->get_name());
      if (d < best) best = d, nearest = c;
    }
    const bool takes_files = !at->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty();
    if (takes_files) {
      std::error_code ec;
      if (best > 2 || std::filesystem::exists(word, ec)) continue;  // a FILE, readable or not: its own error says
    }
    std::string names;
    for (const CLI::App* c : commands) names += (names.empty() ? "" : ", ") + c->get_name();
    if (best > 2) return fmt::format("{}: '{}' is not a command; the commands are {}", command_path(at), word, names);
    return fmt::format("{}: '{}' is not a command; did you mean `{}`?", command_path(at), word, command_path(nearest));
  }
  return {};
}

}  // namespace klaxon::cli
