#pragma once
// payload.sh: how pilot is started on a node (docs/pilot-protocol.md), with payload.pilotwrapper and
// payload.pilotdir in place of the CVMFS paths.
#include <string>
#include <string_view>

#include "common/shell_quote.hpp"

namespace rty::pilot {

struct payload_options {
  std::string extrasetup;        // site shell code, run first in the script's own shell (exports stick)
  std::string extrapostpayload;  // site shell code, run after the wrapper in a subshell
  std::string pilotwrapper;      // path of runpilot2-wrapper.sh (or a stand-in); required
  std::string pilotdir;          // pilot3 release directory linked to ./pilot3; empty: no link
  std::string pandaqueue;        // -q/-r/-s
  std::string prod_source_label; // -j, from the job's prodSourceLabel
  std::string hpcresource;       // --hpc-resource
  std::string logfilename;       // stdout → <logfilename>, stderr → <logfilename>.stderr; empty: "wrapper"
};

using rty::shell_quote;  // common/shell_quote.hpp

// A bash script, run from the node's pilot directory (PILOT_HOME) as `/bin/bash payload.sh` with no
// redirections: it sends its own stdout/stderr to the log files (truncated, as Raythena's `>`), runs
// extrasetup, checks and links pilotdir, runs the wrapper with exactly the production flags, then
// extrapostpayload, and exits with the WRAPPER's status (Raythena lost it when extrapostpayload was
// set). A missing pilotdir or wrapper exits 127 with a message in the .stderr log before anything runs.
std::string build_payload_script(const payload_options& options);

// The wrapper's argv after the program name, exactly as production passes it (for tests and logs).
std::string production_flags(const payload_options& options);

}  // namespace rty::pilot
