#pragma once
// What the stub checks before it runs a merge_run from the coordinator (ray.remotemerges; issue 13):
// the work dir strictly under <task_dir>/merge-tmp/ (task_dir from welcome), the log inside the work
// dir, a command to run. Lexical checks only: the coordinator made the directory on the shared
// filesystem, and a name that leaves merge-tmp/ is refused whatever is on disk.
#include <optional>
#include <string>

#include "protocol/messages.hpp"

namespace rty::stub {

// nullopt: the merge may run; else why not (paths escaped for the log).
std::optional<std::string> refuse_merge_run(const std::string& task_dir, const protocol::merge_run& run);

}  // namespace rty::stub
