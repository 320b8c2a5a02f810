// cli/loki_command.cpp — `klaxon loki`: flags to LokiOptions, then the live runner.
#include "cli/loki_command.hpp"

#include <chrono>
#include <cstdio>

#include "cli/flags.hpp"
#include "cli/run_live.hpp"
#include "cli/state_dir.hpp"

namespace klaxon::cli {
namespace {

Nanos nanos(const std::string& duration) { return duration_ms(duration).count() * (kNanosPerSecond / 1000); }

std::optional<Nanos> instant_flag(const std::string& flag, const std::string& text) {
  if (auto t = parse_instant(text)) return t;
  std::fprintf(stderr, "klaxon: %s %s is not an instant (write 2024-04-01T23:00:00Z)\n", flag.c_str(), text.c_str());
  return std::nullopt;
}

// "I/N", digits only: shard I of N.
bool parse_shard(const std::string& text, std::uint32_t& shard, std::uint32_t& shards) {
  const std::size_t slash = text.find('/');
  auto number = [](std::string_view s, std::uint32_t& out) {
    if (s.empty() || s.size() > 4 || s.find_first_not_of("0123456789") != std::string_view::npos) return false;
    out = std::uint32_t(std::stoul(std::string(s)));
    return true;
  };
  if (slash == std::string::npos || !number(std::string_view(text).substr(0, slash), shard) ||
      !number(std::string_view(text).substr(slash + 1), shards))
    return false;
  return shards >= 1 && shards <= 1024 && shard < shards;
}

}  // namespace

void add_loki_command(CLI::App& app, LokiCommand& c) {
  auto& o = c.options;
  c.app = app.add_subcommand("loki", "Tail a Loki query, every line once across reconnects; or replay a window");
  CLI::App& cmd = *c.app;
  cmd.footer(R"(Examples:
  klaxon loki --url http://loki:3100 --query '{namespace="dapr-system"}'
  klaxon --format jsonl --matches loki --url http://loki:3100 --query '{app="dapr-sentry"}' --since 24h
  klaxon loki --url https://logs.example --tenant team-a --bearer-token-file /var/run/secrets/token \
      --query '{namespace="linkerd"} |= "certificate"' --since 1h --follow)");
  cmd.add_option("--url", o.url, "Loki's address: http(s)://host:port[/prefix]")->required();
  cmd.add_option("--query", o.query, "LogQL log query, e.g. '{namespace=\"dapr-system\"}'")->required();
  cmd.add_option("--since", c.since, "Replay this far back (e.g. 1h), then stop (or tail, with --follow)")
      ->check(duration_check());
  cmd.add_option("--from", c.from, "Replay from this instant (RFC3339), inclusive");
  cmd.add_option("--to", c.to, "Replay up to this instant (RFC3339), exclusive; default now");
  cmd.add_flag("--follow,-f", c.follow, "After --since/--from, keep tailing");
  cmd.add_option("--tenant", o.tenant, "Tenant (X-Scope-OrgID) of a multi-tenant Loki");
  cmd.add_option("--user", o.user, "Basic auth user");
  cmd.add_option("--password", o.password, "Basic auth password");
  cmd.add_option("--bearer-token-file", o.bearer_token_file, "File with a bearer token (re-read at each connection)");
  cmd.add_option("--header", o.headers, "Extra HTTP header 'Name: value' (repeatable)")->allow_extra_args(false);
  cmd.add_option("--ca-file", o.ca_file, "CA bundle (PEM) that signs Loki's certificate");
  cmd.add_flag("--insecure-skip-verify", o.insecure_skip_verify, "Do not check Loki's certificate (warned)");
  cmd.add_option("--limit", o.limit, "Entries per query page (Loki's max_entries_limit_per_query)")
      ->check(CLI::Range(1u, 100000u))
      ->default_str("5000");
  cmd.add_option("--shard", c.shard,
                 "Keep only shard I of N of the query's streams (by a hash of their labels); each shard still "
                 "runs the whole query")
      ->type_name("I/N");
  cmd.add_option("--idle-timeout", c.idle_timeout, "A tail silent this long (no line, no ping) is reconnected")
      ->check(duration_check())
      ->default_str("30s");
}

int run_loki(const RunOptions& options, LokiCommand& c) {
  auto& o = c.options;
  const bool replay = !c.since.empty() || !c.from.empty();
  if (!c.since.empty() && !c.from.empty()) {
    std::fprintf(stderr, "klaxon: loki: give --since or --from, not both\n");
    return kExitUsage;
  }
  if (!c.to.empty() && c.from.empty()) {
    std::fprintf(stderr, "klaxon: loki: --to needs --from\n");
    return kExitUsage;
  }
  // Without a window, klaxon tails from now; with one, it replays and stops unless --follow.
  o.follow = !replay || c.follow;
  const Nanos now = wall_now();
  if (!c.since.empty()) o.from = now - nanos(c.since);
  if (!c.from.empty()) {
    auto t = instant_flag("--from", c.from);
    if (!t) return kExitUsage;
    o.from = *t;
  }
  if (!c.to.empty()) {
    auto t = instant_flag("--to", c.to);
    if (!t) return kExitUsage;
    if (o.follow) {
      std::fprintf(stderr, "klaxon: loki: --to ends the replay; it cannot be combined with --follow\n");
      return kExitUsage;
    }
    if (*t <= *o.from) {
      std::fprintf(stderr, "klaxon: loki: --to must be after --from\n");
      return kExitUsage;
    }
    o.to = *t;
  }
  if (!c.shard.empty() && !parse_shard(c.shard, o.shard, o.shards)) {
    std::fprintf(stderr, "klaxon: loki: --shard %s: write I/N with 0 <= I < N <= 1024 (e.g. --shard 0/2 and --shard 1/2)\n",
                 c.shard.c_str());
    return kExitUsage;
  }
  // --state-dir: a tail resumes (gap filled) from the newest line the last run handed on.
  if (!replay)
    if (auto from = saved_resume_point(options.state_dir); from && *from < now) {
      o.from = *from;
      std::fprintf(stderr, "klaxon: loki: resuming at %s (--state-dir)\n", format_rfc3339(*from).c_str());
    }
  o.idle_timeout = nanos(c.idle_timeout);
  o.tail_limit = o.limit;
  RunOptions live = options;
  live.source_name = "loki";  // the `source` label of /metrics line counts
  return run_live(live, [&](boost::asio::any_io_executor executor) {
    return sources::make_loki_source(std::move(executor), o);
  });
}

}  // namespace klaxon::cli
