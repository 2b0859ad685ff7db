// The walltime-aware dispatch rule (walltime_policy.hpp): the duration estimate and the fit test.
#include <boost/test/unit_test.hpp>

#include "coordinator/walltime_policy.hpp"

using namespace rty::coordinator;
using std::chrono::seconds;
using tp = std::chrono::steady_clock::time_point;

BOOST_AUTO_TEST_SUITE(walltime_policy)

BOOST_AUTO_TEST_CASE(the_window_quantile_is_the_nearest_rank_of_the_last_samples) {
  duration_window w(10);
  BOOST_TEST(!w.quantile(0.9));
  for (int i = 1; i <= 10; ++i) w.add(seconds(i));
  BOOST_TEST((*w.quantile(0.9) == seconds(9)));
  BOOST_TEST((*w.quantile(1.0) == seconds(10)));
  BOOST_TEST((*w.quantile(0.0) == seconds(1)));
  // The oldest go: ten samples of 100 s replace 1..10.
  for (int i = 0; i < 10; ++i) w.add(seconds(100));
  BOOST_TEST(w.size() == 10u);
  BOOST_TEST((*w.quantile(0.9) == seconds(100)));
  BOOST_TEST((*w.quantile(0.0) == seconds(100)));
}

BOOST_AUTO_TEST_CASE(a_node_uses_its_own_estimate_once_it_has_enough_samples) {
  walltime_settings s;
  s.node_min_samples = 3;
  duration_estimate e(s);
  BOOST_TEST(!e.for_node(0));
  for (int i = 0; i < 40; ++i) e.record(0, seconds(10));
  e.record(1, seconds(50));
  e.record(1, seconds(50));
  BOOST_TEST((*e.for_node(1) == seconds(10)));  // two samples: the job's p90
  BOOST_TEST((*e.for_node(7) == seconds(10)));  // a node never heard of: the job's
  e.record(1, seconds(50));
  BOOST_TEST((*e.for_node(1) == seconds(50)));  // its own
  e.forget_node(1);
  BOOST_TEST((*e.for_node(1) == seconds(10)));
}

BOOST_AUTO_TEST_CASE(a_range_is_held_back_when_the_estimate_says_it_cannot_finish) {
  walltime_settings s;
  s.margin = seconds(60);
  const tp kill{seconds(10000)};
  BOOST_TEST(fits_before_kill(s, kill, tp{seconds(9000)}, seconds(940)));   // 9000 + 940 + 60 = kill
  BOOST_TEST(!fits_before_kill(s, kill, tp{seconds(9001)}, seconds(940)));  // one second later: held back
  BOOST_TEST(!fits_before_kill(s, kill, tp{seconds(11000)}, seconds(1)));   // past the kill time
}

BOOST_AUTO_TEST_CASE(a_range_is_handed_out_without_estimate_limit_or_awareness) {
  walltime_settings s;
  const tp kill{seconds(100)};
  const tp late{seconds(99)};
  BOOST_TEST(fits_before_kill(s, kill, late, std::nullopt));          // nothing finished yet
  BOOST_TEST(fits_before_kill(s, std::nullopt, late, seconds(1000)));  // no walltime limit
  s.aware = false;                                                      // Raythena's rule
  BOOST_TEST(fits_before_kill(s, kill, late, seconds(1000)));
}

BOOST_AUTO_TEST_SUITE_END()
