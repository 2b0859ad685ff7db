#define BOOST_TEST_MODULE pilot_time_monitor
#include <boost/test/unit_test.hpp>

#include "pilot/time_monitor.hpp"

#include <cstdlib>
#include <ctime>
#include <string>

using namespace rty::pilot;
using namespace std::chrono;

namespace {

// Fixes the process time zone for the duration of a test so that local-time arithmetic is deterministic.
struct tz_guard {
  std::string old;
  bool had = false;
  explicit tz_guard(const char* tz) {
    if (const char* o = std::getenv("TZ")) { old = o; had = true; }
    setenv("TZ", tz, 1);
    tzset();
  }
  ~tz_guard() {
    if (had) setenv("TZ", old.c_str(), 1); else unsetenv("TZ");
    tzset();
  }
};

system_clock::time_point utc(int y, int mo, int d, int h, int mi, int s) {
  std::tm t{};
  t.tm_year = y - 1900; t.tm_mon = mo - 1; t.tm_mday = d; t.tm_hour = h; t.tm_min = mi; t.tm_sec = s;
  return system_clock::from_time_t(timegm(&t));
}

std::int64_t limit_of(const char* text) {
  auto r = parse_walltime(text);
  BOOST_TEST_REQUIRE(r.has_value(), text << ": " << r.error());
  return *r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(parses_start_and_squeue_limits) {
  auto m = parse_time_monitor("13:45:10\n12:00:00\n");
  BOOST_TEST_REQUIRE(m.has_value());
  BOOST_TEST(m->start_seconds_of_day == 13 * 3600 + 45 * 60 + 10);
  BOOST_TEST(m->limit_seconds == 12 * 3600);

  BOOST_TEST(limit_of("2-03:04:05") == ((2 * 24 + 3) * 60 + 4) * 60 + 5);  // squeue with days
  BOOST_TEST(limit_of("1:30:00") == 5400);                                 // old squeue H:MM:SS
  BOOST_TEST(limit_of("30:15") == 30 * 60 + 15);                           // Raythena's MM:SS
  BOOST_TEST(limit_of("90") == 90 * 60);                                   // Slurm plain minutes
  BOOST_TEST(limit_of("1-12") == 36 * 3600);                               // Slurm D-HH
  BOOST_TEST(limit_of("1-12:30") == 36 * 3600 + 1800);                     // Slurm D-HH:MM
  BOOST_TEST(limit_of(" 00:10:00\r") == 600);                              // CRLF and blanks
  auto crlf = parse_time_monitor("01:02:03\r\n00:30:00\r\n");
  BOOST_TEST_REQUIRE(crlf.has_value());
  BOOST_TEST(crlf->start_seconds_of_day == 3723);
}

BOOST_AUTO_TEST_CASE(rejects_unusable_files) {
  for (const char* bad : {"UNLIMITED", "NOT_SET", "INVALID", "", "abc", "1:2:3:4", "1-25:00:00", "1:61:00",
                          "10:70", "-5", "00:00:00", "1.5"}) {
    auto r = parse_walltime(bad);
    BOOST_TEST(!r.has_value(), bad);
  }
  auto unlimited = parse_time_monitor("10:00:00\nUNLIMITED\n");
  BOOST_TEST_REQUIRE(!unlimited.has_value());
  BOOST_TEST(unlimited.error().message().find("UNLIMITED") != std::string::npos);
  BOOST_TEST(unlimited.error().message().find("line 2") != std::string::npos);

  for (const char* bad : {"10:00:00", "10:00:00\n", "24:00:00\n1:00:00", "10:00\n1:00:00", "x\n1:00:00",
                          "100:00:00\n1:00:00"}) {
    auto r = parse_time_monitor(bad);
    BOOST_TEST(!r.has_value(), bad);
  }
}

BOOST_AUTO_TEST_CASE(deadline_same_day_utc) {
  tz_guard tz("UTC0");
  const time_monitor m{10 * 3600, 12 * 3600};  // started 10:00, 12 h limit
  const auto written = utc(2024, 3, 5, 10, 0, 2);
  BOOST_TEST((kill_deadline(m, written, seconds(600)) == utc(2024, 3, 5, 21, 50, 0)));
  // Same answer when only "now" (hours later, same day) is known.
  BOOST_TEST((kill_deadline(m, utc(2024, 3, 5, 18, 0, 0), seconds(600)) == utc(2024, 3, 5, 21, 50, 0)));
  // Written exactly at the start second: started now, not 24 h ago.
  BOOST_TEST((kill_deadline(m, utc(2024, 3, 5, 10, 0, 0), seconds(0)) == utc(2024, 3, 5, 22, 0, 0)));
}

BOOST_AUTO_TEST_CASE(deadline_wraps_past_midnight) {
  tz_guard tz("UTC0");
  const time_monitor m{23 * 3600 + 30 * 60, 2 * 3600};  // started 23:30 yesterday
  const auto now = utc(2024, 3, 6, 0, 15, 0);
  BOOST_TEST((kill_deadline(m, now, seconds(900)) == utc(2024, 3, 6, 1, 15, 0)));
}

BOOST_AUTO_TEST_CASE(deadline_multi_day_limit) {
  tz_guard tz("UTC0");
  const time_monitor m{8 * 3600, 3 * 86400 + 3600};  // 3-01:00:00
  const auto written = utc(2024, 3, 5, 8, 0, 1);
  BOOST_TEST((kill_deadline(m, written, seconds(600)) == utc(2024, 3, 8, 8, 50, 0)));
}

BOOST_AUTO_TEST_CASE(deadline_uses_local_time_of_day) {
  tz_guard tz("XYZ-2");  // POSIX: local = UTC+2
  // `date +%H:%M:%S` printed 10:00:00 local = 08:00:00 UTC.
  const time_monitor m{10 * 3600, 3600};
  const auto written = utc(2024, 3, 5, 8, 0, 5);
  BOOST_TEST((kill_deadline(m, written, seconds(600)) == utc(2024, 3, 5, 8, 50, 0)));
  // 01:00 local start, reference 23:30 UTC the previous day = 01:30 local: same local day.
  const time_monitor early{3600, 7200};
  BOOST_TEST((kill_deadline(early, utc(2024, 3, 4, 23, 30, 0), seconds(0)) == utc(2024, 3, 5, 1, 0, 0)));
}

BOOST_AUTO_TEST_CASE(deadline_across_dst_change) {
  tz_guard tz("CET-1CEST,M3.5.0,M10.5.0/3");
  // Started 22:00 local on 2024-03-30 (CET, 21:00 UTC); reference after the switch to CEST.
  const time_monitor m{22 * 3600, 10 * 3600};
  const auto ref = utc(2024, 3, 31, 5, 0, 0);  // 07:00 CEST
  BOOST_TEST((kill_deadline(m, ref, seconds(0)) == utc(2024, 3, 31, 7, 0, 0)));
}
