// The plain-C++ parts of the daemon: end-of-run rounds, child processes (real ones), Harvester's
// range feed (a real messenger on a temp access point), the run's lines and its exit description.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "coordinator/children.hpp"
#include "coordinator/daemon.hpp"
#include "coordinator/finalize.hpp"
#include "coordinator/range_feed.hpp"
#include "coordinator/run_lines.hpp"
#include "rty_test/support.hpp"

using namespace rty::coordinator;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(daemon_parts)

BOOST_AUTO_TEST_CASE(wind_down_waits_then_terminates_then_kills) {
  // Nothing left: finish at once, whatever the round.
  BOOST_TEST((wind_down_round(0, false, 0s) == wind_down_action::kill_and_finish));
  BOOST_TEST((wind_down_round(0, true, 0s) == wind_down_action::wait));
  BOOST_TEST((wind_down_round(49, true, 0s) == wind_down_action::wait));
  BOOST_TEST((wind_down_round(50, true, 0s) == wind_down_action::terminate));  // 5 s
  BOOST_TEST((wind_down_round(51, true, 0s) == wind_down_action::wait));
  BOOST_TEST((wind_down_round(100, true, 0s) == wind_down_action::kill_and_finish));  // 10 s
  // Pilots winding down (20 s) push both steps back by as much.
  BOOST_TEST((wind_down_round(50, true, 20s) == wind_down_action::wait));
  BOOST_TEST((wind_down_round(250, true, 20s) == wind_down_action::terminate));
  BOOST_TEST((wind_down_round(299, true, 20s) == wind_down_action::wait));
  BOOST_TEST((wind_down_round(300, true, 20s) == wind_down_action::kill_and_finish));
}

namespace {
rty::merge::merge_command shell_merge(const rty::test::temp_dir& dir, const std::string& output, const std::string& script) {
  rty::merge::merge_command c;
  c.output_name = output;
  c.task_dir = dir.str();
  c.work_dir = dir / ("merge-tmp/" + output + ".1");
  c.output_path = dir / ("final/" + output);
  c.kept_report_path = dir / ("job-reports/" + output + ".json");
  c.log_path = c.work_dir + "/merge.log";
  c.argv = {"/bin/sh", "-c", script};
  return c;
}

// Reaps until `n` merges ended, polling at most ~10 s (no wall-clock assertion: a bound on the loop).
std::vector<merge_exit> reap_merges(child_processes& c, std::size_t n) {
  std::vector<merge_exit> all;
  for (int i = 0; i < 1000 && all.size() < n; ++i) {
    for (auto& e : c.reap()) all.push_back(e);
    if (all.size() < n) ::usleep(10000);
  }
  return all;
}
}  // namespace

BOOST_AUTO_TEST_CASE(merges_run_in_their_work_dir_and_report_their_exit) {
  rty::test::temp_dir dir("rty-children");
  child_processes c;
  BOOST_REQUIRE(c.start_merge(shell_merge(dir, "HITS.ok", "pwd; echo out")));
  BOOST_REQUIRE(c.start_merge(shell_merge(dir, "HITS.bad", "echo err >&2; exit 3")));
  BOOST_TEST(c.merges_running() == 2u);
  BOOST_TEST(!c.empty());
  auto exits = reap_merges(c, 2);
  BOOST_REQUIRE(exits.size() == 2u);
  for (auto& e : exits) {
    if (e.output == "HITS.ok") {
      BOOST_TEST(e.status.exited_normally());
      BOOST_TEST(e.status.code == 0);
    } else {
      BOOST_TEST(e.output == "HITS.bad");
      BOOST_TEST(e.status.code == 3);
    }
  }
  BOOST_TEST(c.empty());
  // stdout and stderr both go to the merge's log in its work dir, which is its cwd.
  const auto ok_log = rty::test::read_file(dir / "merge-tmp/HITS.ok.1/merge.log");
  BOOST_TEST(ok_log.find("merge-tmp/HITS.ok.1") != std::string::npos);
  BOOST_TEST(ok_log.find("out") != std::string::npos);
  BOOST_TEST(rty::test::read_file(dir / "merge-tmp/HITS.bad.1/merge.log") == "err\n");
}

BOOST_AUTO_TEST_CASE(a_merge_that_cannot_start_is_refused_not_tracked) {
  rty::test::temp_dir dir("rty-children");
  child_processes c;
  auto cmd = shell_merge(dir, "HITS.x", "exit 0");
  cmd.argv = {dir / "no-such-transform"};
  BOOST_TEST(!c.start_merge(cmd));
  BOOST_TEST(c.empty());
  // A work dir that cannot be made (a file is in the way) is refused too.
  rty::test::write_file(dir / "blocker", "x");
  auto blocked = shell_merge(dir, "HITS.y", "exit 0");
  blocked.work_dir = dir / "blocker/sub";
  BOOST_TEST(!c.start_merge(blocked));
  BOOST_TEST(c.empty());
}

