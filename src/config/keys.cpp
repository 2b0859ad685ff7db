#include "config/keys.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <sstream>
#include <type_traits>

namespace rty::config {

std::string_view to_string(launcher_kind k) {
  switch (k) {
    case launcher_kind::automatic: return "auto";
    case launcher_kind::local: return "local";
    case launcher_kind::srun: return "srun";
    case launcher_kind::ssh: return "ssh";
  }
  return "auto";
}

std::string_view to_string(event_source e) { return e == event_source::harvester ? "harvester" : "local"; }

namespace {

// ---- field access: one pair of functions per settings member, generated from member pointers ----

key_value to_value(const std::string& v) { return v; }
key_value to_value(const std::optional<std::string>& v) { return v ? key_value{*v} : key_value{}; }
key_value to_value(int v) { return std::int64_t{v}; }
key_value to_value(const std::optional<int>& v) { return v ? key_value{std::int64_t{*v}} : key_value{}; }
key_value to_value(std::chrono::seconds v) { return std::int64_t{v.count()}; }
key_value to_value(bool v) { return v; }
key_value to_value(const std::vector<std::string>& v) { return v; }
key_value to_value(launcher_kind v) { return std::string(to_string(v)); }
key_value to_value(event_source v) { return std::string(to_string(v)); }

// The loader converts values to the key's kind before calling set, so a mismatched alternative cannot
// happen; it is ignored rather than thrown.
void from_value(std::string& f, const key_value& v) {
  if (auto p = std::get_if<std::string>(&v)) f = *p;
}
void from_value(std::optional<std::string>& f, const key_value& v) {
  if (auto p = std::get_if<std::string>(&v)) f = *p;
}
void from_value(int& f, const key_value& v) {
  if (auto p = std::get_if<std::int64_t>(&v)) f = static_cast<int>(*p);
}
void from_value(std::optional<int>& f, const key_value& v) {
  if (auto p = std::get_if<std::int64_t>(&v)) f = static_cast<int>(*p);
}
void from_value(std::chrono::seconds& f, const key_value& v) {
  if (auto p = std::get_if<std::int64_t>(&v)) f = std::chrono::seconds{*p};
}
void from_value(bool& f, const key_value& v) {
  if (auto p = std::get_if<bool>(&v)) f = *p;
}
void from_value(std::vector<std::string>& f, const key_value& v) {
  if (auto p = std::get_if<std::vector<std::string>>(&v)) f = *p;
}
void from_value(launcher_kind& f, const key_value& v) {
  if (auto p = std::get_if<std::string>(&v)) {
    for (auto k : {launcher_kind::automatic, launcher_kind::local, launcher_kind::srun, launcher_kind::ssh})
      if (*p == to_string(k)) f = k;
  }
}
void from_value(event_source& f, const key_value& v) {
  if (auto p = std::get_if<std::string>(&v)) f = *p == "harvester" ? event_source::harvester : event_source::local;
}

template <auto Section, auto Field>
struct field {
  static key_value get(const settings& s) { return to_value((s.*Section).*Field); }
  static void set(settings& s, const key_value& v) {
    auto& f = (s.*Section).*Field;
    if (std::holds_alternative<std::monostate>(v)) {
      using section_type = std::remove_cvref_t<decltype(s.*Section)>;
      f = section_type{}.*Field;
    } else {
      from_value(f, v);
    }
  }
};

#define RTY_FIELD(sec, key)                                          \
  .get = &field<&settings::sec, &sec##_section::key>::get,           \
  .set = &field<&settings::sec, &sec##_section::key>::set

constexpr std::string_view launcher_choices[] = {"auto", "local", "srun", "ssh"};
constexpr std::string_view source_choices[] = {"local", "harvester"};
constexpr std::string_view level_choices[] = {"debug", "info", "warning", "warn", "error", "critical", "fatal"};
constexpr std::int64_t int_max = std::numeric_limits<int>::max();

using k = value_kind;

// Raythena's keys first, in the order of its required_conf_settings, then raythenad's additions.
const key_spec table[] = {
    // ---------------- payload
    {.section = "payload", .name = "pandaqueue", .kind = k::text, .required = true, .raythena = true,
     .ignored = false, .flag = "panda-queue", .help = "PanDA queue given to pilot and used to find queuedata",
     RTY_FIELD(payload, pandaqueue)},
    {.section = "payload", .name = "logfilename", .kind = k::text, .required = true, .raythena = true,
     .help = "pilot wrapper stdout file in each node's directory (stderr: this name + .stderr)",
     RTY_FIELD(payload, logfilename)},
    {.section = "payload", .name = "extrasetup", .kind = k::shell, .required = true, .raythena = true,
     .help = "shell commands run before the pilot wrapper", RTY_FIELD(payload, extrasetup)},
    {.section = "payload", .name = "hpcresource", .kind = k::text, .required = true, .raythena = true,
     .help = "pilot --hpc-resource", RTY_FIELD(payload, hpcresource)},
    {.section = "payload", .name = "extrapostpayload", .kind = k::shell, .required = true, .raythena = true,
     .help = "shell commands run after the pilot wrapper", RTY_FIELD(payload, extrapostpayload)},
    {.section = "payload", .name = "containerengine", .kind = k::text, .required = true, .raythena = true,
     .help = "ALRB --swtype for merge transforms (queuedata's container_type wins); none = run the merge "
             "transform directly",
     RTY_FIELD(payload, containerengine)},
    {.section = "payload", .name = "containerextraargs", .kind = k::shell, .required = true, .raythena = true,
     .help = "shell prefix of the host-side merge command", RTY_FIELD(payload, containerextraargs)},
    {.section = "payload", .name = "containerextrasetup", .kind = k::shell, .required = true, .raythena = true,
     .help = "shell prefix inside the merge container", RTY_FIELD(payload, containerextrasetup)},
    {.section = "payload", .name = "pilotkillfile", .kind = k::path, .required = true, .raythena = true,
     .help = "file (relative to the node directory) where KILL is written near the walltime end",
     RTY_FIELD(payload, pilotkillfile)},
    {.section = "payload", .name = "pilotversion", .kind = k::text, .required = true, .raythena = true,
     .help = "pilot3 version directory under CVMFS", RTY_FIELD(payload, pilotversion)},
    {.section = "payload", .name = "pilotkilltime", .kind = k::seconds, .required = true, .raythena = true,
     .help = "seconds before the walltime end at which the kill file is written", .min = 0, .max = int_max,
     RTY_FIELD(payload, pilotkilltime)},
    {.section = "payload", .name = "timemonitorfile", .kind = k::path, .required = true, .raythena = true,
     .help = "time-monitor file in ray.workdir: start HH:MM:SS, then the walltime limit",
     RTY_FIELD(payload, timemonitorfile)},
    {.section = "payload", .name = "pilotwrapper", .kind = k::path, .required = false, .raythena = false,
     .help = "pilot wrapper script run on each node (wins over payload.bindir)",
     .default_doc = "found in payload.bindir, else "
                    "/cvmfs/atlas.cern.ch/repo/sw/PandaPilotWrapper/latest/runpilot2-wrapper.sh",
     RTY_FIELD(payload, pilotwrapper)},
    {.section = "payload", .name = "pilotdir", .kind = k::path, .required = false, .raythena = false,
     .help = "pilot3 directory linked as ./pilot3 on each node (wins over payload.bindir)",
     .default_doc = "found in payload.bindir, else /cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot3/<pilotversion>",
     RTY_FIELD(payload, pilotdir)},
    {.section = "payload", .name = "bindir", .kind = k::path, .required = false, .raythena = true,
     .flag = "payload-bindir",
     .help = "directory where the site unpacked the pilot wrapper and the pilot3 tarball: the wrapper "
             "(runpilot3-wrapper.sh, else runpilot2-wrapper.sh) and the directory holding pilot.py are looked for "
             "in it and up to two levels below, the shallowest first; used for whichever of payload.pilotwrapper "
             "and payload.pilotdir is not set, and a run is refused when one of them is not found",
     RTY_FIELD(payload, bindir)},
    {.section = "payload", .name = "serverport", .kind = k::integer, .required = false, .raythena = false,
     .help = "port of the pilot HTTP server on 127.0.0.1 of each node; 0: any free port, and pilot gets a copy "
             "of its config with only pandaserver rewritten (several stubs on one host)",
     .min = 0, .max = 65535,
     RTY_FIELD(payload, serverport)},
    {.section = "payload", .name = "pilotrestarts", .kind = k::integer, .required = false, .raythena = false,
     .help = "a node whose pilot ended gets a new pilot (payload.sh in a fresh attempt directory) while there is "
             "work for it: late failures, a lost node's ranges, a late Harvester batch; at most this many times in "
             "a row without a range finished in between, with a backoff doubling from 1 s; 0: never",
     .min = 0, .max = 1000, RTY_FIELD(payload, pilotrestarts)},
    {.section = "payload", .name = "resourcetypesfile", .kind = k::path, .required = false, .raythena = false,
     .help = "JSON file with PanDA's resource types (the list getResourceTypes returns: resource_name, mincore, "
             "maxcore, minrampercore, maxrampercore), answered to pilot >= 3.10, whose memory kill then uses its "
             "maxrampercore; null: pilot gets StatusCode 500 and uses its built-in limits",
     RTY_FIELD(payload, resourcetypesfile)},
    // ---------------- harvester
    {.section = "harvester", .name = "endpoint", .kind = k::path, .required = true, .raythena = true,
     .flag = "harvester-endpoint", .help = "Harvester access point: messenger files and input files",
     RTY_FIELD(harvester, endpoint)},
    {.section = "harvester", .name = "harvesterconf", .kind = k::path, .required = true, .raythena = true,
     .help = "Harvester's panda_harvester.cfg", RTY_FIELD(harvester, harvesterconf)},
    {.section = "harvester", .name = "cacher", .kind = k::path, .required = false, .raythena = true,
     .ignored = true, .help = "ignored: Raythena never read it either", RTY_FIELD(harvester, cacher)},
    {.section = "harvester", .name = "communicator", .kind = k::text, .required = false, .raythena = true,
     .ignored = true, .help = "ignored: the shared-file messenger is the only one",
     RTY_FIELD(harvester, communicator)},
    {.section = "harvester", .name = "timeout", .kind = k::seconds, .required = false, .raythena = false,
     .help = "seconds to wait for each Harvester answer; 0 waits forever", .min = 0, .max = int_max,
     RTY_FIELD(harvester, timeout)},
    {.section = "harvester", .name = "eventsource", .kind = k::choice, .required = false, .raythena = false,
     .help = "local: cut event ranges from the job's input files; harvester: request them from Harvester",
     .choices = source_choices, RTY_FIELD(harvester, eventsource)},
    {.section = "harvester", .name = "heartbeatinterval", .kind = k::seconds, .required = false, .raythena = false,
     .help = "when the queue config's messenger sets worker_heartbeat (minutes), Harvester kills a worker whose "
             "heartbeatFile (default worker_heartbeat.json in the access point) is older: it is rewritten this "
             "often while the run lives (at least three times per worker_heartbeat)",
     .min = 1, .max = int_max, RTY_FIELD(harvester, heartbeatinterval)},
    // ---------------- ray
    {.section = "ray", .name = "workdir", .kind = k::path, .required = true, .raythena = true,
     .flag = "ray-workdir", .help = "base work directory (the Harvester access point in production)",
     .default_doc = "current directory", RTY_FIELD(ray, workdir)},
    {.section = "ray", .name = "taskprogressbasedir", .kind = k::path, .required = true, .raythena = true,
     .help = "parent of the task output directory, which is named after the taskID", RTY_FIELD(ray, taskprogressbasedir)},
    {.section = "ray", .name = "headip", .kind = k::text, .required = true, .raythena = true,
     .flag = "ray-head-ip",
     .help = "address raythenad listens on for the stubs (an ephemeral port), which every node must reach: one IP "
             "address or a name resolving to one, of the host raythenad runs on; empty: 127.0.0.1 with the local "
             "launcher, else that host's first non-loopback IPv4 address",
     RTY_FIELD(ray, headip)},
    {.section = "ray", .name = "redisport", .kind = k::integer, .required = true, .raythena = true, .ignored = true,
     .flag = "ray-redis-port", .help = "ignored: meant something to Ray only", .min = 0, .max = 65535,
     RTY_FIELD(ray, redisport)},
    {.section = "ray", .name = "redispassword", .kind = k::text, .required = true, .raythena = true,
     .ignored = true, .secret = true, .flag = "ray-redis-password", .help = "ignored: meant something to Ray only",
     RTY_FIELD(ray, redispassword)},
    {.section = "ray", .name = "timeoutinterval", .kind = k::seconds, .required = true, .raythena = true,
     .help = "inactivity watchdog: once a range has finished, none finishing or failing for this long while "
             "some are still to do drains the run (exit 3, resumable); 0: off",
     .min = 0, .max = int_max, RTY_FIELD(ray, timeoutinterval)},
    {.section = "ray", .name = "mergemaxprocesses", .kind = k::integer, .required = true, .raythena = true,
     .help = "maximum concurrent merge transforms on the coordinator's node, and on each idle node when "
             "ray.remotemerges is on", .min = 1, .max = int_max, RTY_FIELD(ray, mergemaxprocesses)},
    {.section = "ray", .name = "cachesizefactor", .kind = k::integer, .required = true, .raythena = true,
     .help = "Harvester range-request multiplier", .min = 1, .max = int_max, RTY_FIELD(ray, cachesizefactor)},
    {.section = "ray", .name = "launcher", .kind = k::choice, .required = false, .raythena = false,
     .flag = "launcher", .help = "how stubs are started; auto = srun when SLURM_JOB_ID is set, else local",
     .choices = launcher_choices, RTY_FIELD(ray, launcher)},
    {.section = "ray", .name = "localnodes", .kind = k::integer, .required = false, .raythena = false,
     .flag = "nodes", .help = "stubs started by the local launcher (--nodes: also the srun node count)",
     .min = 1, .max = int_max, RTY_FIELD(ray, localnodes)},
    {.section = "ray", .name = "sshhosts", .kind = k::string_list, .required = false, .raythena = false,
     .flag = "ssh-hosts", .help = "hosts for the ssh launcher (list, or comma-separated)",
     RTY_FIELD(ray, sshhosts)},
    {.section = "ray", .name = "sshkey", .kind = k::path, .required = false, .raythena = false,
     .help = "private key for the ssh launcher", RTY_FIELD(ray, sshkey)},
    {.section = "ray", .name = "sshknownhosts", .kind = k::path, .required = false, .raythena = false,
     .help = "known_hosts file for the ssh launcher",
     RTY_FIELD(ray, sshknownhosts)},
    {.section = "ray", .name = "sshacceptnew", .kind = k::boolean, .required = false, .raythena = false,
     .help = "ssh: accept and record keys of hosts not yet in known_hosts", RTY_FIELD(ray, sshacceptnew)},
    {.section = "ray", .name = "stubexecutable", .kind = k::path, .required = false, .raythena = false,
     .help = "raythena-stub program started on each node", .default_doc = "raythena-stub next to raythenad",
     RTY_FIELD(ray, stubexecutable)},
    {.section = "ray", .name = "checkpointinterval", .kind = k::seconds, .required = false, .raythena = false,
     .help = "seconds between checkpoints", .min = 1, .max = int_max, RTY_FIELD(ray, checkpointinterval)},
    {.section = "ray", .name = "statusinterval", .kind = k::seconds, .required = false, .raythena = false,
     .help = "seconds between status reports", .min = 1, .max = int_max, RTY_FIELD(ray, statusinterval)},
    {.section = "ray", .name = "statusaddress", .kind = k::address, .required = false, .raythena = false,
     .flag = "status-address", .help = "where GET /status and /metrics are served (port 0: any free port; "
     "the URL goes to <workdir>/status.url); off: no endpoint", RTY_FIELD(ray, statusaddress)},
    {.section = "ray", .name = "heartbeattimeout", .kind = k::seconds, .required = false, .raythena = false,
     .help = "a stub silent this long is declared lost and its ranges re-dispatched", .min = 1, .max = int_max,
     RTY_FIELD(ray, heartbeattimeout)},
    {.section = "ray", .name = "stubgrace", .kind = k::seconds, .required = false, .raythena = false,
     .help = "how long a stub lives without its channel", .min = 0, .max = int_max, RTY_FIELD(ray, stubgrace)},
    {.section = "ray", .name = "maxrangeattempts", .kind = k::integer, .required = false, .raythena = false,
     .help = "attempts per event range before its merge group fails", .min = 1, .max = int_max,
     RTY_FIELD(ray, maxrangeattempts)},
    {.section = "ray", .name = "retryfailedgroups", .kind = k::boolean, .required = false, .raythena = false,
     .flag = "retry-failed", .switch_value = "true",
     .help = "on resume, simulate the merge groups state.json lists as failed again (all their ranges; "
             "logged per input file) instead of reporting them failed; not with harvester.eventsource harvester",
     RTY_FIELD(ray, retryfailedgroups)},
    {.section = "ray", .name = "mergeretries", .kind = k::integer, .required = false, .raythena = false,
     .help = "retries of a failed merge transform", .min = 0, .max = int_max, RTY_FIELD(ray, mergeretries)},
    {.section = "ray", .name = "mergeretrydelay", .kind = k::seconds, .required = false, .raythena = false,
     .help = "seconds before a failed merge is retried the first time; later retries wait 6 times as long, at "
             "most 60 s. A merge that cannot run at all (command or setup script missing) is not retried: "
             "the run drains with exit 3",
     .min = 0, .max = 3600, RTY_FIELD(ray, mergeretrydelay)},
    {.section = "ray", .name = "bookkeepingmemorymb", .kind = k::integer, .required = false, .raythena = false,
     .help = "MiB the event-range bookkeeping may take (about 15 bytes a range); a job needing more is refused "
             "at start with exit 5; 0: half of the host's memory limit (the smallest of physical memory, the "
             "cgroup's memory.max, RLIMIT_AS and RLIMIT_DATA)",
     .min = 0, .max = int_max, RTY_FIELD(ray, bookkeepingmemorymb)},
    {.section = "ray", .name = "walltimeaware", .kind = k::boolean, .required = false, .raythena = false,
     .help = "hand a range to a pilot only when it can finish before the kill time (walltime - "
             "payload.pilotkilltime): the ray.walltimepercentile (p90) of recent range durations plus ray.walltimemargin "
             "(near the kill time only one range for each free pilot worker); otherwise "
             "pilot gets [] and the range stays ready for the next batch job. false: Raythena's rule, ranges "
             "are handed out until the kill time and those in flight then are lost",
     RTY_FIELD(ray, walltimeaware)},
    {.section = "ray", .name = "walltimemargin", .kind = k::seconds, .required = false, .raythena = false,
     .help = "seconds added to the range-duration estimate by ray.walltimeaware", .min = 0, .max = int_max,
     RTY_FIELD(ray, walltimemargin)},
    {.section = "ray", .name = "walltimepercentile", .kind = k::integer, .required = false, .raythena = false,
     .help = "percentile (1-100) of recent range durations that ray.walltimeaware takes as a range's duration: "
             "higher holds ranges back earlier (fewer lost at the cut), lower hands out more",
     .min = 1, .max = 100, RTY_FIELD(ray, walltimepercentile)},
    {.section = "ray", .name = "remotemerges", .kind = k::boolean, .required = false, .raythena = false,
     .help = "run merges also on nodes whose pilot has ended and that have no more work (through their stub, "
             "output on the shared filesystem, up to ray.mergemaxprocesses each); the coordinator's node merges "
             "too. false: Raythena's rule, merges only on the coordinator's node",
     RTY_FIELD(ray, remotemerges)},
    {.section = "ray", .name = "tailshare", .kind = k::boolean, .required = false, .raythena = false,
     .help = "once fewer ranges are left than pilot workers may ask for, a request gets its workers' share of "
             "them (at least one) instead of one a worker, so no pilot queues the last ranges behind busy "
             "workers while other nodes idle. false: Raythena's rule, up to resources.corepernode a request",
     RTY_FIELD(ray, tailshare)},
    // ---------------- resources
    {.section = "resources", .name = "corepernode", .kind = k::integer, .required = true, .raythena = true,
     .flag = "core-per-node", .help = "event ranges per node request", .default_doc = "number of CPUs",
     .min = 1, .max = int_max, RTY_FIELD(resources, corepernode)},
    // ---------------- logging
    {.section = "logging", .name = "level", .kind = k::choice, .required = true, .raythena = true, .flag = "debug",
     .short_flag = 'd', .switch_value = "debug", .help = "log level (--debug: debug)", .choices = level_choices,
     RTY_FIELD(logging, level)},
    {.section = "logging", .name = "driverlogfile", .kind = k::path, .required = true, .raythena = true,
     .help = "coordinator log file (appended); stderr when null", RTY_FIELD(logging, driverlogfile)},
    {.section = "logging", .name = "workerlogfile", .kind = k::path, .required = true, .raythena = true,
     .help = "each stub logs to a file of this name (the basename) in its node's directory, once connected; "
             "null: to the launcher's capture only",
     RTY_FIELD(logging, workerlogfile)},
    {.section = "logging", .name = "copyraylogs", .kind = k::boolean, .required = true, .raythena = true,
     .ignored = true,
     .help = "ignored: there are no Ray logs; stub logs are kept in <workdir>/<PandaID>/stub-logs/ (local "
             "launcher) or logging.workerlogfile",
     RTY_FIELD(logging, copyraylogs)},
    {.section = "logging", .name = "logfile", .kind = k::path, .required = false, .raythena = true,
     .ignored = true, .help = "ignored: old Raythena key (see logging.driverlogfile)", RTY_FIELD(logging, logfile)},
};

#undef RTY_FIELD

constexpr std::string_view sections[] = {"payload", "harvester", "ray", "resources", "logging"};

std::string join_choices(std::span<const std::string_view> choices, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i) out += (i + 1 == choices.size()) ? last_sep : std::string_view(", ");
    out += choices[i];
  }
  return out;
}

}  // namespace

