#pragma once
// The resolved configuration of one raythenad run: Raythena's YAML sections and keys (coordinator spec §1)
// plus raythenad's additive keys. Field names are the YAML key names, so `s.ray.workdir` is `ray.workdir`.
//
// In-class initialisers are the defaults; keys/key_table.cpp documents them by reading a default-constructed
// settings, so the two cannot disagree. Defaults that depend on the run (current directory, CPU count,
// pilotversion, the executable's location) are filled in by the loader. After parse_invocation() every path
// has had $VAR/${VAR} expanded once, ray.workdir is never empty and ray.launcher is never `automatic`.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace rty::config {

enum class launcher_kind { automatic, local, srun, ssh };
enum class event_source { local, harvester };

struct payload_section {
  std::optional<std::string> pandaqueue;
  std::string logfilename = "wrapper";
  std::optional<std::string> extrasetup;        // shell, runs before the pilot wrapper
  std::optional<std::string> hpcresource;       // pilot --hpc-resource
  std::optional<std::string> extrapostpayload;  // shell, runs after the pilot wrapper
  // ALRB --swtype for merge transforms; replaced by queuedata's container_type when they differ.
  // "none" (raythenad only) runs the merge transform directly, without a container.
  std::optional<std::string> containerengine;
  std::optional<std::string> containerextraargs;   // shell prefix of the host-side merge command
  std::optional<std::string> containerextrasetup;  // shell prefix inside the merge container
  std::string pilotkillfile = "pilot_kill_payload";
  std::chrono::seconds pilotkilltime{600};
  std::string pilotversion = "latest";
  std::string timemonitorfile = "RaythenaTimeMonitor.txt";
  // raythenad: stand-ins for the CVMFS paths Raythena hard-coded (pilot-http spec §1.2).
  std::string pilotwrapper = "/cvmfs/atlas.cern.ch/repo/sw/PandaPilotWrapper/latest/runpilot2-wrapper.sh";
  std::string pilotdir;  // default /cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot3/<pilotversion>
  int serverport = 8080;

  bool runs_merge_without_container() const { return containerengine && *containerengine == "none"; }
};

struct harvester_section {
  std::optional<std::string> endpoint;
  std::optional<std::string> harvesterconf;
  std::optional<std::string> cacher;        // accepted, unused (Raythena never read it either)
  std::optional<std::string> communicator;  // accepted, unused (the file messenger is the only one)
  std::chrono::seconds timeout{0};          // raythenad: wait for Harvester's answers; 0 = forever
  event_source eventsource = event_source::local;
};

struct ray_section {
  std::string workdir;  // current directory when null or empty
  std::optional<std::string> taskprogressbasedir;
  std::optional<std::string> headip;         // only meaning left: that node runs no stub
  std::optional<int> redisport;              // accepted, ignored (meant something to Ray only)
  std::optional<std::string> redispassword;  // accepted, ignored
  std::chrono::seconds timeoutinterval{600};
  int mergemaxprocesses = 64;
  int cachesizefactor = 3;
  // raythenad keys
  launcher_kind launcher = launcher_kind::automatic;
  int localnodes = 2;
  // --nodes / RAYTHENA_NODES when given: stubs for `local` (also copied to localnodes), node count for srun.
  std::optional<int> nodes;
  std::vector<std::string> sshhosts;
  std::optional<std::string> sshkey;
  std::string sshknownhosts = "${HOME}/.ssh/known_hosts";  // expanded like every path
  bool sshacceptnew = false;
  std::string stubexecutable;  // default: raythena-stub next to the raythenad executable
  std::chrono::seconds checkpointinterval{60};
  std::chrono::seconds statusinterval{60};
  std::string statusaddress = "127.0.0.1:0";  // normalised by the loader; "off" = no endpoint
  std::chrono::seconds heartbeattimeout{60};
  std::chrono::seconds stubgrace{30};
  int maxrangeattempts = 3;
  int mergeretries = 2;
};

struct resources_section {
  int corepernode = 0;  // 0 until loaded: the loader sets the CPU count when the value is null
};

struct logging_section {
  std::string level = "warning";
  std::optional<std::string> driverlogfile;
  std::optional<std::string> workerlogfile;
  bool copyraylogs = false;
  std::optional<std::string> logfile;  // accepted, unused (old Raythena configs)
};

struct settings {
  payload_section payload;
  harvester_section harvester;
  ray_section ray;
  resources_section resources;
  logging_section logging;
};

std::string_view to_string(launcher_kind k);
std::string_view to_string(event_source e);

}  // namespace rty::config
