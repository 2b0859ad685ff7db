#pragma once
// The end of a complete run (docs/architecture.md): output renames through the commit log,
// the final job report where Harvester reads it, and the checkpoint's merged map under final names.
#include <boost/json/object.hpp>

#include <cstddef>
#include <map>
#include <string>

#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "common/job_spec.hpp"
#include "coordinator/supervisor.hpp"
#include "harvester/harvester_config.hpp"
#include "merge/commit_log.hpp"

namespace rty::coordinator {

struct finalize_result {
  bool all_merged = false;   // every event of the job is in a merged output
  bool report_written = false;  // set by write_final_report
  boost::json::object report;   // the final report, built by finalize_task, written by write_final_report
  std::map<std::string, std::string> renamed;  // old → current output names (for the checkpoint)
  std::string report_path;
  std::string summary;       // one paragraph for the log and the terminal
};

// Renames and builds the final report (result.report); writes nothing to Harvester: the report's
// exitCode is the run's exit code, which needs the final checkpoint's outcome (write_final_report).
finalize_result finalize_task(const rty::job_spec& job, const bookkeeping::bookkeeper& book, merge::commit_log& log,
                              const std::string& task_dir, const harvester::messenger_files& files);

// The exit code of the run and the report's "exitCode" are one number: this computes the exit code
// from `e` (as if the report is written), stamps it into result.report ("exitCode", and "exitMsg"
// when not 0 and none says why yet), writes the report, and returns the code the process must exit
// with: the same number, or final_exit_code's answer for an unwritten report (then no report exists
// to contradict it). result.report_written and result.summary are updated.
int write_final_report(finalize_result& result, end_of_run e, const harvester::messenger_files& files);

// What is said about the run's end: a critical line when a complete run's final checkpoint could not
// be written, a warning when the run stopped early.
struct run_end {
  int exit_code = 0;
  std::string critical, warning;  // empty: not logged
};
run_end describe_run_end(const finalize_result& r, int exit_code, bool checkpoint_recorded, bool complete,
                         const std::string& checkpoint_path);

// After a run that merged every event: per-range outputs still in the task directory (top level) are
// orphans (moved in by a stub, never recorded, because raythenad was killed in between; or a late
// duplicate) and are removed, matched by name like Raythena's cleaner: "<input LFN>-<digits>" then the
// end or a '.'. Returns how many were removed.
std::size_t remove_range_leftovers(const rty::job_spec& job, const std::string& task_dir);

// The checkpoint with merged outputs under their current names (and paths).
bookkeeping::checkpoint with_current_names(bookkeeping::checkpoint cp, const std::map<std::string, std::string>& renamed,
                                           const std::string& final_dir);

}  // namespace rty::coordinator
