// Opening a job's task directory (task_setup.hpp).
#include "coordinator/task_setup.hpp"

#include <sys/stat.h>

#include <filesystem>

#include "bookkeeping/checkpoint.hpp"
#include "bookkeeping/range_budget.hpp"
#include "common/dir_policy.hpp"
#include "common/file_util.hpp"
#include "common/log.hpp"
#include "coordinator/daemon.hpp"
#include "harvester/messenger.hpp"

namespace rty::coordinator {
namespace {
namespace fs = std::filesystem;
constexpr const char* log_name = "Driver";

// One raythenad per task (common/task_lock.hpp); held until the process ends.
rty::result<void> lock_task_dir(file::task_lock& lock, const std::string& dir) {
  auto locked = lock.acquire(dir);
  if (locked) return {};
  if (locked.error().code() == file::task_lock::unsupported) {
    RTY_LOG(warning, log_name) << locked.error() << " (the filesystem has no flock): nothing stops a second "
                               << "raythenad on this task";
    return {};
  }
  return rty::fail(exit_error(exit_runtime_error), locked.error().message());
}

rty::result<void> make_dirs(const config::settings& cfg, const rty::job_spec& job, const std::string& dir) {
  std::error_code ec;
  for (auto d : {dir, dir + "/final", dir + "/job-reports"}) {
    fs::create_directories(d, ec);
    if (ec) return rty::fail(exit_error(exit_runtime_error), "cannot create the task directory " + d + ": " + ec.message());
  }
  if (auto problem = file::check_run_dirs(dir, file::join(cfg.ray.workdir, job.panda_id)))
    return rty::fail(exit_error(exit_config_error), *problem);
  return {};
}

bookkeeping::options book_options(const config::settings& cfg, const std::string& dir) {
  bookkeeping::options bo;
  bo.endpoint = cfg.harvester.endpoint.value_or(cfg.ray.workdir);
  bo.max_attempts = cfg.ray.maxrangeattempts;
  bo.task_dir = dir;
  bo.external_ranges = cfg.harvester.eventsource == config::event_source::harvester;
  // The bookkeeper's rule for a finish from a node that does not hold the range (issue 13) needs its
  // file: a stat on this thread, only for such finishes (rare: a late report after a lease went back).
  bo.output_present = [](const std::string& path, std::int64_t fsize) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == fsize;
  };
  return bo;
}

// ray.retryfailedgroups: the checkpoint's failed groups are simulated again (bookkeeping::take_failed_for_retry).
void retry_failed_groups(const config::settings& cfg, const std::string& path, bookkeeping::checkpoint& cp) {
  if (cfg.harvester.eventsource == config::event_source::harvester) {
    RTY_LOG(warning, log_name) << "ray.retryfailedgroups is ignored with harvester.eventsource harvester: Harvester "
                               << "does not hand out the ranges it was told failed again";
    return;
  }
  auto taken = bookkeeping::take_failed_for_retry(cp);
  if (taken.empty()) {
    RTY_LOG(info, log_name) << "ray.retryfailedgroups: " << path << " lists no failed group";
    return;
  }
  std::size_t ranges = 0;
  for (const auto& t : taken) {
    ranges += t.ranges;
    RTY_LOG(info, log_name) << "ray.retryfailedgroups: re-queued " << t.ranges << " range(s) of input " << t.lfn
                            << " (failed groups of the earlier run)";
  }
  RTY_LOG(info, log_name) << "ray.retryfailedgroups: re-queued " << ranges << " range(s) of " << taken.size()
                          << " input file(s) that failed earlier; they are simulated and merged again";
}

// state.json and commit_log into the new book.
rty::result<void> resume(const config::settings& cfg, open_task_result& out) {
  auto log = merge::commit_log::load(out.dir + "/commit_log");
  if (!log) {
    out.book.reset();  // the error path's checkpoint would overwrite state.json with an empty book
    return rty::fail(exit_error(exit_runtime_error), log.error().message());
  }
  out.commit_log.emplace(std::move(*log));
  const auto path = checkpoint_path(out.dir);
  // Without state.json the loader falls back to state.json.tmp (older versions wrote it; ours have
  // random names now): one planted by someone else could claim events as merged. Refused, not loaded.
  if (auto problem = file::planted_file(path + ".tmp"); problem && !fs::exists(path))
    return rty::fail(exit_error(exit_config_error), *problem + ": refusing to load it as the checkpoint; remove it to start the task");
  auto cp = bookkeeping::load_checkpoint(path);
  if (!cp) {
    // Never start over silently: the recorded events would be simulated twice. Nor write the empty
    // book over the refused state.json on the way out.
    out.book.reset();
    return rty::fail(exit_error(exit_runtime_error), cp.error().message() + " (fix or move it away to start this task from scratch)");
  }
  if (*cp) {
    if (cfg.ray.retryfailedgroups) retry_failed_groups(cfg, path, **cp);
    out.book->restore(**cp, out.commit_log->renamed());
    // (each restore problem was logged by the bookkeeper as it was found)
    auto c = out.book->get_counts();
    RTY_LOG(info, log_name) << "resumed from " << path << ": " << c.finished << " finished, " << c.failed
                            << " failed, " << c.merged_events << " merged of " << c.total << " events";
  }
  return {};
}

}  // namespace

std::string checkpoint_path(const std::string& task_dir) { return task_dir + "/state.json"; }

rty::result<void> open_task(const config::settings& cfg, const rty::job_spec& job, file::task_lock& lock,
                                      open_task_result& out) {
  std::string base = cfg.ray.taskprogressbasedir.value_or(cfg.ray.workdir);
  out.dir = file::join(base, job.task_id);
  if (auto made = make_dirs(cfg, job, out.dir); !made) return made;
  if (auto locked = lock_task_dir(lock, out.dir); !locked) return locked;
  if (auto n = file::remove_stale_temporaries(out.dir))
    RTY_LOG(info, log_name) << "removed " << n << " temporary file(s) an interrupted checkpoint write left in "
                            << out.dir;
  if (auto r = harvester::write_task_workdir_path(cfg.harvester.endpoint.value_or(cfg.ray.workdir), out.dir); !r)
    RTY_LOG(error, log_name) << "cannot write task_workdir_path.txt: " << r.error();
  auto bo = book_options(cfg, out.dir);
  if (auto problem = bookkeeping::bookkeeper::check_job(job))
    return rty::fail(exit_error(exit_harvester_error), "job " + job.panda_id + " cannot be processed: " + *problem);
  // Issue 13: a job too big for this host is refused before the bookkeeper allocates its ranges.
  if (auto problem = bookkeeping::check_range_memory(
          job, bo.external_ranges,
          bookkeeping::bookkeeping_memory_limit(cfg.ray.bookkeepingmemorymb, "ray.bookkeepingmemorymb"),
          "ray.bookkeepingmemorymb"))
    return rty::fail(exit_error(exit_harvester_error), *problem);
  out.book = std::make_unique<bookkeeping::bookkeeper>(job, bo);
  return resume(cfg, out);
}

}  // namespace rty::coordinator
