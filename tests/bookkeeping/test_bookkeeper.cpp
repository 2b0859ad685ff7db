// Bookkeeper behaviour: assignment, updates, retries, re-dispatch, merge groups (spec §3.1–§3.5, §7).
#include <boost/test/unit_test.hpp>

#include <map>
#include <set>
#include <stdexcept>

#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;

BOOST_AUTO_TEST_SUITE(bookkeeper_assignment)

BOOST_AUTO_TEST_CASE(ready_count_is_files_times_events_after_load) {
  bookkeeper bk(make_job(4, 4, 2), make_options());
  auto c = bk.get_counts();
  BOOST_TEST(c.total == 16u);
  BOOST_TEST(c.ready == 16u);
  BOOST_TEST(!bk.exhausted());
  BOOST_TEST(!bk.complete());
}

BOOST_AUTO_TEST_CASE(lease_synthesises_ids_pfn_guid_and_keeps_files_contiguous) {
  bookkeeper bk(make_job(3, 4, 2), make_options());
  auto a = bk.lease(1, 6);
  BOOST_REQUIRE_EQUAL(a.size(), 6u);
  BOOST_TEST(a[0].id == rid(1, 1));
  BOOST_TEST(a[0].pfn == "/ep/" + in_name(1));
  BOOST_TEST(a[0].guid == "GUID-1");
  BOOST_TEST(a[0].start_event == 1);
  BOOST_TEST(a[0].last_event == 1);
  BOOST_TEST(a[3].id == rid(1, 4));
  BOOST_TEST(a[3].start_event == 4);
  BOOST_TEST(a[4].id == rid(2, 1));
  BOOST_TEST(a[5].id == rid(2, 2));
  BOOST_TEST(a[5].guid == "GUID-2");
  BOOST_TEST(bk.leased_to(1) == 6u);
  auto b = bk.lease(2, 100);  // no fixed share: a node gets whatever is ready, up to n
  BOOST_TEST(b.size() == 6u);
  BOOST_TEST(b[0].id == rid(2, 3));
  BOOST_TEST(bk.lease(3, 1).empty());
  BOOST_TEST(bk.lease(3, 0).empty());
  BOOST_TEST(!bk.exhausted());  // leased ranges may still come back
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(empty_endpoint_gives_bare_lfn) {
  auto o = make_options();
  o.endpoint.clear();
  bookkeeper bk(make_job(1, 2, 2), o);
  BOOST_TEST(bk.lease(1, 1)[0].pfn == in_name(1));
}

BOOST_AUTO_TEST_CASE(all_finished_empties_leases_and_nothing_left) {
  bookkeeper bk(make_job(4, 4, 2), make_options());
  auto a = bk.lease(7, 16);
  auto res = bk.apply_update(7, finish_all(a));
  BOOST_TEST(res.finished == 16u);
  BOOST_TEST(res.problems.empty());
  BOOST_TEST(bk.leased_to(7) == 0u);
  BOOST_TEST(bk.get_counts().finished == 16u);
  BOOST_TEST(bk.lease(7, 1).empty());
  BOOST_TEST(bk.exhausted());
  BOOST_TEST(!bk.complete());  // merges still to run
  BOOST_TEST(bk.get_counts().merges_pending == 8u);
  BOOST_TEST(bk.state_of(rid(2, 3)).value_or("?") == "finished");
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(all_failed_with_one_attempt_fails_everything_and_completes) {
  bookkeeper bk(make_job(4, 4, 2), make_options(1));
  auto a = bk.lease(1, 16);
  std::vector<rty::range_update> u;
  for (auto& r : a) u.push_back(fail(r.id));
  auto res = bk.apply_update(1, u);
  // The first failure of each group fails it; the partner range's report then lands on a failed group.
  BOOST_TEST(res.failed == 8u);
  BOOST_TEST(res.discarded == 8u);
  auto c = bk.get_counts();
  BOOST_TEST(c.failed == 16u);
  BOOST_TEST(c.failed_events == 16u);
  BOOST_TEST(c.groups_failed == 8u);
  BOOST_TEST(bk.leased_to(1) == 0u);
  BOOST_TEST(bk.take_ready_merges().empty());
  BOOST_TEST(bk.complete());
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(mixed_updates_count_separately) {
  bookkeeper bk(make_job(2, 4, 4), make_options(1));
  auto a = bk.lease(1, 8);
  std::vector<rty::range_update> u = finish_all(a);
  u[5] = fail(a[5].id, rty::range_status::fatal);  // input 2 group fails
  auto res = bk.apply_update(1, u);
  BOOST_TEST(res.finished == 5u);   // entries after the failure land on a failed group
  BOOST_TEST(res.failed == 1u);
  BOOST_TEST(res.discarded == 2u);
  auto c = bk.get_counts();
  BOOST_TEST(c.finished == 4u);  // input 2's finished ranges now count as failed
  BOOST_TEST(c.failed == 4u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 1u);
  BOOST_TEST(tasks[0].output_name == out_name(1));
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(running_status_is_ignored_and_unknown_ids_statuses_are_skipped) {
  bookkeeper bk(make_job(1, 4, 4), make_options());
  auto a = bk.lease(1, 4);
  auto running = fin(a[0].id);
  running.status = rty::range_status::running;
  auto bad_status = fin(a[1].id);
  bad_status.status = static_cast<rty::range_status>(42);
  std::vector<rty::range_update> u{running,          bad_status,       fin("nonsense"), fin(in_name(1) + "-0"),
                                   fin(in_name(1) + "-5"), fin(in_name(9) + "-1"), fin(in_name(1) + "-x"),
                                   fin(a[2].id)};
  update_outcome res;
  BOOST_CHECK_NO_THROW(res = bk.apply_update(1, u));
  BOOST_TEST(res.ignored == 1u);
  BOOST_TEST(res.unknown == 6u);
  BOOST_TEST(res.finished == 1u);
  BOOST_TEST(res.problems.size() == 6u);
  BOOST_TEST(bk.state_of(a[0].id).value_or("?") == "leased");
  BOOST_TEST(bk.state_of(a[1].id).value_or("?") == "leased");
  BOOST_TEST(!bk.state_of("nonsense"));
  check_invariant(bk);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bookkeeper_failures)

BOOST_AUTO_TEST_CASE(returned_ranges_are_ready_again_without_an_attempt) {
  bookkeeper bk(make_job(1, 4, 4), make_options());
  auto a = bk.lease(1, 3);
  // Only ranges leased to that node come back; unknown ids and other nodes' leases are ignored.
  auto b = bk.lease(2, 1);
  BOOST_TEST(bk.return_ranges(1, {a[0].id, a[1].id, b[0].id, "nonsense", "EVNT.unknown-1"}) == 2u);
  BOOST_TEST(bk.leased_to(1) == 1u);
  BOOST_TEST(bk.get_counts().ready == 2u);
  BOOST_TEST(bk.return_ranges(1, {a[0].id}) == 0u);  // already returned
  auto c = bk.lease(3, 2);
  BOOST_REQUIRE_EQUAL(c.size(), 2u);
  BOOST_TEST(c[0].id == a[0].id);
  // A return is not a failure: the range still has all its attempts.
  BOOST_TEST(*bk.state_of(a[0].id) == "leased");
}

BOOST_AUTO_TEST_CASE(node_loss_releases_leases_and_they_are_redispatched) {
  bookkeeper bk(make_job(2, 4, 4), make_options());
  auto a = bk.lease(1, 3);
  auto b = bk.lease(2, 3);
  BOOST_TEST(bk.release_node(1) == 3u);
  BOOST_TEST(bk.leased_to(1) == 0u);
  BOOST_TEST(bk.get_counts().ready == 5u);
  // Released ranges are the earliest again: node 3 gets them first (contiguous files merge early).
  auto c = bk.lease(3, 3);
  BOOST_REQUIRE_EQUAL(c.size(), 3u);
  BOOST_TEST(c[0].id == a[0].id);
  BOOST_TEST(c[2].id == a[2].id);
  BOOST_TEST(bk.release_node(1) == 0u);
  bk.apply_update(2, finish_all(b));
  bk.apply_update(3, finish_all(c));
  bk.apply_update(3, finish_all(bk.lease(3, 10)));
  BOOST_TEST(bk.exhausted());
  BOOST_TEST(bk.take_ready_merges().size() == 2u);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(release_does_not_count_as_an_attempt) {
  bookkeeper bk(make_job(1, 1, 1), make_options(1));
  for (int i = 0; i < 5; ++i) {
    BOOST_REQUIRE_EQUAL(bk.lease(1, 1).size(), 1u);
    BOOST_TEST(bk.release_node(1) == 1u);
  }
  BOOST_TEST(bk.get_counts().ready == 1u);
  BOOST_TEST(bk.get_counts().groups_failed == 0u);
}

BOOST_AUTO_TEST_CASE(failed_range_is_retried_on_other_nodes_first) {
  bookkeeper bk(make_job(1, 4, 4), make_options(3));
  auto a = bk.lease(1, 1);
  auto res = bk.apply_update(1, {fail(a[0].id)});
  BOOST_TEST(res.failed == 1u);
  BOOST_TEST(res.retried == 1u);
  BOOST_TEST(bk.state_of(a[0].id).value_or("?") == "ready");
  // Node 1 gets the other ranges, not the one it failed.
  auto again = bk.lease(1, 1);
  BOOST_REQUIRE_EQUAL(again.size(), 1u);
  BOOST_TEST(again[0].id == rid(1, 2));
  // Node 2 gets it first.
  auto other = bk.lease(2, 1);
  BOOST_REQUIRE_EQUAL(other.size(), 1u);
  BOOST_TEST(other[0].id == a[0].id);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(lone_node_still_gets_its_own_failures_when_nothing_else_is_left) {
  bookkeeper bk(make_job(1, 2, 2), make_options(3));
  auto a = bk.lease(1, 1);
  bk.apply_update(1, {fail(a[0].id)});
  auto b = bk.lease(1, 5);
  BOOST_REQUIRE_EQUAL(b.size(), 2u);
  BOOST_TEST(b[0].id == rid(1, 2));  // fresh range first
  BOOST_TEST(b[1].id == a[0].id);    // then its own failure as last resort
}

BOOST_AUTO_TEST_CASE(group_fails_after_max_attempts_and_its_ranges_are_never_handed_out) {
  // 1→N: input 1 has outputs 1 (events 1-2) and 2 (events 3-4); input 2 outputs 3 and 4.
  bookkeeper bk(make_job(2, 4, 2), make_options(3));
  auto first = bk.lease(1, 2);  // events 1,2 of input 1 = output 1
  bk.apply_update(1, {fin(first[0].id)});  // finished output of a group that will fail
  auto res = bk.apply_update(1, {fail(first[1].id)});  // attempt 1, on node 1
  BOOST_TEST(res.retried == 1u);
  for (node_id node : {2u, 3u}) {  // attempts 2 and 3, each on a node it has not failed on
    auto r = bk.lease(node, 1);
    BOOST_REQUIRE_EQUAL(r.size(), 1u);
    BOOST_TEST(r[0].id == rid(1, 2));
    res = bk.apply_update(node, {fail(r[0].id)});
    BOOST_TEST(res.failed == 1u);
    BOOST_TEST(res.retried == (node == 2u ? 1u : 0u));
  }
  auto c = bk.get_counts();
  BOOST_TEST(c.groups_failed == 1u);
  BOOST_TEST(c.failed == 2u);  // only output 1's two ranges: the other output of input 1 goes on
  BOOST_TEST(bk.state_of(rid(1, 1)).value_or("?") == "failed");
  std::set<std::string> handed;
  for (auto& r : bk.lease(9, 100)) handed.insert(r.id);
  BOOST_TEST(handed.size() == 6u);
  BOOST_TEST(!handed.count(rid(1, 1)));
  BOOST_TEST(!handed.count(rid(1, 2)));
  BOOST_TEST(handed.count(rid(1, 3)));
  std::vector<rty::range_update> u;
  for (auto& id : handed) u.push_back(fin(id));
  bk.apply_update(9, u);
  // The finished half of the failed output is not merged; the rest is.
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 3u);
  for (auto& t : tasks) {
    BOOST_TEST(t.output_name != out_name(1));
    BOOST_TEST(bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name));
  }
  BOOST_TEST(bk.complete());
  c = bk.get_counts();
  BOOST_TEST(c.merged_events == 6u);
  BOOST_TEST(c.failed_events == 2u);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(group_failure_revokes_leases_held_by_other_nodes) {
  // N→1: inputs 1 and 2 make output 1.
  bookkeeper bk(make_job(2, 2, 4), make_options(1));
  auto a = bk.lease(1, 1);
  auto b = bk.lease(2, 3);
  bk.apply_update(1, {fail(a[0].id)});
  BOOST_TEST(bk.leased_to(2) == 0u);
  BOOST_TEST(bk.exhausted());
  BOOST_TEST(bk.complete());
  auto res = bk.apply_update(2, finish_all(b));  // late results for the failed group
  BOOST_TEST(res.discarded == 3u);
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(bk.take_ready_merges().empty());
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(finish_without_path_counts_as_failed_attempt) {
  bookkeeper bk(make_job(1, 2, 2), make_options(3));
  auto a = bk.lease(1, 1);
  auto u = fin(a[0].id);
  u.path.clear();
  auto res = bk.apply_update(1, {u});
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(res.retried == 1u);
  BOOST_TEST(res.problems.size() == 1u);
}

// Issue 13: a finish from a node that does not hold the range (rule in bookkeeper.hpp). A forged or
// late finish of a range another live node holds is logged, not counted: that node's result comes.
BOOST_AUTO_TEST_CASE(unowned_finish_of_a_range_another_node_holds_is_not_counted) {
  auto o = make_options();
  o.output_present = [](const std::string&, std::int64_t) { return true; };  // even with the file there
  bookkeeper bk(make_job(1, 2, 2), o);
  auto a = bk.lease(1, 2);
  auto forged = fin(a[0].id, "/task/first");
  forged.fsize = 10;
  auto res = bk.apply_update(2, {forged});
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(res.not_owned == 1u);
  BOOST_TEST(res.trusted == 0u);
  BOOST_REQUIRE(res.problems.size() == 1u);
  BOOST_TEST(res.problems[0].find("another node holds it") != std::string::npos);
  BOOST_TEST(bk.leased_to(1) == 2u);  // node 1 keeps its lease
  // Node 1's own finish is the one that counts.
  res = bk.apply_update(1, {fin(a[0].id, "/task/second"), fin(a[1].id, "/task/other")});
  BOOST_TEST(res.finished == 2u);
  BOOST_TEST(res.duplicates == 0u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 1u);
  BOOST_TEST(tasks[0].inputs[0].path == "/task/second");
  check_invariant(bk);
}

// A late finish of a released range (its node was lost or its pilot ended) is counted only when its
// output is under the task directory and there with the reported size; otherwise it is simulated again.
BOOST_AUTO_TEST_CASE(unowned_finish_of_a_released_range_is_counted_only_with_its_file) {
  std::map<std::string, std::int64_t> files = {{"/task/F-1.HITS", 10}, {"/task/F-2.HITS", 10}};
  std::vector<std::string> asked;
  auto o = make_options();
  o.output_present = [&](const std::string& path, std::int64_t size) {
    asked.push_back(path);
    auto it = files.find(path);
    return it != files.end() && it->second == size;
  };
  bookkeeper bk(make_job(2, 4, 4), o);
  auto a = bk.lease(1, 4);
  bk.release_node(1);
  auto with = [](const rty::event_range& r, std::string path, std::int64_t size) {
    auto u = fin(r.id, path);
    u.fsize = size;
    return u;
  };
  auto res = bk.apply_update(1, {with(a[0], "/task/F-1.HITS", 10),      // there, right size: counted
                                 with(a[1], "/task/F-2.HITS", 99),      // wrong size
                                 with(a[2], "/task/../etc/F-3", 10),    // not under the task directory
                                 with(a[3], "/task/F-4.HITS", 10)});    // not there
  BOOST_TEST(res.not_owned == 4u);
  BOOST_TEST(res.trusted == 1u);
  BOOST_TEST(res.finished == 1u);
  BOOST_TEST(bk.state_of(a[0].id).value_or("?") == "finished");
  for (int i = 1; i < 4; ++i) BOOST_TEST(bk.state_of(a[i].id).value_or("?") == "ready");
  BOOST_TEST((asked == std::vector<std::string>{"/task/F-1.HITS", "/task/F-2.HITS", "/task/F-4.HITS"}));
  // no size reported: not counted, and the file is not even looked at
  auto nosize = fin(a[1].id, "/task/F-2.HITS");
  res = bk.apply_update(1, {nosize});
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(asked.size() == 3u);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(without_a_file_check_no_unowned_finish_is_counted) {
  bookkeeper bk(make_job(1, 2, 2), make_options());
  auto a = bk.lease(1, 2);
  bk.release_node(1);
  auto u = finish_all(a);
  for (auto& e : u) e.fsize = 10;
  auto res = bk.apply_update(1, u);
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(res.not_owned == 2u);
  BOOST_TEST(!bk.exhausted());
  BOOST_TEST(bk.lease(2, 2).size() == 2u);  // simulated again
  check_invariant(bk);
}

// Issue 13, item 7: the coordinator merges only files under its task directory, whoever reports them.
BOOST_AUTO_TEST_CASE(an_owned_finish_outside_the_task_directory_is_a_failed_attempt) {
  bookkeeper bk(make_job(1, 2, 2), make_options());
  auto a = bk.lease(1, 2);
  auto res = bk.apply_update(1, {fin(a[0].id, "/etc/passwd"), fin(a[1].id, "/task/../etc/shadow")});
  BOOST_TEST(res.finished == 0u);
  BOOST_TEST(res.failed == 2u);
  BOOST_TEST(res.retried == 2u);
  BOOST_REQUIRE(res.problems.size() == 2u);
  BOOST_TEST(res.problems[0].find("not under the task directory") != std::string::npos);
  BOOST_TEST(bk.take_ready_merges().empty());
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(output_paths_must_lie_under_the_task_directory) {
  BOOST_TEST(output_under_task_dir("/task/F-1.HITS", "/task"));
  BOOST_TEST(output_under_task_dir("/task/F-1.HITS", "/task/"));
  BOOST_TEST(output_under_task_dir("/task/sub/F-1.HITS", "/task"));
  BOOST_TEST(!output_under_task_dir("/task", "/task"));
  BOOST_TEST(!output_under_task_dir("/task/", "/task"));
  BOOST_TEST(!output_under_task_dir("/taskX/F", "/task"));
  BOOST_TEST(!output_under_task_dir("/task/../etc/passwd", "/task"));
  BOOST_TEST(!output_under_task_dir("/task/./F", "/task"));
  BOOST_TEST(!output_under_task_dir("/task//F", "/task"));
  BOOST_TEST(!output_under_task_dir("/task/a/..", "/task"));
  BOOST_TEST(!output_under_task_dir("relative/F", "/task"));
  BOOST_TEST(!output_under_task_dir("/task/F", ""));
}

BOOST_AUTO_TEST_CASE(unowned_failure_is_ignored) {
  bookkeeper bk(make_job(1, 2, 2), make_options(1));
  auto a = bk.lease(1, 1);
  auto res = bk.apply_update(2, {fail(a[0].id)});
  BOOST_TEST(res.not_owned == 1u);
  BOOST_TEST(res.failed == 0u);
  BOOST_TEST(bk.state_of(a[0].id).value_or("?") == "leased");
  BOOST_TEST(bk.get_counts().groups_failed == 0u);
}

BOOST_AUTO_TEST_CASE(late_finish_after_merge_is_a_duplicate) {
  bookkeeper bk(make_job(1, 2, 2), make_options());
  auto a = bk.lease(1, 2);
  bk.apply_update(1, finish_all(a));
  auto t = bk.take_ready_merges();
  BOOST_TEST(bk.merge_succeeded(t.at(0).output_name, "/task/final/x", "G"));
  auto res = bk.apply_update(3, finish_all(a));
  BOOST_TEST(res.duplicates == 2u);
  BOOST_TEST(bk.state_of(a[0].id).value_or("?") == "merged");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bookkeeper_merges)

BOOST_AUTO_TEST_CASE(one_to_n_outputs_hold_consecutive_events_of_one_input) {
  bookkeeper bk(make_job(2, 6, 2), make_options());  // 3 outputs per input
  auto a = bk.lease(1, 12);
  // finish in reverse to show ordering does not depend on arrival
  std::vector<rty::range_update> u = finish_all(a);
  std::reverse(u.begin(), u.end());
  bk.apply_update(1, u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 6u);
  std::map<std::string, rty::merge_task> by_name;
  for (auto& t : tasks) by_name[t.output_name] = t;
  const auto& t2 = by_name.at(out_name(2));  // input 1, events 3..4
  BOOST_TEST(t2.input_files == std::vector<std::string>{in_name(1)});
  BOOST_REQUIRE_EQUAL(t2.inputs.size(), 2u);
  BOOST_TEST(t2.inputs[0].range_id == rid(1, 3));
  BOOST_TEST(t2.inputs[1].range_id == rid(1, 4));
  BOOST_TEST(t2.inputs[1].path == "/task/" + rid(1, 4) + ".HITS");
  const auto& t6 = by_name.at(out_name(6));  // input 2, events 5..6
  BOOST_TEST(t6.inputs[0].range_id == rid(2, 5));
  BOOST_TEST(bk.take_ready_merges().empty());  // each task once
}

BOOST_AUTO_TEST_CASE(n_to_one_output_holds_k_whole_inputs_ordered_by_file_then_event) {
  bookkeeper bk(make_job(4, 2, 4), make_options());  // 2 inputs per output
  auto a = bk.lease(1, 8);
  std::vector<rty::range_update> u = finish_all(a);
  std::reverse(u.begin(), u.end());
  bk.apply_update(1, u);
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 2u);
  auto& t = tasks[0].output_name == out_name(1) ? tasks[0] : tasks[1];
  BOOST_TEST(t.input_files == (std::vector<std::string>{in_name(1), in_name(2)}));
  std::vector<std::string> ids;
  for (auto& i : t.inputs) ids.push_back(i.range_id);
  BOOST_TEST(ids == (std::vector<std::string>{rid(1, 1), rid(1, 2), rid(2, 1), rid(2, 2)}));
}

BOOST_AUTO_TEST_CASE(merge_is_ready_as_soon_as_its_group_finishes) {
  bookkeeper bk(make_job(4, 2, 4), make_options());
  auto a = bk.lease(1, 5);  // inputs 1, 2 and first range of 3
  auto u = finish_all(a);
  u.pop_back();
  bk.apply_update(1, {u[0], u[1], u[2]});
  BOOST_TEST(bk.take_ready_merges().empty());
  bk.apply_update(1, {u[3]});
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 1u);
  BOOST_TEST(tasks[0].output_name == out_name(1));
  BOOST_TEST(bk.get_counts().merges_pending == 1u);
}

BOOST_AUTO_TEST_CASE(merge_results_update_counts_and_completion) {
  bookkeeper bk(make_job(2, 2, 2), make_options());
  bk.apply_update(1, finish_all(bk.lease(1, 4)));
  auto tasks = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(tasks.size(), 2u);
  BOOST_TEST(!bk.complete());
  BOOST_TEST(!bk.merge_succeeded("HITS.unknown", "/x", "G"));
  BOOST_TEST(bk.merge_succeeded(tasks[0].output_name, "/task/final/" + tasks[0].output_name, "G1"));
  BOOST_TEST(!bk.merge_succeeded(tasks[0].output_name, "/again", "G1"));  // not running any more
  BOOST_TEST(bk.merge_failed(tasks[1].output_name));
  BOOST_TEST(!bk.merge_failed(tasks[1].output_name));
  auto c = bk.get_counts();
  BOOST_TEST(c.merges_done == 1u);
  BOOST_TEST(c.merges_failed == 1u);
  BOOST_TEST(c.merged_events == 2u);
  BOOST_TEST(c.failed_events == 2u);
  BOOST_TEST(c.merges_pending == 0u);
  BOOST_TEST(bk.complete());
  auto outs = bk.outputs();
  BOOST_TEST((outs[0].state == output_state::merged));
  BOOST_TEST(outs[0].guid == "G1");
  BOOST_TEST((outs[1].state == output_state::failed));
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(empty_job_is_complete_at_once) {
  bookkeeper bk(make_job(0, 4, 4), make_options());
  BOOST_TEST(bk.complete());
  BOOST_TEST(bk.lease(1, 4).empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(bookkeeper_job_checks)

BOOST_AUTO_TEST_CASE(rejects_bad_geometry) {
  BOOST_TEST(!bookkeeper::check_job(make_job(4, 4, 2)));
  BOOST_TEST(!bookkeeper::check_job(make_job(4, 2, 4)));
  auto j = make_job(4, 4, 3);
  j.output_files.resize(4);
  BOOST_TEST(bookkeeper::check_job(j).value_or("").find("divide") != std::string::npos);
  j = make_job(4, 4, 2);
  j.output_files.pop_back();
  BOOST_TEST(bookkeeper::check_job(j).value_or("").find("HITS outFiles") != std::string::npos);
  j = make_job(3, 2, 4);  // 3 inputs cannot make whole outputs of 2 inputs
  BOOST_TEST(bookkeeper::check_job(j).has_value());
  j = make_job(2, 2, 2);
  j.guids.pop_back();
  BOOST_TEST(bookkeeper::check_job(j).value_or("").find("GUID") != std::string::npos);
  j = make_job(2, 2, 2);
  j.in_files[1] = j.in_files[0];
  BOOST_TEST(bookkeeper::check_job(j).value_or("").find("twice") != std::string::npos);
  j = make_job(2, 2, 2);
  j.events_per_input = 0;
  BOOST_TEST(bookkeeper::check_job(j).has_value());
  BOOST_CHECK_THROW(bookkeeper(j, make_options()), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
