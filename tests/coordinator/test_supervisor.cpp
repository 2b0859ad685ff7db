// The run's life cycle (coordinator/supervisor.hpp) driven with a fake clock: what each event decides.
#include <boost/test/unit_test.hpp>

#include "coordinator/daemon.hpp"
#include "coordinator/supervisor.hpp"

using namespace rty::coordinator;
using namespace std::chrono_literals;

namespace {

const supervisor::time_point t0 = supervisor::time_point{} + 1000s;

supervisor running(std::chrono::seconds inactivity = 0s, std::chrono::seconds kill_time = 600s) {
  supervisor s({inactivity, kill_time});
  s.job_acquired();
  s.engine_created(0);
  s.stubs_launched();
  return s;
}

progress at(std::uint64_t done, std::uint64_t outstanding = 10) {
  progress p;
  p.done = done;
  p.outstanding = outstanding;
  return p;
}

}  // namespace

BOOST_AUTO_TEST_CASE(phases_advance_and_never_go_back) {
  supervisor s({});
  BOOST_TEST(to_string(s.current()) == "waiting for job");
  s.job_acquired();
  BOOST_TEST((s.current() == phase::preparing));
  s.engine_created(5);
  BOOST_TEST((s.current() == phase::launching));
  s.stubs_launched();
  BOOST_TEST((s.current() == phase::running));
  s.walltime_reached(t0);
  BOOST_TEST((s.current() == phase::draining));
  s.stubs_launched();  // a late step does not undo the drain
  BOOST_TEST((s.current() == phase::draining));
  s.finishing();
  BOOST_TEST(s.finished());
  s.done();
  BOOST_TEST(to_string(s.current()) == "done");
}

BOOST_AUTO_TEST_CASE(first_signal_drains_second_stops) {
  auto s = running(0s, 600s);
  auto d = s.stop_signal("Terminated", t0);
  BOOST_TEST(*d.log_warning == "received Terminated: draining, checkpoint saved");
  BOOST_TEST(*d.checkpoint == "signal");
  BOOST_TEST(*d.drain == "signal Terminated");
  BOOST_TEST((*d.hard_stop_at == t0 + 30s));  // min(30 s, pilotkilltime)
  BOOST_TEST(!d.stop_now);
  BOOST_TEST(!d.finish);
  auto due = s.hard_stop_due();
  BOOST_TEST(*due.stop_now == "drain period after the stop signal is over");
  auto second = s.stop_signal("Interrupt", t0 + 1s);
  BOOST_TEST(*second.stop_now == "second stop signal (Interrupt)");
  BOOST_TEST(!second.drain);
  // Once the end of the run is being written, signals change nothing.
  s.finishing();
  BOOST_TEST(s.stop_signal("Terminated", t0 + 2s).empty());
  BOOST_TEST(s.hard_stop_due().empty());
}

BOOST_AUTO_TEST_CASE(short_kill_time_shortens_the_signal_drain) {
  auto s = running(0s, 10s);
  BOOST_TEST((*s.stop_signal("Terminated", t0).hard_stop_at == t0 + 10s));
}

BOOST_AUTO_TEST_CASE(a_signal_before_the_engine_gives_up_at_once) {
  supervisor s({});
  auto d = s.stop_signal("Terminated", t0);
  BOOST_TEST(*d.abort == "stopped (Terminated) while waiting for the job from Harvester");
  BOOST_TEST(!d.drain);
  supervisor p({});
  p.job_acquired();
  BOOST_TEST(*p.stop_signal("Interrupt", t0).abort == "stopped (Interrupt) before the run started");
}

BOOST_AUTO_TEST_CASE(walltime_drains_and_keeps_an_earlier_hard_stop) {
  {
    auto s = running(0s, 600s);
    auto d = s.walltime_reached(t0);
    BOOST_TEST(*d.drain == "walltime: less than payload.pilotkilltime left");
    BOOST_TEST((*d.hard_stop_at == t0 + 300s));  // half the kill time
    BOOST_TEST(!d.checkpoint);
    BOOST_TEST(*s.hard_stop_due().stop_now == "walltime nearly over");
  }
  {
    auto s = running(0s, 4s);
    BOOST_TEST((*s.walltime_reached(t0).hard_stop_at == t0 + 5s));  // at least 5 s
  }
  {  // a signal at t0 set a hard stop 30 s on; the walltime at t0+10 s (300 s on) does not move it
    auto s = running(0s, 600s);
    s.stop_signal("Terminated", t0);
    auto d = s.walltime_reached(t0 + 10s);
    BOOST_TEST(d.drain.has_value());
    BOOST_TEST(!d.hard_stop_at);
    BOOST_TEST((*s.hard_stop_at() == t0 + 30s));
    BOOST_TEST(*s.hard_stop_due().stop_now == "drain period after the stop signal is over");
  }
  {  // the other way round: the walltime's hard stop is later than the signal's, so the signal's wins
    auto s = running(0s, 600s);
    s.walltime_reached(t0);
    auto d = s.stop_signal("Terminated", t0 + 1s);
    BOOST_TEST((*d.hard_stop_at == t0 + 31s));
  }
}

