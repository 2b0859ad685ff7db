// Runs the fake merge transform (tests/fakes/fake_merge_tf.cpp, built as fake_merge_tf) for real through
// rty::process with a built command (containerengine none), the way the coordinator will.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <regex>

#include "common/process.hpp"
#include "merge/merge_command.hpp"
#include "merge/merge_report.hpp"
#include "merge/merge_scheduler.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace merge_test;

namespace {
const std::string fake_tf = RTY_FAKE_MERGE_TF;

struct merge_run {
  temp_dir t;
  rty::job_spec job = fixture_job();
  rty::merge::merge_settings settings;
  rty::merge_task task;
  std::string expected_output;

  merge_run() {
    job.merge_trans_path = fake_tf;
    settings.task_dir = t.str();
    settings.containerengine = "none";
    task = make_task("HITS.40000001._000001.pool.root.1", {job.in_files[0]}, t.str(), 5);
    // Per-range outputs in the task's order; the name order differs from it on purpose.
    for (std::size_t i = 0; i < task.inputs.size(); ++i) {
      std::string content = "event " + std::to_string(5 - i) + "\n";
      write_file(task.inputs[i].path, content);
      expected_output += content;
    }
  }

  rty::process::exit_status run(const rty::merge::merge_command& c, std::map<std::string, std::string> env = {}) {
    auto prepared = rty::merge::prepare_work_dir(c);
    BOOST_REQUIRE_MESSAGE(prepared, prepared.error());
    rty::process::spawn_options o;
    o.argv = c.argv;
    o.cwd = c.work_dir;
    o.stdout_path = c.log_path;
    o.stderr_path = "=stdout";
    o.env_set = std::move(env);
    auto pid = rty::process::spawn(o);
    BOOST_REQUIRE_MESSAGE(pid, pid.error());
    return rty::process::wait(*pid);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(fake_merge_transform_runs_from_a_built_command) {
  merge_run m;
  auto c = rty::merge::build_merge_command(m.task, m.job, m.settings, 1);
  auto status = m.run(c);
  BOOST_REQUIRE_MESSAGE(status.shell_code() == 0, rty::merge::log_tail(c.log_path));
  // The transform wrote in its work dir; final/ gets the output only from publish_output (issue 13: an
  // orphaned merge must not write into final/ while a resumed run redoes it).
  BOOST_TEST(!fs::exists(c.output_path));
  BOOST_TEST(fs::is_empty(m.t.path / "final"));
  BOOST_TEST(read_file(c.work_output_path) == m.expected_output);
  auto published = rty::merge::publish_output(c);
  BOOST_REQUIRE_MESSAGE(published, published.error());
  BOOST_TEST(!fs::exists(c.work_output_path));
  BOOST_TEST(read_file(c.output_path) == m.expected_output);
  auto guid = rty::merge::read_merge_guid(c.report_path);
  BOOST_REQUIRE_MESSAGE(guid, guid.error());
  BOOST_TEST(std::regex_match(*guid, std::regex("[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")),
             *guid);
  auto report = rty::merge::read_report(c.report_path);
  BOOST_REQUIRE(report);
  BOOST_TEST(report->at("exitCode").as_int64() == 0);
  auto& out = report->at("files").at("output").as_array()[0].at("subFiles").as_array()[0];
  BOOST_TEST(out.at("name").as_string() == "HITS.40000001._000001.pool.root.1");
  BOOST_TEST(out.at("nentries").as_int64() == 5);
  BOOST_TEST(report->at("files").at("input").as_array()[0].at("subFiles").as_array().size() == 5u);

  auto kept = rty::merge::keep_report(c);
  BOOST_REQUIRE_MESSAGE(kept, kept.error());
  BOOST_TEST(*rty::merge::read_merge_guid(c.kept_report_path) == *guid);
  BOOST_TEST(!rty::merge::remove_work_dir(c));
  BOOST_TEST(!fs::exists(c.work_dir));
  BOOST_TEST(fs::exists(c.output_path));

  // A second merge of the same output gets a fresh GUID.
  auto again = rty::merge::build_merge_command(m.task, m.job, m.settings, 2);
  BOOST_REQUIRE(m.run(again).shell_code() == 0);
  BOOST_TEST(*rty::merge::read_merge_guid(again.report_path) != *guid);
}

BOOST_AUTO_TEST_CASE(fake_merge_transform_rejects_missing_and_empty_inputs) {
  merge_run m;
  write_file(m.task.inputs[2].path, "");
  auto c = rty::merge::build_merge_command(m.task, m.job, m.settings, 1);
  BOOST_TEST(m.run(c).shell_code() == 1);
  BOOST_TEST(rty::merge::log_tail(c.log_path, 1).find(m.task.inputs[2].path + " is empty") != std::string::npos,
             rty::merge::log_tail(c.log_path));
  BOOST_TEST(!fs::exists(c.report_path));
  BOOST_TEST(!rty::merge::read_merge_guid(c.report_path));
  fs::remove(m.task.inputs[3].path);
  write_file(m.task.inputs[2].path, "x");
  c = rty::merge::build_merge_command(m.task, m.job, m.settings, 2);
  BOOST_TEST(m.run(c).shell_code() == 1);
  BOOST_TEST(rty::merge::log_tail(c.log_path, 1).find("does not exist") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fake_merge_fails_once_then_the_scheduler_retry_succeeds) {
  merge_run m;
  rty::merge::merge_scheduler scheduler(1, 2);
  scheduler.add(m.task);
  std::map<std::string, std::string> env = {{"FAKE_MERGE_FAIL_ONCE_DIR", (m.t.path / "fail-once").string()}};
  std::vector<rty::merge::merge_scheduler::outcome> outcomes;
  while (auto next = scheduler.next_to_start()) {
    auto c = rty::merge::build_merge_command(next->first, m.job, m.settings, next->second);
    bool ok = m.run(c, env).shell_code() == 0;
    if (!ok) BOOST_TEST(rty::merge::log_tail(c.log_path).find("first attempt") != std::string::npos);
    outcomes.push_back(scheduler.finished(next->first.output_name, ok));
    if (ok) BOOST_TEST(rty::merge::publish_output(c));
    if (ok) BOOST_TEST(read_file(c.output_path) == m.expected_output);
  }
  BOOST_TEST((outcomes == std::vector{rty::merge::merge_scheduler::outcome::retry,
                                      rty::merge::merge_scheduler::outcome::succeeded}));
  BOOST_TEST(scheduler.done() == 1u);
}

BOOST_AUTO_TEST_CASE(fake_merge_fails_always_until_the_scheduler_gives_up) {
  merge_run m;
  rty::merge::merge_scheduler scheduler(2, 1);
  scheduler.add(m.task);
  std::map<std::string, std::string> env = {{"FAKE_MERGE_FAIL_ALWAYS", "._000001."}};
  int attempts = 0;
  while (auto next = scheduler.next_to_start()) {
    ++attempts;
    auto c = rty::merge::build_merge_command(next->first, m.job, m.settings, next->second);
    bool ok = m.run(c, env).shell_code() == 0;
    scheduler.finished(next->first.output_name, ok);
  }
  BOOST_TEST(attempts == 2);
  // A transform that exits 0 without its output is no success either.
  auto c = rty::merge::build_merge_command(m.task, m.job, m.settings, 3);
  BOOST_REQUIRE(rty::merge::prepare_work_dir(c));
  auto published = rty::merge::publish_output(c);
  BOOST_REQUIRE(!published);
  BOOST_TEST((published.error().code() == std::errc::no_such_file_or_directory));
  BOOST_TEST(published.error().message().find("wrote no " + c.work_output_path) != std::string::npos,
             published.error());
  BOOST_TEST(scheduler.failed() == 1u);
  BOOST_TEST(!fs::exists(m.t.path / "final" / m.task.output_name));
}

BOOST_AUTO_TEST_CASE(fake_merge_accepts_space_separated_inputs) {
  merge_run m;
  fs::create_directories(m.t.path / "final");
  std::vector<std::string> argv = {fake_tf, "--inputHitsFile"};
  for (auto& in : m.task.inputs) argv.push_back(in.path);
  argv.insert(argv.end(), {"--outputHitsFile", (m.t.path / "final/out.root").string(), "--AMITag=s1",
                           "--maxEvents", "-1", "--geometryVersion=ATLAS-R3S-2021-03-02-00"});
  rty::process::spawn_options o;
  o.argv = argv;
  o.cwd = m.t.str();
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE_MESSAGE(pid, pid.error());
  BOOST_TEST(rty::process::wait(*pid).shell_code() == 0);
  BOOST_TEST(read_file(m.t.path / "final/out.root") == m.expected_output);
  BOOST_TEST(rty::merge::read_merge_guid((m.t.path / "jobReport.json").string()).has_value());
}
