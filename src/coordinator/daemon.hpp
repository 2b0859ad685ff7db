#pragma once
#include <system_error>

#include "config/settings.hpp"

namespace rty::coordinator {

// Exit codes of a run (documented in the README and --help).
enum exit_code : int {
  exit_success = 0,          // every event merged, final report written
  exit_runtime_error = 1,    // could not run (cannot listen, cannot create directories, launch failed)
  exit_config_error = 2,     // configuration could not be loaded
  exit_incomplete = 3,       // stopped early (walltime, SIGTERM, nodes gone): checkpoint written, resume with the next job
  exit_events_failed = 4,    // the run completed but some events failed for good; the report lists what succeeded
  exit_harvester_error = 5,  // no usable job from Harvester (timeout, invalid job spec)
};

// An error that ends the run carries the exit code it ends with as its code (rty::fail(exit_error(
// exit_config_error), "...")); code.value() is the exit code.
const std::error_category& exit_category();
inline std::error_code exit_error(exit_code code) { return {code, exit_category()}; }

// Runs the coordinator until the job is complete or drained. Returns one of exit_code.
int run_daemon(const config::settings& settings);

}  // namespace rty::coordinator
