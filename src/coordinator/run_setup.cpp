// The configuration-derived parts of a run (run_setup.hpp).
#include "coordinator/run_setup.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "common/dir_policy.hpp"
#include "common/error.hpp"
#include "common/file_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "harvester/capped_read.hpp"
#include "harvester/ini.hpp"
#include "pilot/payload_script.hpp"
#include "pilot/reply.hpp"
#include "pilot/time_monitor.hpp"

namespace rty::coordinator {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;
constexpr const char* log_name = "Driver";

// This host's address that other nodes can reach: the first non-loopback IPv4 interface address.
std::string reachable_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (auto* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP)) continue;
    char buf[NI_MAXHOST];
    if (::getnameinfo(a->ifa_addr, sizeof(sockaddr_in), buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0) {
      found = buf;
      break;
    }
  }
  ::freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

std::string self_executable_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

bool local_launcher(const config::settings& cfg) { return launch::resolve(cfg.ray.launcher) == launch::kind::local; }

}  // namespace

void raise_open_files_limit() {
  auto raised = process::raise_open_files_limit();
  if (!raised)
    RTY_LOG(warning, log_name) << raised.error();
  else if (*raised)
    RTY_LOG(info, log_name) << "open files limit raised from " << (*raised)->before << " to " << (*raised)->after
                            << " (children keep " << (*raised)->before << ")";
}

std::optional<int> open_workdir(const config::settings& cfg, file::task_lock& lock) {
  std::error_code ec;
  fs::create_directories(cfg.ray.workdir, ec);
  // Before anything is written there (status.url, the secret, Harvester's requests).
  if (auto problem = file::check_dir_is_private("ray.workdir", cfg.ray.workdir)) {
    RTY_LOG(critical, log_name) << *problem;
    return exit_config_error;
  }
  if (auto locked = lock.acquire(cfg.ray.workdir); !locked) {
    if (locked.error().code() != file::task_lock::unsupported) {
      RTY_LOG(critical, log_name) << locked.error();
      return exit_runtime_error;
    }
    RTY_LOG(warning, log_name) << locked.error() << " (the filesystem has no flock)";
  }
  return std::nullopt;
}

std::int64_t read_kill_deadline(const config::settings& cfg) {
  std::string path = file::join(cfg.ray.workdir, cfg.payload.timemonitorfile);
  // In the shared workdir like Harvester's files, so capped like them (issue 13).
  auto text = harvester::read_capped(path, harvester::mib, "time-monitor file");
  if (!text) {
    if (harvester::too_big(text.error()))
      RTY_LOG(warning, log_name) << text.error() << "; no walltime limit";
    else
      RTY_LOG(info, log_name) << "no time-monitor file (" << text.error() << "): no walltime limit";
    return 0;
  }
  auto tm = pilot::parse_time_monitor(*text);
  if (!tm) {
    RTY_LOG(warning, log_name) << "time-monitor file " << path << ": " << tm.error() << "; no walltime limit";
    return 0;
  }
  // The batch script writes the file right after the job starts: its mtime pins the start day.
  auto reference = std::chrono::system_clock::now();
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    reference = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
  auto deadline = pilot::kill_deadline(*tm, reference, cfg.payload.pilotkilltime);
  auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::system_clock::now());
  RTY_LOG(info, log_name) << "walltime: ranges stop being handed out in " << left.count() << " s";
  return std::chrono::duration_cast<std::chrono::seconds>(deadline.time_since_epoch()).count();
}

std::chrono::seconds heartbeat_interval(const config::settings& cfg) {
  return std::max<std::chrono::seconds>(1s, cfg.ray.heartbeattimeout / 4);
}

int node_count(const config::settings& cfg) {
  switch (launch::resolve(cfg.ray.launcher)) {
    case launch::kind::local: return std::max(1, cfg.ray.nodes.value_or(cfg.ray.localnodes));
    case launch::kind::ssh: return static_cast<int>(cfg.ray.sshhosts.size());
    case launch::kind::srun: break;
  }
  launch::launch_request r;
  r.nodes = cfg.ray.nodes.value_or(0);
  return launch::srun_node_count(r);
}

