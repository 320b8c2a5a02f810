// The pure parts of `--follow`: labels from the kubelet's path shapes, and the state file's text.
// Following itself (rotation, truncation, new files, restarts) is tested through the real binary
// in tests/integration/follow_test.cpp.
#include <gtest/gtest.h>

#include "adapters/sources/follow_source.hpp"

namespace klaxon::sources {
namespace {

TEST(FollowLabels, PodLogDirectoryGivesNamespacePodContainer) {
  const Labels want{{"namespace", "dapr-system"}, {"pod", "dapr-sentry-7c8d9f6b5-x2x4q"}, {"container", "dapr-sentry"}};
  EXPECT_EQ(labels_from_path("/var/log/pods/dapr-system_dapr-sentry-7c8d9f6b5-x2x4q_0b6e1a2c-3d4e-4f5a-8b9c-0d1e2f3a4b5c/"
                             "dapr-sentry/0.log"),
            want);
  // The kubelet's rotated file keeps the labels.
  EXPECT_EQ(labels_from_path("/var/log/pods/dapr-system_dapr-sentry-7c8d9f6b5-x2x4q_0b6e1a2c/dapr-sentry/"
                             "3.log.20240401-234335"),
            want);
}

TEST(FollowLabels, ContainersSymlinkNameGivesNamespacePodContainer) {
  const std::string id(64, 'a');
  const Labels want{{"namespace", "default"}, {"pod", "app1-5d8c9"}, {"container", "daprd"}};
  EXPECT_EQ(labels_from_path("/var/log/containers/app1-5d8c9_default_daprd-" + id + ".log"), want);
}

TEST(FollowLabels, OtherFilesAreNamedByTheirFileName) {
  EXPECT_EQ(labels_from_path("/var/log/syslog"), (Labels{{"file", "syslog"}}));
  EXPECT_EQ(labels_from_path("logs/app.log"), (Labels{{"file", "app.log"}}));
  // Two underscores, but not a pod directory's file name (not <n>.log).
  EXPECT_EQ(labels_from_path("/x/a_b_c/d/app.log"), (Labels{{"file", "app.log"}}));
}

TEST(FollowState, RoundTripsPathsWithSpaces) {
  const std::vector<SavedPosition> positions{{2049, 131, 4096, "/var/log/pods/a_b_c/d/0.log"},
                                             {2049, 132, 0, "/tmp/with space/app.log"}};
  std::string error;
  std::size_t skipped = 9;
  const auto parsed = parse_follow_state(format_follow_state(positions), error, skipped);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, positions);
  EXPECT_EQ(skipped, 0u);
}

TEST(FollowState, EmptyTextIsNoState) {
  std::string error;
  std::size_t skipped = 0;
  const auto parsed = parse_follow_state("", error, skipped);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->empty());
}

TEST(FollowState, RefusesAFileThatIsNotOurs) {
  std::string error;
  std::size_t skipped = 0;
  EXPECT_FALSE(parse_follow_state("password=hunter2\n", error, skipped));
  EXPECT_NE(error.find("not a klaxon state file"), std::string::npos);
}

TEST(FollowState, SkipsDamagedLinesAndKeepsTheRest) {
  const std::string text = format_follow_state({{1, 2, 3, "/a.log"}}) + "12 x 4 /b.log\n7 8\n" +
                           format_follow_state({{4, 5, 6, "/c.log"}}).substr(format_follow_state({}).size());
  std::string error;
  std::size_t skipped = 0;
  const auto parsed = parse_follow_state(text, error, skipped);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, (std::vector<SavedPosition>{{1, 2, 3, "/a.log"}, {4, 5, 6, "/c.log"}}));
  EXPECT_EQ(skipped, 2u);
}

}  // namespace
}  // namespace klaxon::sources
