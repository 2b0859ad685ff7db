#include <boost/test/unit_test.hpp>

#include "merge/merge_placement.hpp"

using rty::merge::merge_place;
using rty::merge::merge_placement;

BOOST_AUTO_TEST_CASE(placement_prefers_idle_nodes_least_loaded_then_the_coordinator_node) {
  merge_placement p(2, true);
  const std::vector<std::uint64_t> idle{7, 3};
  auto a = p.place(idle);
  BOOST_REQUIRE(a);
  BOOST_TEST((*a == merge_place{3}));  // equal load: the lowest id
  p.assign("A", *a);
  BOOST_TEST((*p.place(idle) == merge_place{7}));  // least loaded
  p.assign("B", merge_place{7});
  p.assign("C", merge_place{3});
  p.assign("D", merge_place{7});
  BOOST_TEST(p.running_on(3) == 2u);
  BOOST_TEST(p.remote_running() == 4u);
  // Every idle node at ray.mergemaxprocesses: the coordinator's node takes the rest, up to its own cap.
  BOOST_TEST(p.place(idle)->local());
  p.assign("E", merge_place{});
  p.assign("F", merge_place{});
  BOOST_TEST(!p.place(idle));
  BOOST_TEST(p.local_running() == 2u);
  BOOST_TEST(p.remote_started() == 4u);
  // A result frees its slot; a stale one (never assigned, or already released) changes nothing.
  BOOST_TEST((*p.release("C") == merge_place{3}));
  BOOST_TEST(!p.release("C"));
  BOOST_TEST((*p.place(idle) == merge_place{3}));
}

BOOST_AUTO_TEST_CASE(with_no_idle_node_or_remote_merges_off_merges_are_local) {
  merge_placement on(1, true);
  BOOST_TEST(on.place({})->local());
  merge_placement off(1, false);
  BOOST_TEST(off.place({4, 5})->local());  // false: Raythena's rule
  off.assign("A", *off.place({4, 5}));
  BOOST_TEST(!off.place({4, 5}));
  BOOST_TEST(off.remote_started() == 0u);
}

BOOST_AUTO_TEST_CASE(a_lost_node_names_its_merges_and_frees_nothing_else) {
  merge_placement p(3, true);
  p.assign("A", merge_place{1});
  p.assign("B", merge_place{2});
  p.assign("C", merge_place{1});
  p.assign("L", merge_place{});
  auto lost = p.node_lost(1);
  BOOST_TEST((lost == std::vector<std::string>{"A", "C"}));
  BOOST_TEST(p.running_on(1) == 0u);
  BOOST_TEST(!p.where("A"));
  BOOST_TEST((*p.where("B") == merge_place{2}));
  BOOST_TEST(p.where("L")->local());
  BOOST_TEST(!p.release("A"));  // its late result, had the node come back, is ignored
  BOOST_TEST(p.remote_running() == 1u);
}
