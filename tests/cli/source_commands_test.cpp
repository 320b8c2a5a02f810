// cli/source_commands: the table main() reads, parsed as main parses. Which source a command
// line chooses decides what klaxon reads; a wrong entry would start the wrong one or none.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/source_commands.hpp"

namespace klaxon::cli {
namespace {

// Parses `klaxon WORDS...` with every source's flags; the names of the chosen sources (its
// word, or "follow"), and what a source that was not chosen says of its flags.
struct Parsed {
  std::vector<std::string> chosen;
  std::vector<std::string> misused;
};
Parsed parse(std::vector<std::string> words) {
  CLI::App app;
  app.fallthrough();
  app.require_subcommand(0, 1);
  std::vector<std::string> files;
  app.add_option("files", files);
  const auto sources = source_commands();
  for (const auto& s : sources) s->add_flags(app, "Follow");
  std::reverse(words.begin(), words.end());  // CLI11 takes the words last first
  app.parse(words);
  Parsed p;
  for (const auto& s : sources) {
    if (s->chosen()) p.chosen.push_back(s->word() ? s->word()->get_name() : "follow");
    if (const std::string m = s->misused(); !m.empty()) p.misused.push_back(m);
  }
  return p;
}

TEST(SourceCommands, EachWordChoosesItsSourceAndOnlyIt) {
  EXPECT_EQ(parse({"kubectl", "-l", "app=x"}).chosen, std::vector<std::string>{"kubectl"});
  EXPECT_EQ(parse({"loki", "--url", "http://127.0.0.1:1", "--query", "{a=\"b\"}"}).chosen,
            std::vector<std::string>{"loki"});
  EXPECT_EQ(parse({"serve", "--listen", "127.0.0.1:0"}).chosen, std::vector<std::string>{"serve"});
  EXPECT_EQ(parse({"--follow", "/var/log/pods"}).chosen, std::vector<std::string>{"follow"});
}

TEST(SourceCommands, NoneIsChosenForFilesOrStandardInput) {
  EXPECT_TRUE(parse({}).chosen.empty());
  EXPECT_TRUE(parse({"incident.log.gz"}).chosen.empty());
}

TEST(SourceCommands, FollowFlagsWithoutFollowAreSaid) {
  EXPECT_EQ(parse({"--state", "f.state"}).misused, std::vector<std::string>{"--from-end and --state go with --follow PATH"});
  EXPECT_EQ(parse({"--from-end"}).misused, std::vector<std::string>{"--from-end and --state go with --follow PATH"});
  EXPECT_TRUE(parse({"--follow", "x", "--state", "f.state"}).misused.empty());
}

TEST(SourceCommands, EverySourceWordHasItsOwnHelp) {
  CLI::App app;
  const auto sources = source_commands();
  for (const auto& s : sources) s->add_flags(app, "Follow");
  std::vector<std::string> words;
  for (const auto& s : sources)
    if (s->word()) words.push_back(s->word()->get_name());
  EXPECT_EQ(words, (std::vector<std::string>{"kubectl", "loki", "serve"}));
  for (const auto& s : sources) {
    if (s->word()) {
      EXPECT_FALSE(s->word()->get_description().empty()) << s->word()->get_name();
    }
  }
}

}  // namespace
}  // namespace klaxon::cli
