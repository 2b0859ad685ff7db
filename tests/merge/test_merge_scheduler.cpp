#include <boost/test/unit_test.hpp>

#include "merge/merge_scheduler.hpp"
#include "test_support.hpp"

using rty::merge::merge_scheduler;
using outcome = merge_scheduler::outcome;

namespace {
rty::merge_task task(const std::string& name) { return merge_test::make_task(name, {"F." + name}, "/o", 1); }
}  // namespace

BOOST_AUTO_TEST_CASE(scheduler_respects_the_process_cap) {
  merge_scheduler s(2);
  for (auto n : {"A", "B", "C", "D"}) BOOST_TEST(s.add(task(n)));
  BOOST_TEST(!s.add(task("A")));  // announced twice: once only
  auto a = s.next_to_start();
  auto b = s.next_to_start();
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  BOOST_TEST(a->first.output_name == "A");
  BOOST_TEST(a->second == 1);
  BOOST_TEST(b->first.output_name == "B");
  BOOST_TEST(!s.next_to_start());
  BOOST_TEST(s.running() == 2u);
  BOOST_TEST(s.pending() == 2u);
  BOOST_TEST((s.finished("B", true) == outcome::succeeded));
  auto c = s.next_to_start();
  BOOST_REQUIRE(c);
  BOOST_TEST(c->first.output_name == "C");
  BOOST_TEST(!s.next_to_start());
  BOOST_TEST((s.finished("A", true) == outcome::succeeded));
  BOOST_TEST((s.finished("C", true) == outcome::succeeded));
  BOOST_TEST(s.next_to_start()->first.output_name == "D");
  BOOST_TEST(!s.idle());
  BOOST_TEST((s.finished("D", true) == outcome::succeeded));
  BOOST_TEST(s.idle());
  BOOST_TEST(s.done() == 4u);
  BOOST_TEST(s.failed() == 0u);
  BOOST_TEST(!s.add(task("D")));  // done outputs are never merged again
}

BOOST_AUTO_TEST_CASE(scheduler_retries_then_fails) {
  merge_scheduler s(1, 2);
  s.add(task("A"));
  s.add(task("B"));
  auto first = s.next_to_start();
  BOOST_TEST(first->second == 1);
  BOOST_TEST((s.finished("A", false) == outcome::retry));
  // A retry goes to the back of the queue: B gets its turn first.
  BOOST_TEST(s.next_to_start()->first.output_name == "B");
  BOOST_TEST((s.finished("B", true) == outcome::succeeded));
  auto second = s.next_to_start();
  BOOST_TEST(second->first.output_name == "A");
  BOOST_TEST(second->second == 2);
  BOOST_TEST((s.finished("A", false) == outcome::retry));
  auto third = s.next_to_start();
  BOOST_TEST(third->second == 3);
  BOOST_TEST((s.finished("A", false) == outcome::failed));
  BOOST_TEST(!s.next_to_start());
  BOOST_TEST(s.idle());
  BOOST_TEST(s.failed() == 1u);
  BOOST_TEST(s.done() == 1u);
  BOOST_TEST(s.failed_tasks().front().output_name == "A");
  BOOST_TEST(s.failed_tasks().front().input_files.front() == "F.A");
}

BOOST_AUTO_TEST_CASE(scheduler_zero_retries_and_unknown_exits) {
  merge_scheduler s(3, 0);
  s.add(task("A"));
  BOOST_TEST((s.finished("A", true) == outcome::unknown));  // pending, not running
  s.next_to_start();
  BOOST_TEST((s.finished("Z", false) == outcome::unknown));
  BOOST_TEST((s.finished("A", false) == outcome::failed));
  BOOST_TEST((s.finished("A", false) == outcome::unknown));
}

BOOST_AUTO_TEST_CASE(a_finished_task_is_handed_back_on_success_only) {
  merge_scheduler s(2, 1);
  BOOST_TEST(s.add(task("A")));
  BOOST_TEST(s.add(task("B")));
  auto a = s.next_to_start();
  auto b = s.next_to_start();
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(b);
  rty::merge_task got;
  BOOST_TEST((s.finished("A", true, &got) == outcome::succeeded));
  BOOST_TEST((got == a->first));  // the caller kept no copy while it ran, and gets it now
  rty::merge_task untouched;
  BOOST_TEST((s.finished("B", false, &untouched) == outcome::retry));
  BOOST_TEST(untouched.inputs.empty());  // kept for the retry, not handed out
  BOOST_TEST((s.next_to_start()->first == b->first));
}

