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

// The flags themselves are parsed by CLI11 (tests/cli/kubectl_flags_test.cpp); what they ask
// for together is checked here.
TEST(KubectlOptions, SaysWhatDoesNotGoTogether) {
  auto error = [](KubectlOptions o) {
    try {
      check_kubectl_options(o);
    } catch (const FatalSourceError& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  KubectlOptions o;
  o.namespace_ = "x";
  EXPECT_EQ(error(o), "say which pods: -l SELECTOR or pod/NAME (as for kubectl logs); see klaxon kubectl --help");
  o.resource = "svc/x";
  EXPECT_EQ(error(o), "svc/x: use pod/NAME, deploy/NAME, sts/NAME, ds/NAME, rs/NAME or job/NAME");
  o.resource = "deploy/";
  EXPECT_EQ(error(o), "deploy/: the name is missing");
  o.resource = "pod/x";
  o.selector = "a=b";
  EXPECT_EQ(error(o), "give either -l SELECTOR or a pod/workload name, not both");
  o.selector.clear();
  o.all_namespaces = true;
  EXPECT_EQ(error(o), "-A goes with -l SELECTOR, not with a pod name");
  o.all_namespaces = false;
  o.container = "c";
  o.all_containers = true;
  EXPECT_EQ(error(o), "give either -c NAME or --all-containers");
  o.all_containers = false;
  EXPECT_EQ(error(o), "(accepted)");
  o.resource = "deploy/dapr-sentry";
  EXPECT_EQ(error(o), "(accepted)");
}

}  // namespace
}  // namespace klaxon::sources
