#pragma once
// Opening a job's task directory: create it and its final/ and job-reports/ folders, check the run's
// directories, take the task lock, clear what an interrupted checkpoint write left, tell Harvester
// where the task is, refuse a job that cannot be processed or does not fit, build the bookkeeper and
// resume it from state.json and commit_log. No Asio.
#include <memory>
#include <optional>
#include <string>

#include "bookkeeping/bookkeeper.hpp"
#include "common/job_spec.hpp"
#include "common/task_lock.hpp"
#include "config/settings.hpp"
#include "merge/commit_log.hpp"

namespace rty::coordinator {

struct open_task_result {
  std::string dir;
  // Set as soon as it is built, and kept on a failure only when writing it on the way out is right
  // (never over a state.json that was refused).
  std::unique_ptr<bookkeeping::bookkeeper> book;
  std::optional<merge::commit_log> commit_log;
};

// Makes, locks and resumes the job's task directory. An error's code is an exit_error (daemon.hpp):
// the exit code the run ends with.
rty::result<void> open_task(const config::settings& cfg, const rty::job_spec& job, file::task_lock& lock,
                            open_task_result& out);

std::string checkpoint_path(const std::string& task_dir);

}  // namespace rty::coordinator