BOOST_AUTO_TEST_CASE(retries_back_off_seconds_then_a_minute) {
  using namespace std::chrono_literals;
  const merge_scheduler::clock::time_point t0 = merge_scheduler::clock::time_point{} + 1000s;
  merge_scheduler s(4, 2, 10s);
  BOOST_TEST((s.backoff(1) == 10s));
  BOOST_TEST((s.backoff(2) == 60s));  // 6 x 10 s, at most a minute
  BOOST_TEST((merge_scheduler(1, 2, 1s).backoff(2) == 6s));
  s.add(task("A"));
  s.add(task("B"));
  BOOST_TEST(s.next_to_start(t0)->first.output_name == "A");
  BOOST_TEST((s.finished("A", false, nullptr, t0) == outcome::retry));
  // A waits 10 s; B, never tried, goes first.
  BOOST_TEST((*s.next_due() == t0 + 10s));
  BOOST_TEST(s.next_to_start(t0)->first.output_name == "B");
  BOOST_TEST(!s.next_to_start(t0 + 9s));
  auto again = s.next_to_start(t0 + 10s);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->first.output_name == "A");
  BOOST_TEST(again->second == 2);
  BOOST_TEST((s.finished("A", false, nullptr, t0 + 20s) == outcome::retry));
  BOOST_TEST(!s.next_to_start(t0 + 79s));
  BOOST_TEST(s.next_to_start(t0 + 80s)->second == 3);
  BOOST_TEST((s.finished("A", false, nullptr, t0 + 90s) == outcome::failed));
}

BOOST_AUTO_TEST_CASE(a_merge_given_back_is_not_an_attempt) {
  merge_scheduler s(1, 0);  // no retries at all: one counted failure would fail the group
  s.add(task("A"));
  BOOST_TEST(s.next_to_start()->second == 1);
  s.give_back("A");
  BOOST_TEST(s.running() == 0u);
  auto again = s.next_to_start();
  BOOST_REQUIRE(again);
  BOOST_TEST(again->second == 1);  // the same first attempt
  BOOST_TEST(s.failed() == 0u);
}

BOOST_AUTO_TEST_CASE(site_faults_are_told_from_data_faults) {
  using rty::merge::site_fault;
  // The operator's report: ALRB's setup script is missing.
  auto f = site_fault(1, "some output\n/bin/bash: line 1: /cvmfs/atlas.cern.ch/repo/ATLASLocalRootBase/user/"
                         "atlasLocalSetup.sh: No such file or directory\n");
  BOOST_REQUIRE(f);
  BOOST_TEST(f->find("atlasLocalSetup.sh: No such file or directory") != std::string::npos);
  BOOST_TEST(site_fault(127, "bash: HITSMerge_tf.py: command not found\n")->find("command not found") !=
             std::string::npos);
  BOOST_TEST(site_fault(2, "sh: 1: asetup: not found\n").has_value());
  BOOST_TEST(*site_fault(127, "") == "exit 127: a command was not found");
  BOOST_TEST(site_fault(126, "").has_value());
  // The data's (or unknown): a transform error, a missing input file named by the transform itself.
  BOOST_TEST(!site_fault(1, "fake_merge_tf: failing on purpose for X\n"));
  BOOST_TEST(!site_fault(65, "RuntimeError: input file /o/EVNT.1-3.HITS: No such file or directory\n"));
  BOOST_TEST(!site_fault(-1, ""));  // killed by a signal
}

BOOST_AUTO_TEST_CASE(a_merge_lost_with_its_node_runs_again_at_once_in_a_fresh_attempt_uncounted) {
  using namespace std::chrono_literals;
  merge_scheduler s(4, /*max_retries=*/0, 10s);
  const merge_scheduler::clock::time_point t0{};
  s.add(task("A"));
  s.add(task("B"));
  BOOST_TEST(s.next_to_start(t0)->first.output_name == "A");
  s.requeue_lost("A");
  BOOST_TEST(s.running() == 0u);
  BOOST_TEST(!s.next_due());  // no backoff: the node's fault, not the merge's
  auto again = s.next_to_start(t0);
  BOOST_REQUIRE(again);
  BOOST_TEST(again->first.output_name == "A");  // at the front, before B
  BOOST_TEST(again->second == 2);               // a new work directory (A.2), not A.1's
  // Lost twice, then a real failure: with no retries allowed it fails for good only now.
  s.requeue_lost("A");
  BOOST_TEST(s.next_to_start(t0)->second == 3);
  BOOST_TEST((s.finished("A", false, nullptr, t0) == outcome::failed));
  s.requeue_lost("B");  // not running: nothing happens
  BOOST_TEST(s.pending() == 1u);
}
