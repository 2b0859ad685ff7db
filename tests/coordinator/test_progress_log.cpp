// The minute progress line and the drain lines, on a fake clock.
#include <boost/test/unit_test.hpp>

#include "coordinator/progress_log.hpp"

namespace rty::coordinator {
namespace {

using namespace std::chrono_literals;
using sys = std::chrono::system_clock;

// 2026-12-02 03:00:00 UTC
const sys::time_point t0 = sys::time_point(std::chrono::seconds(1796180400));

progress_snapshot half_done() {
  progress_snapshot s;
  s.done = 450;
  s.failed = 3;
  s.total = 1000;
  s.eta_s = 725;
  s.job_end = t0 + 3h + 12min + 45s + 60s;  // as seen from the first line, a minute later
  s.drain_at = *s.job_end - 10min;
  return s;
}

BOOST_AUTO_TEST_CASE(time_left_is_squeue_style) {
  BOOST_TEST(format_time_left(0) == "0-00:00:00");
  BOOST_TEST(format_time_left(-5) == "0-00:00:00");
  BOOST_TEST(format_time_left(59.6) == "0-00:01:00");
  BOOST_TEST(format_time_left(3 * 3600 + 12 * 60 + 45) == "0-03:12:45");
  BOOST_TEST(format_time_left(2 * 86400 + 3600 + 1) == "2-01:00:01");
}

BOOST_AUTO_TEST_CASE(one_line_a_minute_with_percent_eta_and_walltime_left) {
  progress_log log;
  auto s = half_done();
  BOOST_TEST(log.due(t0, false));
  BOOST_TEST(log.update(s, t0).empty());  // the first call starts the clock
  BOOST_TEST(!log.due(t0 + 59s, false));
  BOOST_TEST(log.due(t0 + 59s, true));  // a drain is said at once
  BOOST_TEST(log.due(t0 + 60s, false));
  for (auto t = t0 + 1s; t < t0 + 60s; t += 1s) BOOST_TEST(log.update(s, t).empty());
  auto lines = log.update(s, t0 + 60s);
  BOOST_TEST_REQUIRE(lines.size() == 2u);
  BOOST_TEST(lines[0] == "progress: 45% (450 of 1000 event ranges done, 3 failed), ETA 0-00:12:05, walltime left 0-03:12:45");
  BOOST_TEST(lines[1] == "drain starts at 2026-12-02 06:03:45 UTC, in 0-03:02:45 (walltime - payload.pilotkilltime)");
  // The next minute: the progress line only (the drain time has not moved).
  for (auto t = t0 + 61s; t < t0 + 120s; t += 1s) BOOST_TEST(log.update(s, t).empty());
  lines = log.update(s, t0 + 120s);
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0].find("walltime left 0-03:11:45") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(drain_time_is_announced_again_when_it_moves) {
  progress_log log;
  auto s = half_done();
  log.update(s, t0);
  BOOST_TEST(log.update(s, t0 + 60s).size() == 2u);
  s.drain_at = *s.drain_at + 30s;  // a small change: not worth a line
  BOOST_TEST(log.update(s, t0 + 120s).size() == 1u);
  s.drain_at = *s.drain_at + 2h;  // the time-monitor file was rewritten
  auto lines = log.update(s, t0 + 180s);
  BOOST_TEST_REQUIRE(lines.size() == 2u);
  BOOST_TEST(lines[1].find("drain starts at 2026-12-02 08:04:15 UTC") == 0u);
}

BOOST_AUTO_TEST_CASE(without_limit_or_rate) {
  progress_log log(30s);
  progress_snapshot s;
  s.total = 10;
  log.update(s, t0);
  auto lines = log.update(s, t0 + 30s);
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "progress: 0% (0 of 10 event ranges done, 0 failed), ETA unknown, walltime left no limit");
}

BOOST_AUTO_TEST_CASE(drain_start_is_said_once_at_once) {
  progress_log log;
  auto s = half_done();
  log.update(s, t0);
  s.draining = true;
  s.drain_reason = "walltime: less than payload.pilotkilltime left";
  auto lines = log.update(s, t0 + 5s);
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0] == "drain started: walltime: less than payload.pilotkilltime left; walltime left 0-03:13:40");
  BOOST_TEST(log.update(s, t0 + 6s).empty());
  // Progress lines go on while draining; the forecast is over.
  lines = log.update(s, t0 + 60s);
  BOOST_TEST_REQUIRE(lines.size() == 1u);
  BOOST_TEST(lines[0].starts_with("progress: 45%"));
}

}  // namespace
}  // namespace rty::coordinator
