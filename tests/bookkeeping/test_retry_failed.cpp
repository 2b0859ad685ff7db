// ray.retryfailedgroups / --retry-failed: take_failed_for_retry() empties the checkpoint's `failed`
// section, and the restored bookkeeper hands those groups' ranges out again, and only those.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <set>

#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;

namespace {

// Through the text of state.json, as a resumed run sees it.
checkpoint round_trip(const checkpoint& cp) {
  auto parsed = checkpoint_from_json(boost::json::parse(boost::json::serialize(to_json(cp))), "state.json");
  BOOST_REQUIRE(parsed.has_value());
  return *parsed;
}

std::set<std::string> lease_all(bookkeeper& bk, node_id node) {
  std::set<std::string> ids;
  for (auto& r : bk.lease(node, 1000)) ids.insert(r.id);
  return ids;
}

// 3 inputs of 4 events, one output each. Input 1 merged; input 2's group failed by a range (one
// attempt allowed); input 3's group failed by its merge.
checkpoint run_with_two_failed_groups(const rty::job_spec& job) {
  bookkeeper bk(job, make_options(1));
  auto all = bk.lease(1, 12);
  BOOST_REQUIRE_EQUAL(all.size(), 12u);
  std::vector<rty::range_update> u;
  for (auto& r : all) u.push_back(r.id == rid(2, 3) ? fail(r.id) : fin(r.id));
  bk.apply_update(1, u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 2u);
  for (auto& t : tasks) {
    if (t.output_name == out_name(1))
      BOOST_TEST(bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G1"));
    else
      BOOST_TEST(bk.merge_failed(t.output_name));
  }
  BOOST_REQUIRE(bk.complete());
  BOOST_REQUIRE_EQUAL(bk.get_counts().groups_failed, 2u);
  return round_trip(bk.snapshot());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retry_failed_groups)

BOOST_AUTO_TEST_CASE(without_retry_failed_groups_stay_failed) {
  auto job = make_job(3, 4, 4);
  auto cp = run_with_two_failed_groups(job);
  bookkeeper bk(job, make_options(3));
  bk.restore(cp);
  BOOST_TEST(bk.restore_problems().empty());
  BOOST_TEST(bk.get_counts().failed == 8u);
  BOOST_TEST(lease_all(bk, 2).empty());
  BOOST_TEST(bk.complete());
}

BOOST_AUTO_TEST_CASE(range_failed_and_merge_failed_groups_are_simulated_again) {
  auto job = make_job(3, 4, 4);
  auto cp = run_with_two_failed_groups(job);
  auto taken = take_failed_for_retry(cp);
  std::vector<requeued_input> expected{{in_name(2), 4}, {in_name(3), 4}};
  BOOST_TEST((taken == expected));
  BOOST_TEST(cp.failed.empty());
  BOOST_TEST(take_failed_for_retry(cp).empty());  // once taken, nothing is left to take

  bookkeeper bk(job, make_options(3));
  bk.restore(cp);
  BOOST_TEST(bk.restore_problems().empty());
  auto c = bk.get_counts();
  BOOST_TEST(c.failed == 0u);
  BOOST_TEST(c.groups_failed == 0u);
  BOOST_TEST(c.merged_events == 4u);
  BOOST_TEST(c.ready == 8u);
  check_invariant(bk);
  // Every range of both groups again (the merge-failed one too: its per-range outputs are not
  // recorded), none of the merged input.
  auto handed = lease_all(bk, 2);
  std::set<std::string> want;
  for (int f : {2, 3})
    for (int n = 1; n <= 4; ++n) want.insert(rid(f, n));
  BOOST_TEST((handed == want));
  std::vector<rty::range_update> u;
  for (auto& id : handed) u.push_back(fin(id));
  bk.apply_update(2, u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 2u);
  for (auto& t : tasks) BOOST_TEST(bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G"));
  BOOST_TEST(bk.complete());
  c = bk.get_counts();
  BOOST_TEST(c.merged_events == 12u);
  BOOST_TEST(c.failed_events == 0u);
}

BOOST_AUTO_TEST_CASE(one_to_n_retries_only_the_failed_output_of_an_input) {
  // Input 1 has outputs 1 (events 1-2, fails) and 2 (events 3-4, merges); input 2 merges both.
  auto job = make_job(2, 4, 2);
  bookkeeper first(job, make_options(1));
  auto all = first.lease(1, 8);
  std::vector<rty::range_update> u;
  for (auto& r : all) u.push_back(r.id == rid(1, 2) ? fail(r.id) : fin(r.id));
  first.apply_update(1, u);
  for (auto& t : first.take_ready_merges())
    BOOST_TEST(first.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name));
  BOOST_REQUIRE(first.complete());
  auto cp = round_trip(first.snapshot());
  auto taken = take_failed_for_retry(cp);
  std::vector<requeued_input> expected{{in_name(1), 2}};
  BOOST_TEST((taken == expected));

  bookkeeper bk(job, make_options(3));
  bk.restore(cp);
  BOOST_TEST(bk.restore_problems().empty());
  BOOST_TEST((lease_all(bk, 2) == std::set<std::string>{rid(1, 1), rid(1, 2)}));
  BOOST_TEST(bk.get_counts().merged_events == 6u);
}

BOOST_AUTO_TEST_SUITE_END()
