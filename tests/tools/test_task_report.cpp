// `raythenad report DIR` on real task directories: finished, running (the lock held), interrupted,
// reached through a workdir's task_workdir_path.txt, and directories that are none of these.
#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "bookkeeping/checkpoint.hpp"
#include "common/task_lock.hpp"
#include "tools/task_report.hpp"

namespace rty::tools {
namespace {

namespace fs = std::filesystem;
namespace bk = rty::bookkeeping;

struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/rty-report-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& rel) const { return path + "/" + rel; }
  void write(const std::string& rel, const std::string& text) const {
    fs::create_directories(fs::path(*this / rel).parent_path());
    std::ofstream(*this / rel) << text;
  }
  std::string path;
};

bk::range_record range(const std::string& id, int first, int last, std::string path = "") {
  return bk::range_record{id, first, last, std::move(path), ""};
}

std::string merge_report(int nentries) {
  return R"({"files": {"input": [], "output": [{"subFiles": [{"name": "x", "file_guid": "G", "nentries": )" +
         std::to_string(nentries) + "}]}]}}";
}

// IN.1 merged into OUT.1 (10 events); IN.2: OUT.2 merged (5 events, waiting for OUT.3), 3 ranges simulated; IN.3 failed.
bk::checkpoint mid_run() {
  bk::checkpoint cp;
  cp.merged["IN.1"]["OUT.1"] = bk::merged_record{"/o/final/OUT.1", "GUID1"};
  cp.merging["IN.2"]["OUT.2"]["IN.2-1"] = range("IN.2-1", 1, 5, "/o/IN.2-1.out");
  cp.simulated["IN.2"]["IN.2-6"] = range("IN.2-6", 6, 7, "/o/IN.2-6.out");
  cp.simulated["IN.2"]["IN.2-8"] = range("IN.2-8", 8, 8, "/o/IN.2-8.out");
  cp.failed["IN.3"]["IN.3-1"] = range("IN.3-1", 1, 4);
  return cp;
}

std::string report_of(const std::string& dir, int* rc = nullptr) {
  std::ostringstream out, err;
  const char* argv[] = {"report", dir.c_str()};
  int r = run_report_command(2, argv, out, err);
  if (rc) *rc = r;
  return r == 0 ? out.str() : err.str();
}

bool has(const std::string& text, const std::string& part) {
  bool found = text.find(part) != std::string::npos;
  if (!found) BOOST_TEST_MESSAGE("missing '" << part << "' in:\n" << text);
  return found;
}

BOOST_AUTO_TEST_CASE(interrupted_run_counts_merged_failed_and_left) {
  temp_dir task;
  BOOST_REQUIRE(bk::save_checkpoint(mid_run(), task / "state.json"));
  task.write("job-reports/OUT.1.json", merge_report(10));
  task.write("job-reports/OUT.2.json", merge_report(5));
  task.write("merge-tmp/OUT.3.1/merge.log", "starting\nHITSMerge_tf: ERROR disk quota exceeded\n");
  int rc = -1;
  auto text = report_of(task.path, &rc);
  BOOST_TEST(rc == 0);
  BOOST_TEST(has(text, "task " + task.path + ": interrupted; the next run resumes from state.json"));
  BOOST_TEST(has(text, "events  merged 15 in 2 output(s); failed 4 (1 ranges); left: 3 simulated, not merged yet (2 ranges)"));
  BOOST_TEST(has(text, "inputs  1 fully merged, 1 partly merged, 1 with failed ranges"));
  BOOST_TEST(has(text, "  OUT.1  final  events 10  guid GUID1  input IN.1"));
  BOOST_TEST(has(text, "  OUT.2  merged, input not complete  events 5"));
  BOOST_TEST(has(text, "  input IN.3: 1 range(s), 4 events failed for good"));
  BOOST_TEST(has(text, "  merge OUT.3.1 did not complete"));
  BOOST_TEST(has(text, "    | HITSMerge_tf: ERROR disk quota exceeded"));
  BOOST_TEST(has(text, "last checkpoint"));
  BOOST_TEST(has(text, "merges           "));
}

