// The kubectl source's pure parts: kubectl-style arguments, and exactly-once across a restart.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "adapters/sources/kubectl_source.hpp"
#include "adapters/sources/log_resume.hpp"

namespace klaxon::sources {
namespace {

TEST(ResumeFilter, DropsWhatARestartRepeatsAndNothingElse) {
  ResumeFilter f;
  EXPECT_TRUE(f.admit("a", 100));
  EXPECT_TRUE(f.admit("b", 200));
  EXPECT_TRUE(f.admit("c", 200));  // same instant, another line
  f.restart();                      // the API repeats from the whole second: a, b, c, then new
  EXPECT_FALSE(f.admit("a", 100));
  EXPECT_FALSE(f.admit("b", 200));
  EXPECT_FALSE(f.admit("c", 200));
  EXPECT_TRUE(f.admit("d", 200));  // new at the same instant
  EXPECT_TRUE(f.admit("e", 300));
  EXPECT_EQ(f.newest(), 300);
}

TEST(ResumeFilter, TheSameLineTwiceAtOneInstantIsKeptTwice) {
  ResumeFilter f;
  EXPECT_TRUE(f.admit("x", 100));
  EXPECT_TRUE(f.admit("x", 100));
  f.restart();
  EXPECT_FALSE(f.admit("x", 100));
  EXPECT_FALSE(f.admit("x", 100));
  EXPECT_TRUE(f.admit("x", 100));  // a third one is new
}

TEST(ResumeFilter, OutsideAReplayOlderLinesAndUntimedLinesAreKept) {
  ResumeFilter f;
  EXPECT_TRUE(f.admit("late", 0));
  EXPECT_TRUE(f.admit("b", 200));
  EXPECT_TRUE(f.admit("a", 100));  // stderr slightly behind stdout
  f.restart();
  EXPECT_FALSE(f.admit("a", 100));
  EXPECT_TRUE(f.admit("c", 300));
  EXPECT_TRUE(f.admit("old-but-live", 250));
}

TEST(KubectlArgs, TakesKubectlLogsWords) {
  auto o = parse_kubectl_args({"-n", "dapr-system", "-l", "app=dapr-sentry", "--context=prod", "--kubeconfig", "/k",
                               "--since", "1h", "--tail", "20", "-f", "--prefix", "--all-containers", "--max-streams",
                               "7", "--poll-interval", "500ms", "--stall-timeout", "2m"});
  EXPECT_EQ(o.namespace_, "dapr-system");
  EXPECT_EQ(o.selector, "app=dapr-sentry");
  EXPECT_EQ(o.context, "prod");
  EXPECT_EQ(o.kubeconfig, "/k");
  EXPECT_EQ(o.since, "1h");
  EXPECT_EQ(o.tail, 20);
  EXPECT_TRUE(o.all_containers);
  EXPECT_EQ(o.max_streams, 7u);
  EXPECT_EQ(o.poll_interval.count(), 500);
  EXPECT_EQ(o.stall_timeout.count(), 120000);

  auto pod = parse_kubectl_args({"pod/sentry-0", "-c", "sentry", "--all-namespaces=false"});
  EXPECT_EQ(pod.resource, "pod/sentry-0");
  EXPECT_EQ(pod.container, "sentry");
  EXPECT_EQ(parse_kubectl_args({"deploy/dapr-sentry"}).resource, "deploy/dapr-sentry");
}

TEST(KubectlArgs, SaysWhatIsWrong) {
  auto error = [](std::vector<std::string> args) {
    try {
      parse_kubectl_args(args);
    } catch (const FatalSourceError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(error({"-n", "x"}), "say which pods: -l SELECTOR or pod/NAME (as for kubectl logs); see klaxon kubectl --help");
  EXPECT_EQ(error({"-l", "a=b", "--bogus"}), "--bogus is not supported here (see klaxon kubectl --help)");
  EXPECT_EQ(error({"-l"}), "-l needs a value");
  EXPECT_EQ(error({"svc/x"}), "svc/x: use pod/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME or job/NAME");
  EXPECT_EQ(error({"-l", "a=b", "pod/x"}), "give either -l SELECTOR or a pod/workload name, not both");
  EXPECT_EQ(error({"-l", "a=b", "--tail", "many"}), "--tail many is not a number");
  EXPECT_EQ(error({"-l", "a=b", "--poll-interval", "soon"}), "--poll-interval soon is not a duration (write 5s, 2m, 500ms)");
}

}  // namespace
}  // namespace klaxon::sources
