// `klaxon kubectl`'s flags: kubectl's names through CLI11, klaxon's own beside them.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "cli/kubectl_command.hpp"

namespace klaxon::cli {
namespace {

// Parses `klaxon kubectl WORDS...` as main does; the options, or what CLI11 or the check said.
struct Parsed {
  sources::KubectlOptions options;
  std::string error;
};
Parsed parse(std::vector<std::string> words) {
  CLI::App app;
  app.fallthrough();
  KubectlCommand c;
  add_kubectl_command(app, c);
  words.insert(words.begin(), "kubectl");
  std::reverse(words.begin(), words.end());  // CLI11 takes the words last first
  Parsed p;
  try {
    app.parse(words);
    p.options = kubectl_options(c);
  } catch (const CLI::ParseError& e) {
    p.error = e.what();
  } catch (const sources::FatalSourceError& e) {
    p.error = e.what();
  }
  return p;
}

TEST(KubectlFlags, TakesKubectlLogsWords) {
  const std::string kubeconfig = std::string(KLAXON_SOURCE_DIR) + "/README.md";  // any readable file
  auto p = parse({"-n", "dapr-system", "-l", "app=dapr-sentry", "--context=prod", "--kubeconfig", kubeconfig, "--since", "1h",
                  "--tail", "20", "-f", "--prefix", "--all-containers", "--max-streams", "7", "--poll-interval", "500ms",
                  "--stall-timeout", "2m"});
  ASSERT_EQ(p.error, "");
  const auto& o = p.options;
  EXPECT_EQ(o.namespace_, "dapr-system");
  EXPECT_EQ(o.selector, "app=dapr-sentry");
  EXPECT_EQ(o.context, "prod");
  EXPECT_EQ(o.kubeconfig, kubeconfig);
  EXPECT_EQ(o.since, "3600s");  // as kubectl reads it
  EXPECT_EQ(o.tail, 20);
  EXPECT_TRUE(o.all_containers);
  EXPECT_EQ(o.max_streams, 7u);
  EXPECT_EQ(o.poll_interval.count(), 500);
  EXPECT_EQ(o.stall_timeout.count(), 120000);

  auto pod = parse({"pod/sentry-0", "-c", "sentry", "--all-namespaces=false", "--timestamps"});
  ASSERT_EQ(pod.error, "");
  EXPECT_EQ(pod.options.resource, "pod/sentry-0");
  EXPECT_EQ(pod.options.container, "sentry");
  EXPECT_FALSE(pod.options.all_namespaces);
  EXPECT_FALSE(pod.options.tail.has_value());
  EXPECT_EQ(parse({"deploy/dapr-sentry"}).options.resource, "deploy/dapr-sentry");
}

TEST(KubectlFlags, SaysWhatIsWrong) {
  EXPECT_EQ(parse({"-n", "x"}).error, "say which pods: -l SELECTOR or pod/NAME (as for kubectl logs); see klaxon kubectl --help");
  EXPECT_EQ(parse({"svc/x"}).error, "svc/x: use pod/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME or job/NAME");
  EXPECT_EQ(parse({"pod/a", "pod/b"}).error, "one pod or workload at a time, not 'pod/a' and 'pod/b'");
  EXPECT_NE(parse({"-l"}).error, "");
  EXPECT_NE(parse({"-l", "a=b", "--tail", "many"}).error.find("many"), std::string::npos);
  EXPECT_EQ(parse({"-l", "a=b", "--poll-interval", "soon"}).error,
            "--poll-interval: soon is not a duration (write 30s, 5m, 2h, 7d)");
  EXPECT_EQ(parse({"-l", "a=b", "--poll-interval", "0s"}).error,
            "--poll-interval: 0s is too short: give a duration above zero (30s, 5m)");
  EXPECT_EQ(parse({"-l", "a=b", "--stall-timeout", "0"}).error, "");  // 0: never
  EXPECT_EQ(parse({"-l", "a=b", "--since=-1h"}).error, "--since: -1h is not a duration (write 30s, 5m, 2h, 7d)");
}

TEST(KubectlFlags, SinceReachesKubectlInItsOwnForm) {
  // kubectl reads Go's durations, which have no days: klaxon's 2d is said as seconds.
  EXPECT_EQ(parse({"-l", "a=b", "--since", "2d"}).options.since, "172800s");
  EXPECT_EQ(parse({"-l", "a=b", "--since", "1500ms"}).options.since, "1500ms");
  EXPECT_EQ(parse({"-l", "a=b"}).options.since, "");
}

}  // namespace
}  // namespace klaxon::cli