BOOST_AUTO_TEST_CASE(running_run_is_seen_through_its_lock_and_left_alone) {
  temp_dir task;
  BOOST_REQUIRE(bk::save_checkpoint(mid_run(), task / "state.json"));
  rty::file::task_lock lock;
  BOOST_REQUIRE(lock.acquire(task.path));
  auto before = fs::last_write_time(task / "state.json");
  auto text = report_of(task.path);
  BOOST_TEST(has(text, ": running (raythenad pid " + std::to_string(::getpid())));
  BOOST_TEST((fs::last_write_time(task / "state.json") == before));  // read-only
  // The report's probe did not take the lock from its holder.
  rty::file::task_lock second;
  auto refused = second.acquire(task.path);
  BOOST_TEST(!refused);
  BOOST_TEST((refused.error().code() == rty::file::task_lock::held_elsewhere));
}

BOOST_AUTO_TEST_CASE(finished_through_the_workdir_and_its_job_report) {
  temp_dir task, workdir;
  bk::checkpoint cp;
  cp.merged["IN.1"]["OUT.1.new"] = bk::merged_record{"/o/final/OUT.1.new", "GUID1"};
  cp.failed["IN.2"]["IN.2-1"] = range("IN.2-1", 1, 2);
  BOOST_REQUIRE(bk::save_checkpoint(cp, task / "state.json"));
  task.write("job-reports/OUT.1.json", merge_report(7));
  task.write("commit_log", "rename_output OUT.1 OUT.1.new\n");  // the report is under the old name
  workdir.write("task_workdir_path.txt", task.path);
  workdir.write("jobReport.json", R"({"exitCode": 4, "files": {}})");
  auto text = report_of(workdir.path);
  BOOST_TEST(has(text, "task " + task.path + ": finished, exit code 4 (jobReport.json)"));
  BOOST_TEST(has(text, "events  merged 7 in 1 output(s); failed 2"));
  BOOST_TEST(has(text, "renames 1 output rename(s) in commit_log"));
  // The same run stopped early: exit code 3 is an interrupted run.
  workdir.write("jobReport.json", R"({"exitCode": 3, "files": {}})");
  BOOST_TEST(has(report_of(workdir.path), ": interrupted, exit code 3"));
}

BOOST_AUTO_TEST_CASE(finished_without_report_when_nothing_is_in_flight) {
  temp_dir task;
  bk::checkpoint cp;
  cp.merged["IN.1"]["OUT.1"] = bk::merged_record{"/o/final/OUT.1", "G"};
  BOOST_REQUIRE(bk::save_checkpoint(cp, task / "state.json"));
  auto text = report_of(task.path);
  BOOST_TEST(has(text, ": finished\n"));
  BOOST_TEST(has(text, "(+ 1 output(s) whose report is missing)"));
}

BOOST_AUTO_TEST_CASE(directories_that_are_no_run_get_a_clear_error) {
  temp_dir empty, pointer, bad_pointer, broken;
  int rc = 0;
  auto text = report_of(empty.path, &rc);
  BOOST_TEST(rc == 1);
  BOOST_TEST(has(text, empty.path + " is neither a task directory"));
  BOOST_TEST(has(report_of(empty / "missing", &rc), empty.path + "/missing: not a directory"));
  BOOST_TEST(rc == 1);
  pointer.write("task_workdir_path.txt", "relative/dir");
  BOOST_TEST(has(report_of(pointer.path, &rc), pointer.path + "/task_workdir_path.txt: expected an absolute path, got 'relative/dir'"));
  bad_pointer.write("task_workdir_path.txt", empty.path);
  BOOST_TEST(has(report_of(bad_pointer.path, &rc), "names " + empty.path + ", which is no task directory"));
  BOOST_TEST(rc == 1);
  broken.write("state.json", "{not json");
  BOOST_TEST(has(report_of(broken.path, &rc), broken.path + "/state.json"));
  BOOST_TEST(rc == 1);
  // Usage errors.
  std::ostringstream out, err;
  const char* none[] = {"report"};
  BOOST_TEST(run_report_command(1, none, out, err) == 2);
  const char* option[] = {"report", "--frobnicate"};
  BOOST_TEST(run_report_command(2, option, out, err) == 2);
}

}  // namespace
}  // namespace rty::tools