std::string stub_listen_address(const config::settings& cfg) {
  std::string address = cfg.ray.headip.value_or("");
  if (address.empty()) address = local_launcher(cfg) ? std::string("127.0.0.1") : reachable_address();
  return address;
}

std::optional<std::string> open_harvester(const config::settings& cfg, std::optional<harvester::messenger>& messenger,
                                          std::optional<harvester::queuedata>& queuedata,
                                          std::optional<harvester::queue_messenger>& queue) {
  std::string endpoint = cfg.harvester.endpoint.value_or(cfg.ray.workdir);
  std::string conf = cfg.harvester.harvesterconf.value_or("");
  auto ini = harvester::ini_file::load(conf);
  if (!ini)
    return "cannot read Harvester's config " + ini.error().file + ":" + std::to_string(ini.error().line) + ": " +
           ini.error().message;
  // The queue config's messenger section ([qconf] configFile) overrides [payload_interaction]'s names.
  const char* panda_home = std::getenv("PANDA_HOME");
  auto resolved = harvester::resolve_messenger(*ini, endpoint, cfg.payload.pandaqueue.value_or(""),
                                               panda_home ? panda_home : "");
  if (!resolved) return "Harvester config " + conf + ": " + resolved.error().message();
  if (resolved->queue)
    RTY_LOG(info, log_name) << "Harvester " << harvester::describe(*resolved->queue);
  else
    RTY_LOG(debug, log_name) << "Harvester: " << resolved->queue_note;
  queue = resolved->queue;
  const auto* files = &resolved->files;
  if (auto qd = harvester::queuedata_path(*ini, cfg.payload.pandaqueue.value_or(""))) {
    auto q = harvester::load_queuedata(*qd);
    if (q)
      queuedata = *q;
    else
      RTY_LOG(warning, log_name) << "queuedata: " << q.error();
  }
  harvester::messenger_options mo;
  mo.job_timeout = cfg.harvester.timeout;
  messenger.emplace(*files, mo);
  return std::nullopt;
}

launch::launch_request make_launch_request(const config::settings& cfg, const rty::job_spec& job,
                                           const std::string& listen_address, const std::string& secret,
                                           const std::string& secret_file) {
  launch::launch_request r;
  r.stub_executable =
      cfg.ray.stubexecutable.empty() ? self_executable_dir() + "/raythena-stub" : cfg.ray.stubexecutable;
  r.coordinator = listen_address;
  r.secret = secret;
  r.secret_file = secret_file;
  r.log_dir = file::join(file::join(cfg.ray.workdir, job.panda_id), "stub-logs");
  r.nodes = node_count(cfg);
  r.debug = log::enabled(log::level::debug);
  r.ssh_hosts = cfg.ray.sshhosts;
  r.ssh_key = cfg.ray.sshkey.value_or("");
  r.ssh_known_hosts = cfg.ray.sshknownhosts;
  r.ssh_accept_new = cfg.ray.sshacceptnew;
  return r;
}

namespace {
merge::merge_settings make_merge_settings(const config::settings& cfg, const std::optional<harvester::queuedata>& qd,
                                          const std::string& task_dir) {
  merge::merge_settings m;
  m.task_dir = task_dir;
  m.containerengine = cfg.payload.containerengine.value_or("none");
  if (qd && !qd->container_type.empty() && !cfg.payload.runs_merge_without_container() &&
      qd->container_type != m.containerengine) {
    RTY_LOG(info, log_name) << "queuedata container_type '" << qd->container_type << "' replaces payload.containerengine '"
                            << m.containerengine << "'";
    m.containerengine = qd->container_type;
  }
  m.containerextraargs = cfg.payload.containerextraargs.value_or("");
  m.containerextrasetup = cfg.payload.containerextrasetup.value_or("");
  if (qd) m.container_options = qd->container_options;
  return m;
}

std::string payload_script(const config::settings& cfg, const rty::job_spec& job) {
  pilot::payload_options po;
  po.extrasetup = cfg.payload.extrasetup.value_or("");
  po.extrapostpayload = cfg.payload.extrapostpayload.value_or("");
  po.pilotwrapper = cfg.payload.pilotwrapper;
  po.pilotdir = cfg.payload.pilotdir;
  po.pandaqueue = cfg.payload.pandaqueue.value_or("");
  po.prod_source_label = job.prod_source_label;
  po.hpcresource = cfg.payload.hpcresource.value_or("");
  po.logfilename = cfg.payload.logfilename;
  return pilot::build_payload_script(po);
}
}  // namespace