BOOST_AUTO_TEST_CASE(signals_reach_a_merge_and_its_exit_says_so) {
  rty::test::temp_dir dir("rty-children");
  child_processes c;
  BOOST_REQUIRE(c.start_merge(shell_merge(dir, "HITS.slow", "exec sleep 30")));
  c.signal_merges(SIGTERM);
  auto exits = reap_merges(c, 1);
  BOOST_REQUIRE(exits.size() == 1u);
  BOOST_TEST(exits[0].status.signal == SIGTERM);
  BOOST_TEST(c.empty());
}

BOOST_AUTO_TEST_CASE(stubs_are_tracked_until_reaped) {
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "exit 0"};
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE(pid);
  child_processes c;
  rty::launch::started s;
  s.pid = *pid;
  s.what = "stub local-0";
  c.add_stub(s);
  rty::launch::started remote;  // ssh: no local pid, not a child
  remote.what = "ssh node7";
  c.add_stub(remote);
  BOOST_TEST(c.stubs_left());
  for (int i = 0; i < 1000 && c.stubs_left(); ++i) {
    BOOST_TEST(c.reap().empty());  // stub exits are logged, not returned
    if (c.stubs_left()) ::usleep(10000);
  }
  BOOST_TEST(!c.stubs_left());
  BOOST_TEST(c.empty());
}

BOOST_AUTO_TEST_CASE(feed_sizes_and_when_to_ask) {
  auto s = range_feed_sizes(8, 4, 3);
  BOOST_TEST(s.batch == 32u);
  BOOST_TEST(s.ask == 96);
  BOOST_TEST(feed_wants_more(0, s));
  BOOST_TEST(feed_wants_more(47, s));   // under half a request
  BOOST_TEST(!feed_wants_more(48, s));
  // A cache factor of 1: a batch is the threshold (half a request would be less).
  auto one = range_feed_sizes(8, 4, 1);
  BOOST_TEST(one.ask == 32);
  BOOST_TEST(feed_wants_more(31, one));
  BOOST_TEST(!feed_wants_more(32, one));
  // No nodes counted yet, or a factor of 0, still ask for one batch of one node.
  auto none = range_feed_sizes(8, 0, 0);
  BOOST_TEST(none.batch == 8u);
  BOOST_TEST(none.ask == 8);
}

BOOST_AUTO_TEST_CASE(status_only_updates_carry_no_paths) {
  rty::range_update u;
  u.range_id = "EVNT-1";
  u.status = rty::range_status::finished;
  u.path = "/task/EVNT-1.HITS";
  u.type = "es_output";
  u.error_code = 0;
  rty::range_update f;
  f.range_id = "EVNT-2";
  f.status = rty::range_status::failed;
  f.error_code = 1220;
  auto out = status_only({u, f});
  BOOST_REQUIRE(out.size() == 2u);
  BOOST_TEST(out[0].range_id == "EVNT-1");
  BOOST_TEST((out[0].status == rty::range_status::finished));
  BOOST_TEST(out[0].path.empty());
  BOOST_TEST(out[0].type.empty());
  BOOST_TEST(out[1].error_code == 1220);
}

