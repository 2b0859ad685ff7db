#pragma once
#include <string>

namespace rty::stub {

struct options {
  std::string host;        // coordinator address
  unsigned short port = 0;
  std::string node_id;     // unique per node: SLURMD_NODENAME, the SSH host, or local-<i>
  std::string secret;      // the run's secret (never from argv)
};

// Runs the stub until the coordinator lets the node go (its pilot ended and the job needs no new one, or
// a stop), or its channel is gone for longer than the grace period. A node whose pilot ended waits for
// the coordinator: start_pilot runs payload.sh again in a fresh attempt directory.
// Returns the process exit code.
int run(options opts);

}  // namespace rty::stub
