// cli/flags.hpp — what every command's flags share: one duration check, and "did you mean".
//
// Every duration flag (--allowed-lateness, --rotate-wait, --alertmanager-resend, loki's --since
// and --idle-timeout, ...) is checked by duration_check() while CLI11 parses, so a typo is
// refused with the same words whichever flag it was, before anything starts; the value is then
// read with duration_ms(). did_you_mean() looks at the words of a command line before it is
// parsed and names the command that a mistyped word was meant to be (`klaxon rule list`,
// `klaxon rules lst`), where CLI11 would only say that it did not expect it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace klaxon::cli {

/// The option group of flags left out of --help (the README documents them). Not CLI11's empty
/// group: an option there loses its name in CLI11's errors (": soon is not a duration"); klaxon's
/// help formatter (cli/main.cpp) leaves this group out instead.
inline constexpr const char* kHiddenGroup = "Hidden";

/// The check of a duration flag: 30s, 15m, 2h, 7d, Go's 1h30m0s, or 500ms. `positive`: zero is
/// refused too.
CLI::Validator duration_check(bool positive = true);
/// The check of a count flag (--max-streams, --max-line-bytes, ...): digits only, from `min` to
/// `max`. Refuses a sign ("-5" would wrap around to a huge count) and numbers that do not fit.
CLI::Validator count_check(std::uint64_t min, std::uint64_t max);
/// A duration that passed duration_check().
std::chrono::milliseconds duration_ms(const std::string& text);

/// The check of --external-url: an http(s) URL with a host and no spaces, quotes or control
/// characters (it ends up in links, HTML and JSON).
CLI::Validator external_url_check();

/// For a command line whose words name no command where one is expected: what to say ("'rule'
/// is not a command; did you mean `klaxon rules`?"); empty when nothing looks mistyped. A word
/// where `app` takes FILEs is a mistake only if no such file exists and it is within two
/// letters of a command.
std::string did_you_mean(const CLI::App& app, const std::vector<std::string>& args);

}  // namespace klaxon::cli
