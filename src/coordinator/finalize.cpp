#include "coordinator/finalize.hpp"

#include "coordinator/daemon.hpp"
#include "coordinator/supervisor.hpp"

#include <filesystem>
#include <sstream>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "coordinator/daemon.hpp"
#include "harvester/messenger.hpp"
#include "merge/final_renames.hpp"
#include "merge/merge_report.hpp"

namespace rty::coordinator {
namespace {
constexpr const char* log_name = "Driver";

// A merge writes its report under the output's name at that time; after renames (this run's or an
// earlier one's, which the restored checkpoint already applies) it is found through the commit log.
std::string report_path(const std::string& task_dir, const std::string& name, const merge::commit_log& log) {
  auto path_of = [&](const std::string& n) { return file::join(task_dir, "job-reports/" + n + ".json"); };
  std::error_code ec;
  if (std::filesystem::exists(path_of(name), ec)) return path_of(name);
  const std::string now = log.current_name(name);
  for (auto& [old_name, target] : log.renamed())
    if (target == now && old_name != name && std::filesystem::exists(path_of(old_name), ec)) return path_of(old_name);
  return path_of(name);  // absent: read_report's error names it
}
}

finalize_result finalize_task(const rty::job_spec& job, const bookkeeping::bookkeeper& book, merge::commit_log& log,
                              const std::string& task_dir, const harvester::messenger_files& files) {
  finalize_result result;
  const std::string final_dir = file::join(task_dir, "final");
  auto outputs = book.outputs();

  // 0. A crash between a commit-log line and its rename: the restored outputs already carry the
  //    logged names, so the file is renamed here, not planned again below.
  std::vector<std::pair<std::string, std::string>> completed;
  if (auto replayed = merge::complete_logged_renames(log, final_dir, &completed); !replayed)
    RTY_LOG(error, log_name) << "output renames: " << replayed.error();
  for (auto& [from, to] : completed)
    RTY_LOG(warning, log_name) << "completed the rename of " << from << " to " << to << " that the commit log "
                               << log.path() << " announced before a crash";

  // 1. Outputs merged under an earlier attempt's names take this job's names; the log comes first so
  //    that a crash between the two steps is repaired by the next run.
  std::vector<std::pair<std::string, std::string>> renames;
  for (auto& o : outputs)
    if (o.state == bookkeeping::output_state::merged && !o.recorded_name.empty() && o.recorded_name != o.name)
      renames.emplace_back(o.recorded_name, o.name);
  if (!renames.empty()) {
    if (auto applied = merge::apply_renames(log, renames, final_dir); !applied)
      RTY_LOG(error, log_name) << "output renames: " << applied.error();
  }
  result.renamed = log.renamed();

  // 2. The final report from the merges' own reports, in output order.
  std::vector<boost::json::object> reports;
  std::vector<std::string> failed_inputs;
  std::size_t merged = 0;
  for (auto& o : outputs) {
    if (o.state != bookkeeping::output_state::merged) {
      for (auto& in : o.input_files)
        if (std::find(failed_inputs.begin(), failed_inputs.end(), in) == failed_inputs.end()) failed_inputs.push_back(in);
      continue;
    }
    ++merged;
    std::string name = o.recorded_name.empty() ? o.name : o.recorded_name;
    auto report = merge::read_report(report_path(task_dir, name, log));
    if (!report) {
      RTY_LOG(error, log_name) << "final report: " << report.error();
      continue;
    }
    reports.push_back(std::move(*report));
  }
  result.report = merge::build_final_report(reports, result.renamed, failed_inputs);
  result.report_path = files.job_report;
  auto c = book.get_counts();
  result.all_merged = failed_inputs.empty() && c.failed_events == 0;
  std::ostringstream s;
  s << "job " << job.panda_id << ": " << c.merged_events << " of " << c.total << " events merged into " << merged
    << " output file(s) in " << final_dir;
  if (!failed_inputs.empty()) s << "; " << c.failed_events << " events failed (inputs: " << failed_inputs.size() << ")";
  result.summary = s.str();
  return result;
}

int write_final_report(finalize_result& result, end_of_run e, const harvester::messenger_files& files) {
  e.report_written = true;
  const int code = final_exit_code(e);
  result.report["exitCode"] = code;
  if (code != 0 && !result.report.contains("exitMsg"))
    result.report["exitMsg"] = code == exit_runtime_error ? "the final checkpoint could not be written"
                               : code == exit_incomplete  ? "the run stopped before every event was processed"
                                                          : "some events failed";
  if (auto r = harvester::write_job_report(files, result.report); !r) {
    RTY_LOG(critical, log_name) << "cannot write the final job report: " << r.error();
    result.report_written = false;
    e.report_written = false;
  } else {
    result.report_written = true;
  }
  result.summary += "; report " + (result.report_written ? result.report_path : std::string("NOT written"));
  if (result.report_written) result.summary += " (exitCode " + std::to_string(code) + ")";
  return final_exit_code(e);
}

bookkeeping::checkpoint with_current_names(bookkeeping::checkpoint cp, const std::map<std::string, std::string>& renamed,
                                           const std::string& final_dir) {
  if (renamed.empty()) return cp;
  for (auto& [input, outputs] : cp.merged) {
    std::map<std::string, bookkeeping::merged_record> next;
    for (auto& [name, record] : outputs) {
      auto it = renamed.find(name);
      if (it == renamed.end()) {
        next.emplace(name, record);
        continue;
      }
      auto r = record;
      r.path = file::join(final_dir, it->second);
      next.emplace(it->second, r);
    }
    outputs = std::move(next);
  }
  return cp;
}

std::size_t remove_range_leftovers(const rty::job_spec& job, const std::string& task_dir) {
  std::error_code ec;
  std::size_t removed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(task_dir, ec)) {
    std::error_code tec;
    if (!entry.is_regular_file(tec)) continue;
    const std::string name = entry.path().filename().string();
    for (const auto& lfn : job.in_files) {
      if (name.size() <= lfn.size() + 1 || name.compare(0, lfn.size(), lfn) != 0 || name[lfn.size()] != '-') continue;
      std::size_t i = lfn.size() + 1, digits = i;
      while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
      if (i == digits || (i < name.size() && name[i] != '.')) continue;
      if (std::filesystem::remove(entry.path(), tec)) ++removed;
      break;
    }
  }
  return removed;
}

run_end describe_run_end(const finalize_result& r, int exit_code, bool checkpoint_recorded, bool complete,
                         const std::string& checkpoint_path) {
  run_end e;
  e.exit_code = exit_code;
  if (r.report_written && !checkpoint_recorded && complete)
    e.critical = "the final checkpoint " + checkpoint_path + " could not be written";
  else if (e.exit_code == exit_incomplete)
    e.warning = "run stopped before the job was complete; the checkpoint " + checkpoint_path +
                " lets the next run resume";
  return e;
}

}  // namespace rty::coordinator
