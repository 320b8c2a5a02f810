// cli/follow_command.cpp — `--follow PATH` (see follow_command.hpp).
#include "cli/follow_command.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/flags.hpp"
#include "cli/run_live.hpp"

namespace klaxon::cli {

void add_follow_flags(CLI::App& app, FollowCommand& c, const std::string& group) {
  sources::FollowOptions& o = c.options;
  app.add_option("--follow", o.paths, "Files, globs or directories (their *.log); runs until Ctrl-C")
      ->type_name("PATH")
      ->group(group);
  app.add_flag("--from-end", o.from_end, "Skip what files hold at start (later files are read whole)")->group(group);
  app.add_option("--state", o.state_path, "Keep read positions in FILE; a restart resumes there")
      ->type_name("FILE")
      ->group(group);
  app.add_option("--rotate-wait", c.rotate_wait, "How long a rotated file is still read (late writers) [5s]")
      ->check(duration_check(/*positive=*/false))
      ->type_name("DUR")
      ->group(group);
}

std::string follow_flags_misused(const FollowCommand& c) {
  if (!follow_chosen(c) && (c.options.from_end || !c.options.state_path.empty()))
    return "--from-end and --state go with --follow PATH";
  return {};
}

int run_follow(const RunOptions& run, FollowCommand& c) {
  sources::FollowOptions& o = c.options;
  o.rotate_wait = duration_ms(c.rotate_wait);
  if (std::find(o.paths.begin(), o.paths.end(), "") != o.paths.end()) {
    std::fprintf(stderr, "klaxon: --follow '': give a file, a glob or a directory\n");
    return kExitUsage;
  }
  // --state-dir keeps the read positions too (--state FILE, if given, still says where).
  if (o.state_path.empty() && !run.state_dir.empty()) o.state_path = run.state_dir + "/follow.state";
  if (!run.inputs.empty()) {
    std::fprintf(stderr, "klaxon: give files either to --follow or as FILE arguments, not both\n");
    return kExitUsage;
  }
  return run_live(run, [&](boost::asio::any_io_executor ex) { return sources::make_follow_source(ex, o); });
}

}  // namespace klaxon::cli
