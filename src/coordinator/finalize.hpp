#pragma once
// The end of a complete run (coordinator spec §4.3, fixed): output renames through the commit log,
// the final job report where Harvester reads it, and the checkpoint's merged map under final names.
#include <cstddef>
#include <map>
#include <string>

#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "common/job_spec.hpp"
#include "harvester/harvester_config.hpp"
#include "merge/commit_log.hpp"

namespace rty::coordinator {

struct finalize_result {
  bool all_merged = false;   // every event of the job is in a merged output
  bool report_written = false;
  std::map<std::string, std::string> renamed;  // old → current output names (for the checkpoint)
  std::string report_path;
  std::string summary;       // one paragraph for the log and the terminal
};

finalize_result finalize_task(const rty::job_spec& job, const bookkeeping::bookkeeper& book, merge::commit_log& log,
                              const std::string& task_dir, const harvester::messenger_files& files);

// After a run that merged every event: per-range outputs still in the task directory (top level) are
// orphans (moved in by a stub, never recorded, because raythenad was killed in between; or a late
// duplicate) and are removed, matched by name like Raythena's cleaner: "<input LFN>-<digits>" then the
// end or a '.'. Returns how many were removed.
std::size_t remove_range_leftovers(const rty::job_spec& job, const std::string& task_dir);

// The checkpoint with merged outputs under their current names (and paths).
bookkeeping::checkpoint with_current_names(bookkeeping::checkpoint cp, const std::map<std::string, std::string>& renamed,
                                           const std::string& final_dir);

}  // namespace rty::coordinator