engine_settings make_engine_settings(const config::settings& cfg, const rty::job_spec& job,
                                     const std::optional<harvester::queuedata>& queuedata, const std::string& task_dir,
                                     std::int64_t kill_at_epoch) {
  engine_settings s;
  s.workdir = cfg.ray.workdir;
  s.task_dir = task_dir;
  s.endpoint = cfg.harvester.endpoint.value_or(cfg.ray.workdir);
  s.corepernode = cfg.resources.corepernode;
  s.restarts.max_without_progress = cfg.payload.pilotrestarts;
  s.walltime.aware = cfg.ray.walltimeaware;
  s.walltime.margin = cfg.ray.walltimemargin;
  s.walltime.quantile = cfg.ray.walltimepercentile / 100.0;
  if (kill_at_epoch > 0)  // the kill time on the engine's (steady) clock
    s.kill_at = std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::system_clock::time_point(std::chrono::seconds(kill_at_epoch)) -
                    std::chrono::system_clock::now());
  s.expected_nodes = std::max(1, node_count(cfg));
  s.merge_max_processes = cfg.ray.mergemaxprocesses;
  s.remote_merges = cfg.ray.remotemerges;
  s.tail_share = cfg.ray.tailshare;
  s.merge_retries = cfg.ray.mergeretries;
  s.merge_retry_delay = cfg.ray.mergeretrydelay;
  s.merge = make_merge_settings(cfg, queuedata, task_dir);
  auto& ns = s.node_settings;
  ns["payload_script"] = payload_script(cfg, job);
  // Several stubs on one host cannot share a port: the local launcher always uses free ports, and
  // serverport 0 asks for the same elsewhere (e.g. Slurm emulating several nodes on one host).
  ns["server_port"] = local_launcher(cfg) ? 0 : cfg.payload.serverport;
  ns["kill_file"] = cfg.payload.pilotkillfile;
  ns["kill_at"] = kill_at_epoch;
  ns["heartbeat_interval"] = heartbeat_interval(cfg).count();
  ns["heartbeat_timeout"] = cfg.ray.heartbeattimeout.count();
  ns["grace"] = cfg.ray.stubgrace.count();
  if (cfg.logging.workerlogfile && !cfg.logging.workerlogfile->empty())
    ns["worker_log"] = fs::path(*cfg.logging.workerlogfile).filename().string();
  if (const char* pc = std::getenv("HARVESTER_PILOT_CONFIG")) ns["pilot_config"] = pc;
  // pilot >= 3.10 asks getResourceTypes for its memory-kill limits; without a site file it gets 500.
  if (cfg.payload.resourcetypesfile && !cfg.payload.resourcetypesfile->empty()) {
    const std::string& path = *cfg.payload.resourcetypesfile;
    auto text = harvester::read_capped(path, 1024 * 1024, "resource types file");
    auto reply = text ? pilot::reply_resource_types(*text, path) : rty::result<std::string>(text.error());
    if (reply)
      ns["resource_types"] = *reply;
    else
      RTY_LOG(error, log_name) << "payload.resourcetypesfile: " << reply.error()
                               << "; pilots get StatusCode 500 for getResourceTypes and use their built-in limits";
  }
  return s;
}

}  // namespace rty::coordinator