namespace {
struct access_point {
  rty::test::temp_dir dir{"rty-feed"};
  rty::harvester::messenger_files files;
  access_point() {
    files.endpoint = dir.str();
    files.job_request = dir / "worker_requestjob.json";
    files.job_spec = dir / "HPCJobs.json";
    files.event_request = dir / "worker_requestevents.json";
    files.event_ranges = dir / "JobsEventRanges.json";
    files.event_status_dump = dir / "event_status.dump.json";
    files.job_report = dir / "jobReport.json";
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(feed_asks_waits_and_ends_when_harvester_has_no_more) {
  access_point ap;
  rty::harvester::messenger m(ap.files, {});
  auto job = rty::test::make_job(1, 4, 4);
  rty::bookkeeping::options bo;
  bo.endpoint = ap.dir.str();
  bo.task_dir = ap.dir.str();
  bo.external_ranges = true;
  rty::bookkeeping::bookkeeper book(job, bo);
  range_feed feed(m, book, job, range_feed_sizes(2, 1, 2));
  BOOST_REQUIRE(feed.active());
  rty::harvester::clock::time_point now{};
  auto first = feed.step(now);
  BOOST_TEST(!first.supplied);
  BOOST_TEST(!first.ended);
  BOOST_TEST(first.delay.count() > 0);
  BOOST_TEST(first.delay <= 1000ms);
  BOOST_TEST(fs::exists(ap.files.event_request));  // the request Harvester answers
  // Harvester answers: nothing more for this job.
  rty::test::write_file(ap.files.event_ranges, "{\"" + job.panda_id + "\": []}");
  feed_step step;
  for (int i = 0; i < 50 && !step.supplied; ++i) {
    now += 1s;
    step = feed.step(now);
  }
  BOOST_TEST(step.supplied);
  BOOST_TEST(!step.ended);
  BOOST_TEST(!feed.active());
}

BOOST_AUTO_TEST_CASE(a_broken_feed_is_its_end) {
  access_point ap;
  rty::harvester::messenger_options mo;
  mo.max_event_ranges_bytes = 64;  // an answer over the cap is left for an operator: the feed ends
  rty::harvester::messenger m(ap.files, mo);
  auto job = rty::test::make_job(1, 4, 4);
  rty::bookkeeping::options bo;
  bo.endpoint = ap.dir.str();
  bo.task_dir = ap.dir.str();
  bo.external_ranges = true;
  rty::bookkeeping::bookkeeper book(job, bo);
  range_feed feed(m, book, job, range_feed_sizes(2, 1, 2));
  rty::harvester::clock::time_point now{};
  feed.step(now);
  rty::test::write_file(ap.files.event_ranges, "{\"" + job.panda_id + "\": [" + std::string(100, ' ') + "]}");
  feed_step step;
  for (int i = 0; i < 50 && !step.supplied; ++i) {
    now += 1s;
    step = feed.step(now);
  }
  BOOST_TEST(step.supplied);
  BOOST_TEST(step.ended);
  BOOST_TEST(!feed.active());
}

BOOST_AUTO_TEST_CASE(status_and_progress_lines) {
  engine_status s;
  s.ranges.ready = 3;
  s.ranges.leased = 2;
  s.ranges.finished = 4;
  s.ranges.failed = 1;
  s.ranges.total = 10;
  s.nodes_connected = 2;
  s.merges_done = 1;
  const auto line = status_log_line(s, 12.7);
  BOOST_TEST(line.rfind("status: ranges ready 3, leased 2, finished 4, failed 1 of 10; nodes 2", 0) == 0);
  BOOST_TEST(line.find("; 12 events/s") != std::string::npos);
  BOOST_TEST(line.find("draining") == std::string::npos);
  s.draining = true;
  BOOST_TEST(status_log_line(s, 0).ends_with("; draining"));
  BOOST_TEST(line.substr(status_log_prefix).rfind("ranges ready", 0) == 0);

  status_input in;
  in.engine = s;
  const auto p = progress_line(in);
  BOOST_TEST(p.rfind("\r\033[K[raythenad] 5/10 events (50%), 1 failed, 2 node(s)", 0) == 0);
  BOOST_TEST(p.ends_with(", draining"));
}

BOOST_AUTO_TEST_CASE(run_progress_counts_done_and_outstanding) {
  engine_status s;
  s.ranges.ready = 3;
  s.ranges.leased = 2;
  s.ranges.finished = 4;
  s.ranges.failed = 1;
  auto p = run_progress(s, false, true);
  BOOST_TEST(p.done == 5u);
  BOOST_TEST(p.outstanding == 5u);
  BOOST_TEST(!p.exhausted);
  BOOST_TEST(p.draining);
}

BOOST_AUTO_TEST_CASE(nothing_left_says_whether_everything_is_merged) {
  rty::bookkeeping::counts c;
  c.total = 16;
  c.merged_events = 16;
  auto all = describe_nothing_left(c);
  BOOST_TEST(all.all_merged);
  BOOST_TEST(all.line.find("already merged") != std::string::npos);
  c.merged_events = 8;
  c.failed_events = 8;
  auto part = describe_nothing_left(c);
  BOOST_TEST(!part.all_merged);
  BOOST_TEST(part.line.find("8 of 16 events merged, 8 in failed groups") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(run_end_names_the_checkpoint_when_it_matters) {
  finalize_result r;
  r.report_written = true;
  r.all_merged = true;
  auto ok = describe_run_end(r, exit_success, true, true, "/t/state.json");
  BOOST_TEST(ok.exit_code == exit_success);
  BOOST_TEST(ok.critical.empty());
  BOOST_TEST(ok.warning.empty());
  auto lost = describe_run_end(r, exit_runtime_error, false, true, "/t/state.json");
  BOOST_TEST(lost.exit_code == exit_runtime_error);
  BOOST_TEST(lost.critical == "the final checkpoint /t/state.json could not be written");
  r.all_merged = false;
  auto early = describe_run_end(r, exit_incomplete, true, false, "/t/state.json");
  BOOST_TEST(early.exit_code == exit_incomplete);
  BOOST_TEST(early.warning.find("/t/state.json lets the next run resume") != std::string::npos);
  BOOST_TEST(early.critical.empty());
}

BOOST_AUTO_TEST_SUITE_END()