BOOST_AUTO_TEST_CASE(inactivity_watchdog) {
  auto s = running(60s, 600s);
  // No range finished yet: the watchdog is not armed (pilots may take long to start).
  BOOST_TEST(s.tick(at(0), t0 + 1000s).empty());
  BOOST_TEST(s.tick(at(3), t0).empty());          // progress at t0
  BOOST_TEST(s.tick(at(3), t0 + 59s).empty());    // not yet
  auto d = s.tick(at(3), t0 + 60s);
  BOOST_TEST(*d.drain == "no event range finished or failed for 60 s (ray.timeoutinterval)");
  BOOST_TEST(*d.checkpoint == "inactivity");
  BOOST_TEST((*d.hard_stop_at == t0 + 90s));
  BOOST_TEST(d.log_warning->find("pilots look stuck") != std::string::npos);
  BOOST_TEST(s.tick(at(3), t0 + 200s).empty());   // draining: once
}

BOOST_AUTO_TEST_CASE(inactivity_needs_outstanding_work_and_a_live_engine) {
  auto s = running(60s);
  s.tick(at(3), t0);
  BOOST_TEST(s.tick(at(3, 0), t0 + 100s).empty());  // nothing ready or leased: only merges run
  auto p = at(3);
  p.draining = true;                                  // the engine drains by itself (no pilot may start)
  BOOST_TEST(s.tick(p, t0 + 100s).empty());
  BOOST_TEST(s.tick(at(4), t0 + 100s).empty());      // progress resets the clock
  BOOST_TEST(s.tick(at(4), t0 + 159s).empty());
  BOOST_TEST(s.tick(at(4), t0 + 160s).drain.has_value());
  auto off = running(0s);
  off.tick(at(1), t0);
  BOOST_TEST(off.tick(at(1), t0 + 100000s).empty());  // 0 = off
}

BOOST_AUTO_TEST_CASE(restored_ranges_are_not_progress) {
  supervisor s({60s, 600s});
  s.job_acquired();
  s.engine_created(100);  // resumed with 100 done
  s.stubs_launched();
  BOOST_TEST(s.tick(at(100), t0 + 1000s).empty());  // the watchdog is still unarmed
}

BOOST_AUTO_TEST_CASE(no_stub_left_drains_unless_only_merges_remain) {
  auto s = running();
  auto exhausted = at(10, 0);
  exhausted.exhausted = true;
  BOOST_TEST(s.no_stub_left(exhausted).empty());
  auto d = s.no_stub_left(at(5));
  BOOST_TEST(*d.drain == "no stub is running any more");
  BOOST_TEST(!d.hard_stop_at);
  BOOST_TEST(s.no_stub_left(at(5)).empty());  // already draining
}

BOOST_AUTO_TEST_CASE(finish_once_the_outcome_is_settled) {
  supervisor s({});
  BOOST_TEST(!s.engine_running(false).finish);  // no engine yet
  s.job_acquired();
  s.engine_created(0);
  BOOST_TEST(!s.engine_running(true).finish);
  BOOST_TEST(s.engine_running(false).finish);
  s.finishing();
  BOOST_TEST(!s.engine_running(false).finish);  // once
}

BOOST_AUTO_TEST_CASE(a_checkpoint_that_cannot_be_written_holds_merges_and_drains) {
  auto s = running();
  auto d = s.checkpoint_failed(true);
  BOOST_TEST(d.hold_merges);
  BOOST_TEST(*d.drain == "the checkpoint cannot be written");
  auto settled = running();
  auto e = settled.checkpoint_failed(false);  // the outcome is settled already: no drain on top
  BOOST_TEST(e.hold_merges);
  BOOST_TEST(!e.drain);
  settled.finishing();
  BOOST_TEST(settled.checkpoint_failed(true).empty());  // the final one failing starts nothing
}

BOOST_AUTO_TEST_CASE(checkpoint_pacing_coalesces) {
  auto s = running();
  // First request: at once (no earlier checkpoint: due at its end + 1 s, long past).
  auto first = s.checkpoint_requested();
  BOOST_TEST_REQUIRE(first.has_value());
  BOOST_TEST(!s.checkpoint_requested().has_value());  // coalesced into the due one
  // A checkpoint that took 0.5 s ends at t0: the next is due 4.5 s later (9 x its cost, at least 1 s).
  s.checkpoint_written(t0 - 500ms, t0);
  BOOST_TEST(!s.checkpoint_due());
  BOOST_TEST((*s.checkpoint_requested() == t0 + 4500ms));
  // A cheap one: at least a second apart.
  s.checkpoint_written(t0 + 10s, t0 + 10s + 1ms);
  BOOST_TEST((*s.checkpoint_requested() == t0 + 10s + 1ms + 1s));
  // After the final checkpoint, none.
  s.checkpoint_written(t0 + 20s, t0 + 20s);
  s.final_checkpoint_written();
  BOOST_TEST(!s.checkpoint_requested().has_value());
  BOOST_TEST(s.checkpoints_closed());
}

BOOST_AUTO_TEST_CASE(exit_codes) {
  //                       report  checkpoint complete all_merged
  BOOST_TEST(final_exit_code({true, true, true, true}) == exit_success);
  BOOST_TEST(final_exit_code({true, true, true, false}) == exit_events_failed);
  BOOST_TEST(final_exit_code({true, false, true, true}) == exit_runtime_error);  // state.json outdated
  BOOST_TEST(final_exit_code({false, true, true, true}) == exit_runtime_error);  // no report
  BOOST_TEST(final_exit_code({true, true, false, false}) == exit_incomplete);
  BOOST_TEST(final_exit_code({true, false, false, false}) == exit_incomplete);   // resumes from the previous one
  BOOST_TEST(final_exit_code({false, false, false, false}) == exit_runtime_error);
}
