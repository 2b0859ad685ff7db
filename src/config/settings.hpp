#pragma once
// The resolved configuration of one raythenad run: Raythena's YAML sections and keys (docs/architecture.md)
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
  // raythenad: stand-ins for the CVMFS paths Raythena hard-coded (docs/pilot-protocol.md).
  // Each filled by the loader when null: found in bindir when that is set, else the CVMFS default
  // (runpilot2-wrapper.sh under PandaPilotWrapper/latest, pilot3/<pilotversion> under PandaPilot).
  std::string pilotwrapper;
  std::string pilotdir;
  std::optional<std::string> bindir;  // where the site unpacked the wrapper and pilot3 (pilot/pilot_tree.hpp)
  // Not keys: how the loader chose pilotwrapper and pilotdir, for --validate ("payload.pilotwrapper",
  // "payload.bindir", "default").
  std::string pilotwrapper_from;
  std::string pilotdir_from;
  int serverport = 8080;
  // raythenad: PanDA's resource types (memory limits per core) answered to pilot's getResourceTypes
  std::optional<std::string> resourcetypesfile;
  int pilotrestarts = 3;  // raythenad: new pilots for work that appears after a node's pilot ended

  bool runs_merge_without_container() const { return containerengine && *containerengine == "none"; }
};

struct harvester_section {
  std::optional<std::string> endpoint;
  std::optional<std::string> harvesterconf;
  std::optional<std::string> cacher;        // accepted, unused (Raythena never read it either)
  std::optional<std::string> communicator;  // accepted, unused (the file messenger is the only one)
  std::chrono::seconds timeout{0};          // raythenad: wait for Harvester's answers; 0 = forever
  event_source eventsource = event_source::local;
  // raythenad: how often the worker heartbeat file is rewritten when the queue config asks for one
  std::chrono::seconds heartbeatinterval{60};
};

struct ray_section {
  std::string workdir;  // current directory when null or empty
  std::optional<std::string> taskprogressbasedir;
  std::optional<std::string> headip;         // where raythenad listens for stubs (unset: see keys.cpp)
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
  bool retryfailedgroups = false;  // a resumed run simulates the checkpoint's failed groups again
  int mergeretries = 2;
  std::chrono::seconds mergeretrydelay{10};  // first retry; later ones min(6x, 60 s)
  // MiB the bookkeeper may use for the job's event ranges; 0 = half of the host's memory limit (the
  // smallest of physical memory, cgroup memory.max, RLIMIT_AS, RLIMIT_DATA). Over it: exit 5 at start.
  int bookkeepingmemorymb = 0;
  // Walltime-aware dispatch: a range is handed out only when it can finish before the kill time
  // (p90 of recent range durations + walltimemargin); false: Raythena's rule, until the kill time.
  bool walltimeaware = true;
  std::chrono::seconds walltimemargin{60};
  int walltimepercentile = 90;  // the estimate is this percentile of recent range durations
  // Merges also on idle nodes (their pilot ended, no work left), through their stub; false: only local.
  bool remotemerges = true;
  bool tailshare = true;
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
