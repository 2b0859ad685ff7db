#pragma once
// Launchers start one raythena-stub per node. They only start processes: the coordinator watches
// them (SIGCHLD on its event loop) and learns about nodes when their stubs connect back.
//   local - N stubs as child processes on this host (the embedded default, laptops, tests)
//   srun  - one `srun --overlap` step with one task per node inside a Slurm allocation
//   ssh   - one libssh2 session per named host (debug runs, gateway hosts)
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.hpp"

namespace rty::launch {

struct launch_request {
  std::string stub_executable;   // path of raythena-stub (as seen on the nodes)
  std::string coordinator;       // HOST:PORT the stubs connect back to
  std::string secret;            // passed through the environment, never on a command line
  std::string secret_file;       // the same secret in a 0600 file on the shared filesystem
  std::string log_dir;           // stub logs go here (created if missing)
  int nodes = 1;                 // local: number of stubs; srun: number of nodes (0 = all but the batch node)
  bool debug = false;
  // srun only
  bool include_batch_node = false;
  // ssh only
  std::vector<std::string> ssh_hosts;
  std::string ssh_key;
  std::string ssh_known_hosts;
  bool ssh_accept_new = false;
};

// One started process that stands for one or more nodes (srun: one step for all nodes).
struct started {
  pid_t pid = -1;                  // -1 for remote processes the launcher tracks itself (ssh)
  std::string what;                // for the log: "stub local-0", "srun step on 3 nodes", "ssh node7"
  std::vector<std::string> node_ids;
  std::string log_path;
};

struct launch_result {
  std::vector<started> processes;
  std::vector<std::string> failures;  // one line per node that could not be started, with the reason
  int expected_nodes = 0;             // how many stubs should connect
};

class launcher {
 public:
  virtual ~launcher() = default;
  virtual std::string name() const = 0;
  virtual launch_result launch(const launch_request& request) = 0;
  // Stop everything this launcher started (SIGTERM to local process groups / srun; ssh: close channels).
  virtual void stop_all() = 0;
  // Remote stubs still running, for launchers that track remote processes themselves (ssh); the
  // coordinator uses it to know whether any node is left. Local and srun processes are its children.
  virtual int remote_alive() const { return 0; }
};

std::unique_ptr<launcher> make_local_launcher();
std::unique_ptr<launcher> make_srun_launcher();
std::unique_ptr<launcher> make_ssh_launcher();

// The launchers there are; ray.launcher's `auto` is none of them until resolve() picks one.
enum class kind { local, srun, ssh };
std::string_view to_string(kind k);
// `auto` resolves to srun inside a Slurm allocation (SLURM_JOB_ID set), else local.
kind resolve(config::launcher_kind configured);
// One launcher for each kind: there is no unknown one to refuse.
std::unique_ptr<launcher> make_launcher(kind k);
inline std::unique_ptr<launcher> make_launcher(config::launcher_kind configured) {
  return make_launcher(resolve(configured));
}
// For the test tool's JSON requests: "auto", "local", "srun", "ssh" (nothing else).
std::optional<config::launcher_kind> parse_launcher_kind(std::string_view name);

// srun: how many nodes get a stub (request.nodes, else the allocation minus the batch node unless
// the allocation has one node); the launcher and the coordinator's --jobNumber arithmetic share it.
int srun_node_count(const launch_request& request);

// The stub's command line, shared by every launcher so that they cannot drift.
std::vector<std::string> stub_argv(const launch_request& request, const std::string& node_id_or_empty);

}  // namespace rty::launch
