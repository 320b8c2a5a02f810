// rules/rule_tests.hpp — `klaxon rules test`: every rule's embedded lines, through the real path.
//
// A test line goes through the same decoder and matcher as a log line would (envelope, payload,
// prefilter, RE2, extraction), against the whole loaded rule set. A positive test passes when
// its rule matches with the expected values and the line's primary class/rule is as expected; a
// near-miss (`expect: none`) passes when no rule matches at all. Every line is also matched
// without the prefilter: a rule the prefilter would have hidden is a failure of its own.
#pragma once

#include <string>
#include <vector>

#include "engine/matcher.hpp"
#include "rules/rule_pack_loader.hpp"

namespace klaxon::rules {

struct TestFailure {
  const RuleTest* test;
  std::string why;
};

struct TestReport {
  std::size_t passed = 0;
  std::vector<TestFailure> failures;
};

TestReport run_rule_tests(const Matcher& matcher, const std::vector<RuleTest>& tests);

}  // namespace klaxon::rules
