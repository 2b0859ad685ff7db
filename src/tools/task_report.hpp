#pragma once
// `raythenad report DIR`: what a task directory holds, read from its checkpoint (state.json), its
// commit_log, the merges' reports (job-reports/) and logs (merge-tmp/): events merged, failed and left,
// the outputs, the failures with what is known of their causes, and timings. Read-only: it takes no
// lock and writes nothing, so it is safe on a running run. DIR is the task directory
// (<ray.taskprogressbasedir>/<taskID>) or the run's Harvester endpoint / ray.workdir (then
// task_workdir_path.txt names the task directory, and jobReport.json there gives the run's exit code).
#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"

#include "bookkeeping/checkpoint.hpp"

namespace rty::tools {

enum class task_state { running, finished, interrupted };

// Everything the report says, gathered by read_task_dir (I/O); format_task_report is pure.
struct task_facts {
  using time_point = std::chrono::system_clock::time_point;
  std::string task_dir;
  bool has_checkpoint = false;
  bookkeeping::checkpoint cp;
  std::map<std::string, std::string> renamed;  // commit_log: old → current output names
  std::optional<long> running_pid;             // raythenad.lock is held (by this pid, when it says)
  bool running = false;
  std::optional<int> report_exit_code;         // jobReport.json's exitCode (the run's exit code)
  std::optional<time_point> checkpoint_time;   // state.json's mtime: the last checkpoint
  std::optional<time_point> first_merge, last_merge;  // job-reports/*.json mtimes
  std::map<std::string, std::uint64_t> output_events;  // output name → events (its report's nentries)
  // merge work directories left behind (a merge that failed or was cut off): name → log tail
  std::map<std::string, std::string> merge_logs;
};

// running: the lock is held; finished: the run's exit code says so (0 or 4), or, without a report,
// nothing is left simulated-but-unmerged; interrupted otherwise.
task_state state_of(const task_facts& f);
std::string to_string(task_state s);

std::string format_task_report(const task_facts& f, std::chrono::system_clock::time_point now);

// Reads DIR (see above). Errors name the directory and what is missing or unreadable: a directory
// with neither state.json, commit_log nor final/ (nor task_workdir_path.txt) is no task directory.
rty::result<task_facts> read_task_dir(const std::string& dir);

// argv[0] is "report". Returns 0 shown, 1 not a task directory or unreadable, 2 usage error.
int run_report_command(int argc, const char* const* argv, std::ostream& out, std::ostream& err);
std::string report_command_help();

}  // namespace rty::tools
