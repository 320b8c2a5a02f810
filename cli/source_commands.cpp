// cli/source_commands.cpp — the table of sources (see source_commands.hpp).
#include "cli/source_commands.hpp"

#include "cli/follow_command.hpp"
#include "cli/kubectl_command.hpp"
#include "cli/loki_command.hpp"
#include "cli/serve_command.hpp"

namespace klaxon::cli {
namespace {

// A source with a command word: `klaxon WORD [its flags]`.
template <class Command, void (*add)(CLI::App&, Command&), int (*start)(const RunOptions&, Command&)>
class WordSource final : public SourceCommand {
 public:
  void add_flags(CLI::App& app, const std::string&) override { add(app, command_); }
  bool chosen() const override { return command_.app != nullptr && command_.app->parsed(); }
  const CLI::App* word() const override { return command_.app; }
  int run(const RunOptions& run) override { return start(run, command_); }

 private:
  Command command_;
};

int start_kubectl(const RunOptions& run, KubectlCommand& c) { return run_kubectl(run, c); }
int start_loki(const RunOptions& run, LokiCommand& c) { return run_loki(run, c); }
int start_serve(const RunOptions& run, ServeCommand& c) { return run_serve(run, c.options); }

// `--follow PATH`: chosen by its flags, no word of its own.
class FollowSource final : public SourceCommand {
 public:
  void add_flags(CLI::App& app, const std::string& group) override { add_follow_flags(app, command_, group); }
  bool chosen() const override { return follow_chosen(command_); }
  std::string misused() const override { return follow_flags_misused(command_); }
  int run(const RunOptions& run) override { return run_follow(run, command_); }

 private:
  FollowCommand command_;
};

}  // namespace

std::vector<std::unique_ptr<SourceCommand>> source_commands() {
  std::vector<std::unique_ptr<SourceCommand>> all;
  all.push_back(std::make_unique<WordSource<KubectlCommand, add_kubectl_command, start_kubectl>>());
  all.push_back(std::make_unique<WordSource<LokiCommand, add_loki_command, start_loki>>());
  all.push_back(std::make_unique<WordSource<ServeCommand, add_serve_command, start_serve>>());
  all.push_back(std::make_unique<FollowSource>());
  return all;
}

}  // namespace klaxon::cli
