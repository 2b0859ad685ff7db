#include "stub/merge_guard.hpp"

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "merge/merge_command.hpp"

namespace rty::stub {

std::optional<std::string> refuse_merge_run(const std::string& task_dir, const protocol::merge_run& run) {
  if (task_dir.empty()) return std::string("this node has no task directory");
  const std::string base = file::join(task_dir, "merge-tmp");
  if (!merge::strictly_inside(base, run.work_dir))
    return "work_dir '" + log::escape(run.work_dir, 300) + "' is not under " + base;
  if (!merge::strictly_inside(run.work_dir, run.log_path))
    return "log_path '" + log::escape(run.log_path, 300) + "' is not in the work dir";
  if (run.argv.empty() || run.argv.front().empty()) return std::string("no command");
  return std::nullopt;
}

}  // namespace rty::stub
