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

BOOST_AUTO_TEST_CASE(a_node_close_to_the_job_uses_the_jobs_estimate) {
  walltime_settings s;
  s.node_min_samples = 3;
  duration_estimate e(s);
  for (int i = 0; i < 200; ++i) e.record(0, seconds(100));
  for (int i = 0; i < 5; ++i) e.record(1, seconds(120));  // 20 % slower: within the band, noise
  for (int i = 0; i < 5; ++i) e.record(2, seconds(80));   // 20 % faster: the same
  for (int i = 0; i < 5; ++i) e.record(3, seconds(130));  // 30 % slower: its own
  for (int i = 0; i < 5; ++i) e.record(4, seconds(70));   // 30 % faster: its own
  BOOST_TEST((*e.job() == seconds(100)));
  BOOST_TEST((*e.for_node(1) == seconds(100)));
  BOOST_TEST((*e.for_node(2) == seconds(100)));
  BOOST_TEST((*e.for_node(3) == seconds(130)));
  BOOST_TEST((*e.for_node(4) == seconds(70)));
  BOOST_TEST((*e.at_once_for_node(3) == seconds(130)));
}

BOOST_AUTO_TEST_CASE(a_slow_node_with_few_samples_started_at_once_scales_the_jobs) {
  walltime_settings s;
  s.node_min_samples = 3;
  duration_estimate e(s);
  for (int i = 0; i < 100; ++i) e.record(0, seconds(50), true);
  for (int i = 0; i < 100; ++i) e.record(0, seconds(100), false);
  for (int i = 0; i < 10; ++i) e.record(1, seconds(200), false);  // twice as slow, one at once
  e.record(1, seconds(100), true);
  for (int i = 0; i < 10; ++i) e.record(2, seconds(100), false);  // alike
  BOOST_TEST((*e.job() == seconds(100)));
  BOOST_TEST((*e.job_at_once() == seconds(50)));
  BOOST_TEST((*e.for_node(1) == seconds(200)));          // its own: outside the band
  BOOST_TEST((*e.at_once_for_node(1) == seconds(100)));  // the job's 50 s, twice
  BOOST_TEST((*e.at_once_for_node(2) == seconds(50)));   // alike: the job's
  BOOST_TEST((*e.at_once_for_node(9) == seconds(50)));   // never heard of: the job's
}

BOOST_AUTO_TEST_CASE(ranges_that_waited_in_pilots_cache_are_kept_apart_from_those_started_at_once) {
  walltime_settings s;
  s.node_min_samples = 2;
  duration_estimate e(s);
  e.record(0, seconds(100), true);
  e.record(0, seconds(100), true);
  e.record(0, seconds(250), false);  // waited behind a running range
  e.record(0, seconds(250), false);
  BOOST_TEST((*e.at_once_for_node(0) == seconds(100)));
  BOOST_TEST((*e.for_node(0) == seconds(250)));  // every sample: the waits push the p90 up
  BOOST_TEST((*e.job_at_once() == seconds(100)));
  BOOST_TEST((*e.job() == seconds(250)));
  BOOST_TEST(e.samples() == 4u);
  duration_estimate none(s);
  none.record(3, seconds(40), false);
  BOOST_TEST(!none.at_once_for_node(3));  // no range started at once yet
  BOOST_TEST((*none.for_node(3) == seconds(40)));
}

BOOST_AUTO_TEST_CASE(free_workers_are_those_neither_holding_a_range_nor_ended) {
  BOOST_TEST(free_workers(8, 0, 0) == 8u);
  BOOST_TEST(free_workers(8, 5, 0) == 3u);
  BOOST_TEST(free_workers(8, 5, 2) == 1u);  // two workers were told "No more events" and ended
  BOOST_TEST(free_workers(8, 7, 3) == 1u);  // the asking worker is free whatever the counts say
  BOOST_TEST(free_workers(0, 0, 0) == 1u);
}

BOOST_AUTO_TEST_CASE(near_the_kill_time_only_the_free_workers_get_a_range) {
  walltime_settings s;
  s.margin = seconds(60);
  const tp kill{seconds(10000)};
  const request_timing r{seconds(800), seconds(300), 2};
  // 8000 + 800 + 60 fits: the full answer, cached ranges included.
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(8000)}, r, 8) == 8u);
  // 9500: a range waiting in the cache would not finish, one started at once would (9500 + 300 + 60).
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9500)}, r, 8) == 2u);
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9500)}, r, 1) == 1u);
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9500)}, request_timing{seconds(800), seconds(300), 0}, 8) == 1u);
  // 9700: not even a range started at once: held back.
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9700)}, r, 8) == 0u);
  // Without a sample of a range started at once, `any` decides alone.
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9500)}, request_timing{seconds(800), std::nullopt, 2}, 8) == 0u);
  // Nothing finished yet, no limit, or Raythena's rule: everything.
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9999)}, request_timing{}, 8) == 8u);
  BOOST_TEST(ranges_that_fit(s, std::nullopt, tp{seconds(9999)}, r, 8) == 8u);
  s.aware = false;
  BOOST_TEST(ranges_that_fit(s, kill, tp{seconds(9999)}, r, 8) == 8u);
}

BOOST_AUTO_TEST_SUITE_END()
