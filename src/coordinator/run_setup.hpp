#pragma once
// What the daemon derives from the configuration before and while it starts a run: the workdir
// checks, the walltime deadline, the node count and launcher, the stubs' launch request, and the
// engine's settings. No Asio.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/job_spec.hpp"
#include "common/task_lock.hpp"
#include "config/settings.hpp"
#include "coordinator/engine.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/messenger.hpp"
#include "harvester/queue_config.hpp"
#include "coordinator/daemon.hpp"
#include "launch/launcher.hpp"

namespace rty::coordinator {

// One channel per node: a site's default soft limit (often 1024) would cap the run at about a
// thousand nodes. Children keep the limit raythenad started with. Logged either way.
void raise_open_files_limit();

// Creates ray.workdir, checks that it is private and takes its lock (one raythenad per workdir: a
// second would overwrite status.url and the secret of the first before it reached the task lock).
// Returns an exit code when the run cannot start (the reason is logged).
std::optional<int> open_workdir(const config::settings& cfg, file::task_lock& lock);

// Reads <workdir>/<payload.timemonitorfile>: the time (seconds since the epoch) at which ranges stop
// being handed out, walltime - payload.pilotkilltime; 0 when there is no limit (the reason is logged).
std::int64_t read_kill_deadline(const config::settings& cfg);

std::chrono::seconds heartbeat_interval(const config::settings& cfg);
// How many stubs the launcher starts (local: ray.nodes or ray.localnodes; ssh: the hosts; srun: the
// allocation's arithmetic).
int node_count(const config::settings& cfg);
// The address the stubs connect to: ray.headip, else loopback for local stubs, else this host's
// first non-loopback IPv4 address.
std::string stub_listen_address(const config::settings& cfg);

// Reads Harvester's config (harvester.harvesterconf) and opens the shared-file messenger, and the
// queue's queuedata when there is one (a bad one is a warning). The error names the file and problem.
std::optional<std::string> open_harvester(const config::settings& cfg, std::optional<harvester::messenger>& messenger,
                                          std::optional<harvester::queuedata>& queuedata,
                                          std::optional<harvester::queue_messenger>& queue);

launch::launch_request make_launch_request(const config::settings& cfg, const rty::job_spec& job,
                                           const std::string& listen_address, const std::string& secret,
                                           const std::string& secret_file);

engine_settings make_engine_settings(const config::settings& cfg, const rty::job_spec& job,
                                     const std::optional<harvester::queuedata>& queuedata, const std::string& task_dir,
                                     std::int64_t kill_at_epoch);

}  // namespace rty::coordinator
