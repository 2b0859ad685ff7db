// Ranges supplied by Harvester (harvester.eventsource = harvester): only supplied ranges are leased,
// under Harvester's ids; "no more" fails the groups Harvester never supplied; resume keeps the ids.
#include <boost/test/unit_test.hpp>

#include <boost/json.hpp>

#include "bookkeeping/checkpoint.hpp"
#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;

namespace {
options external_options() {
  options o = make_options();
  o.external_ranges = true;
  return o;
}
// What the messenger delivers: Harvester's id, PFN = endpoint/LFN, one event.
rty::event_range hv(int input, int n) {
  rty::event_range r;
  r.id = "5678-6000000001-" + std::to_string(90000000 + input) + "-" + std::to_string(n) + "-1";
  r.pfn = "/ep/" + in_name(input);
  r.guid = "GUID-" + std::to_string(input);
  r.start_event = r.last_event = n;
  return r;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(external_source)

BOOST_AUTO_TEST_CASE(nothing_is_leased_before_harvester_supplies_it) {
  bookkeeper bk(make_job(2, 4, 4), external_options());
  BOOST_TEST(bk.awaiting_supply() == 8u);
  BOOST_TEST(bk.lease(1, 10).empty());
  BOOST_TEST(!bk.exhausted());  // waiting for Harvester is not "no more"
  BOOST_TEST(bk.supply({hv(1, 2), hv(1, 3)}) == 2u);
  BOOST_TEST(bk.awaiting_supply() == 6u);
  BOOST_TEST(bk.leasable() == 2u);
  auto a = bk.lease(1, 10);
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_TEST(a[0].id == hv(1, 2).id);  // pilot sees Harvester's id
  BOOST_TEST(a[0].start_event == 2);
  BOOST_TEST(a[1].id == hv(1, 3).id);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(updates_under_harvester_ids_complete_merges) {
  bookkeeper bk(make_job(1, 4, 4), external_options());
  bk.supply({hv(1, 1), hv(1, 2), hv(1, 3), hv(1, 4)});
  auto a = bk.lease(1, 4);
  auto out = bk.apply_update(1, finish_all(a));
  BOOST_TEST(out.finished == 4u);
  BOOST_TEST(out.unknown == 0u);
  auto merges = bk.take_ready_merges();
  BOOST_REQUIRE_EQUAL(merges.size(), 1u);
  BOOST_TEST(merges[0].inputs[0].range_id == hv(1, 1).id);
  BOOST_TEST(bk.exhausted());
}

BOOST_AUTO_TEST_CASE(bad_and_repeated_supplies_are_skipped_with_a_reason) {
  bookkeeper bk(make_job(1, 4, 4), external_options());
  auto multi = hv(1, 1);
  multi.last_event = 2;
  auto stranger = hv(1, 1);
  stranger.pfn = "/ep/EVNT.other.pool.root.1";
  auto beyond = hv(1, 1);
  beyond.start_event = beyond.last_event = 5;
  std::vector<std::string> problems;
  BOOST_TEST(bk.supply({multi, stranger, beyond, hv(1, 1), hv(1, 1)}, &problems) == 1u);
  BOOST_REQUIRE_EQUAL(problems.size(), 4u);
  BOOST_TEST(problems[0].find("only single events") != std::string::npos);
  BOOST_TEST(problems[1].find("not one of the job's") != std::string::npos);
  BOOST_TEST(problems[3].find("already supplied") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_more_from_harvester_fails_the_groups_it_never_supplied) {
  bookkeeper bk(make_job(2, 4, 4), external_options());
  bk.supply({hv(1, 1), hv(1, 2), hv(1, 3), hv(1, 4), hv(2, 1)});
  bk.apply_update(1, finish_all(bk.lease(1, 10)));
  BOOST_TEST(!bk.exhausted());
  BOOST_TEST(bk.source_exhausted() == 1u);  // input 2's group: events 2..4 never came
  BOOST_TEST(bk.awaiting_supply() == 0u);
  BOOST_TEST(bk.exhausted());
  auto c = bk.get_counts();
  BOOST_TEST(c.groups_failed == 1u);
  BOOST_TEST(c.failed == 4u);
  BOOST_TEST(bk.take_ready_merges().size() == 1u);
  check_invariant(bk);
}

BOOST_AUTO_TEST_CASE(resume_keeps_harvester_ids_and_does_not_redo_recorded_ranges) {
  bookkeeper first(make_job(1, 4, 2), external_options());
  first.supply({hv(1, 1), hv(1, 2), hv(1, 3)});
  auto a = first.lease(1, 3);
  first.apply_update(1, finish_all(a));
  auto text = boost::json::serialize(to_json(first.snapshot()));
  BOOST_TEST(text.find(hv(1, 3).id) != std::string::npos);

  bookkeeper second(make_job(1, 4, 2), external_options());
  auto cp = checkpoint_from_json(boost::json::parse(text), "state.json");
  BOOST_REQUIRE(cp.has_value());
  second.restore(*cp);
  BOOST_TEST(second.awaiting_supply() == 1u);  // only event 4 is still to come
  std::vector<std::string> problems;
  // Harvester hands out everything again (a new worker): recorded ranges are not simulated twice.
  BOOST_TEST(second.supply({hv(1, 1), hv(1, 2), hv(1, 3), hv(1, 4)}, &problems) == 1u);
  BOOST_TEST(problems.size() == 3u);
  auto b = second.lease(2, 10);
  BOOST_REQUIRE_EQUAL(b.size(), 1u);
  BOOST_TEST(b[0].id == hv(1, 4).id);
  auto out = second.apply_update(2, {fin(hv(1, 3).id)});  // a late duplicate under Harvester's id
  BOOST_TEST(out.duplicates == 1u);
  check_invariant(second);
}

BOOST_AUTO_TEST_CASE(local_source_refuses_supplies) {
  bookkeeper bk(make_job(1, 4, 4), make_options());
  std::vector<std::string> problems;
  BOOST_TEST(bk.supply({hv(1, 1)}, &problems) == 0u);
  BOOST_TEST(problems.size() == 1u);
  BOOST_TEST(bk.awaiting_supply() == 0u);
  BOOST_TEST(bk.leasable() == 4u);
}

BOOST_AUTO_TEST_SUITE_END()
