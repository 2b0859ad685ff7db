#pragma once
// Where a Slurm job's run is, by job id: `raythenad status --jobid N` finds a run through the job's
// WorkDir or its StdOut's directory, which a hand-written batch script need not share with ray.workdir.
// So a coordinator inside a Slurm job also leaves one line in the user's own state directory,
// $XDG_STATE_HOME/raythenad/jobs/<SLURM_JOB_ID> (default ~/.local/state/...; home is shared with the
// login node at HPC sites): its ray.workdir. The directory is created 0700; entries are written
// atomically and removed when the run ends. A reader trusts an entry only as an absolute directory path.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace rty::registry {

// "123456" or an array task "123456_7": digits only, nothing that could become a path.
bool valid_slurm_job_id(std::string_view id);

// The registry directory from the environment (XDG_STATE_HOME, else HOME/.local/state), or nothing when
// neither is an absolute path.
std::optional<std::string> registry_dir(const std::map<std::string, std::string>& env);

// Records `workdir` for `job_id`. On failure nothing is recorded (the caller logs it: monitoring only).
rty::result<void> record_run(const std::string& dir, std::string_view job_id, const std::string& workdir);

// The workdir recorded for `job_id`, when the entry is there and holds an absolute path.
std::optional<std::string> find_run(const std::string& dir, std::string_view job_id);

// Removes the entry for `job_id` if it still names `workdir` (a later run of the same id keeps its own).
void forget_run(const std::string& dir, std::string_view job_id, const std::string& workdir);

}  // namespace rty::registry