std::string key_spec::full_name() const { return std::string(section) + "." + std::string(name); }

std::string key_spec::env_name() const {
  if (flag.empty()) return {};
  std::string out = "RAYTHENA_";
  for (char c : flag) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

std::string key_spec::expected() const {
  auto range = [&](std::string_view what) {
    std::ostringstream o;
    o << what;
    if (max == int_max)
      o << " >= " << min;
    else
      o << " between " << min << " and " << max;
    return o.str();
  };
  switch (kind) {
    case value_kind::text: return "a string";
    case value_kind::path: return "a path";
    case value_kind::shell: return "a shell command string";
    case value_kind::integer: return range("an integer");
    case value_kind::seconds: return range("a whole number of seconds");
    case value_kind::boolean: return "true or false";
    case value_kind::string_list: return "a list of strings or one comma-separated string";
    case value_kind::choice: return "one of " + join_choices(choices, " or ");
    case value_kind::address: return "HOST:PORT with HOST an IP address ([...] for IPv6) and PORT 0-65535, or off";
  }
  return "a value";
}

std::string key_spec::default_text() const {
  if (!default_doc.empty()) return std::string(default_doc);
  return value_text(get(settings{}));
}

std::span<const key_spec> key_table() { return table; }
std::span<const std::string_view> section_names() { return sections; }

const key_spec* find_key(std::string_view section, std::string_view name) {
  for (const auto& key : table)
    if (key.section == section && key.name == name) return &key;
  return nullptr;
}

const key_spec* find_flag(std::string_view flag) {
  for (const auto& key : table)
    if (!key.flag.empty() && key.flag == flag) return &key;
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string nearest_key(std::string_view full_name) {
  // A key put in the wrong section should point to its real place, so compare the key name alone as well
  // as the dotted name and keep the best of both.
  auto dot = full_name.find('.');
  std::string_view bare = dot == std::string_view::npos ? full_name : full_name.substr(dot + 1);
  const key_spec* best = nullptr;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& key : table) {
    std::size_t d = std::min(edit_distance(full_name, key.full_name()), edit_distance(bare, key.name) + 1);
    if (d < best_distance) best_distance = d, best = &key;
  }
  return best ? best->full_name() : std::string{};
}

std::string nearest_section(std::string_view section) {
  std::string_view best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (auto s : sections) {
    std::size_t d = edit_distance(section, s);
    if (d < best_distance) best_distance = d, best = s;
  }
  return std::string(best);
}

std::string value_text(const key_value& v) {
  struct visitor {
    std::string operator()(std::monostate) const { return "null"; }
    std::string operator()(const std::string& s) const { return s; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::vector<std::string>& list) const {
      if (list.empty()) return "[]";
      std::string out;
      for (const auto& s : list) out += (out.empty() ? "" : ",") + s;
      return out;
    }
  };
  return std::visit(visitor{}, v);
}

std::string key_spec::type_name() const {
  switch (kind) {
    case value_kind::text: return "string";
    case value_kind::path: return "path";
    case value_kind::shell: return "shell";
    case value_kind::integer: return "integer";
    case value_kind::seconds: return "seconds";
    case value_kind::boolean: return "bool";
    case value_kind::string_list: return "list";
    case value_kind::choice: {
      std::string out;
      for (auto c : choices) out += (out.empty() ? "" : "|") + std::string(c);
      return out;
    }
    case value_kind::address: return "address";
  }
  return {};
}

std::string keys_markdown(bool new_keys_only) {
  std::ostringstream o;
  o << "| key | type | default | flag / variable | meaning |\n|---|---|---|---|---|\n";
  for (const auto& key : table) {
    if (new_keys_only && key.raythena) continue;
    std::string choice = key.type_name();
    std::replace(choice.begin(), choice.end(), '|', '/');  // a bare | would split the markdown cell
    o << "| `" << key.full_name() << "` | " << choice << " | `" << key.default_text() << "` | ";
    if (!key.flag.empty()) {
      o << "`--" << key.flag << "`";
      if (key.short_flag) o << " (`-" << key.short_flag << "`)";
      o << " / `" << key.env_name() << "`";
    } else {
      o << "–";
    }
    o << " | " << key.help
      << (key.required ? " (Raythena, required)" : key.raythena ? " (Raythena)" : " (new)") << " |\n";
  }
  return o.str();
}

}  // namespace rty::config
