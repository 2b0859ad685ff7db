// The stub's decisions about its pilot, with a shell that records every action: no processes, no
// signals, no timers.
#include <boost/test/unit_test.hpp>

#include "stub/pilot_supervisor.hpp"

using namespace rty;
using namespace rty::stub;
using namespace std::chrono_literals;

namespace {

struct recording_actions : pilot_actions {
  std::vector<std::string> log;
  void write_kill_file(const std::string& why) override { log.push_back("kill file: " + why); }
  void wind_down(std::chrono::seconds g) override { log.push_back("wind down " + std::to_string(g.count())); }
  void signal_pilot(const std::string& why) override { log.push_back("signal: " + why); }
  void arm_grace(std::chrono::seconds g, const std::string&) override {
    log.push_back("grace " + std::to_string(g.count()));
  }
  void finish(int code) override { log.push_back("finish " + std::to_string(code)); }
};

protocol::stop stop(bool drain, int grace_s = 0) {
  protocol::stop s;
  s.reason = "test";
  s.drain = drain;
  s.grace_s = grace_s;
  return s;
}

using log_t = std::vector<std::string>;

}  // namespace

BOOST_AUTO_TEST_SUITE(pilot_supervisor_suite)

BOOST_AUTO_TEST_CASE(a_drain_writes_the_kill_file_once_and_the_pilots_end_ends_the_stub) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.stop(stop(true));
  s.write_kill_file("walltime");  // the walltime timer after the drain: no second file
  BOOST_TEST(io.log == (log_t{"kill file: coordinator drain"}));
  BOOST_TEST(s.refuse_attempt().value() == "a pilot runs");
  s.pilot_exited();
  BOOST_TEST(io.log.back() == "finish 0");
}

BOOST_AUTO_TEST_CASE(no_new_pilot_after_the_kill_file) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.write_kill_file("walltime");
  s.pilot_exited();  // stopping: the node's last pilot
  BOOST_TEST(io.log == (log_t{"kill file: walltime", "finish 0"}));
  BOOST_TEST(s.refuse_attempt().value() == "the stub is ending");
}

BOOST_AUTO_TEST_CASE(a_pilot_that_ends_by_itself_waits_for_the_coordinator) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.pilot_exited();
  BOOST_TEST(io.log.empty());  // the stub stays: start_pilot or stop decide
  BOOST_TEST(!s.refuse_attempt());
  s.pilot_started();
  s.stop(stop(false));  // the run is over, no grace: the pilot is stopped
  BOOST_TEST(io.log == (log_t{"signal: coordinator stop"}));
  s.pilot_exited();
  BOOST_TEST(io.log.back() == "finish 0");
}

BOOST_AUTO_TEST_CASE(a_stop_with_grace_lets_the_pilot_wind_down_and_no_pilot_ends_at_once) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.stop(stop(false, 30));
  BOOST_TEST(io.log == (log_t{"wind down 30"}));
  recording_actions idle_io;
  pilot_supervisor idle(idle_io);
  idle.stop(stop(true));  // a drain with no pilot: the stub ends
  BOOST_TEST(idle_io.log == (log_t{"finish 0"}));
}

BOOST_AUTO_TEST_CASE(a_lost_channel_gives_the_pilot_the_grace_period_and_fails_the_node) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.channel_lost(30s, "EOF");
  s.channel_lost(30s, "EOF again");  // once
  BOOST_TEST(io.log == (log_t{"grace 30"}));
  s.terminate("channel gone for longer than the grace period");
  BOOST_TEST(io.log.back() == "signal: channel gone for longer than the grace period");
  s.pilot_exited();
  BOOST_TEST(io.log.back() == "finish 1");
}

BOOST_AUTO_TEST_CASE(a_channel_closed_after_a_stop_is_no_loss) {
  recording_actions io;
  pilot_supervisor s(io);
  s.pilot_started();
  s.stop(stop(false, 10));
  s.channel_lost(30s, "EOF");
  BOOST_TEST(io.log == (log_t{"wind down 10"}));  // no grace timer, no failure
  s.pilot_exited();
  BOOST_TEST(io.log.back() == "finish 0");
}

BOOST_AUTO_TEST_CASE(only_a_first_launch_that_fails_ends_the_node) {
  recording_actions io;
  pilot_supervisor s(io);
  s.launch_failed();
  BOOST_TEST(io.log == (log_t{"finish 3"}));
  s.finish(1);  // a later finish changes nothing
  BOOST_TEST(io.log.size() == 1u);
  recording_actions later_io;
  pilot_supervisor later(later_io);
  later.pilot_started();
  later.pilot_exited();
  later.launch_failed();  // attempt 2 failed: the node stays without a pilot
  BOOST_TEST(later_io.log.empty());
}

BOOST_AUTO_TEST_CASE(the_kill_file_time_and_the_guard_grace) {
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1000));
  BOOST_TEST(!pilot_supervisor::kill_delay(0, now));
  BOOST_TEST(pilot_supervisor::kill_delay(1060, now).value() == std::chrono::seconds(60));
  BOOST_TEST(pilot_supervisor::kill_delay(900, now).value().count() == 0);  // past: at once
  BOOST_TEST(pilot_supervisor::guard_grace(0) == 1u);
  BOOST_TEST(pilot_supervisor::guard_grace(30) == 30u);
  BOOST_TEST(pilot_supervisor::guard_grace(100000) == 3600u);
}

BOOST_AUTO_TEST_SUITE_END()
