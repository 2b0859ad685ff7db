#include "config/validate.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/atlas_paths.hpp"
#include "common/dir_policy.hpp"
#include "common/file_util.hpp"
#include "config/address.hpp"
#include "config/keys.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/ini.hpp"
#include "harvester/queue_config.hpp"
#include "pilot/reply.hpp"
#include "harvester/capped_read.hpp"
#include "pilot/time_monitor.hpp"

namespace rty::config {

namespace fs = std::filesystem;

std::string_view to_string(check_status s) {
  switch (s) {
    case check_status::ok: return "OK";
    case check_status::note: return "NOTE";
    case check_status::warn: return "WARN";
    case check_status::fail: return "FAIL";
  }
  return "FAIL";
}

std::string format_check(const check_result& c) {
  return std::string(to_string(c.status)) + " " + c.name + ": " + c.detail;
}

namespace {

constexpr std::string_view dash = " \u2014 ";

// The subject already names the file, so only the line and the problem are added.
std::string ini_problem(const rty::harvester::ini_error& e) {
  if (e.line <= 0) return "cannot be read: " + e.message;
  return "does not parse (configparser dialect): line " + std::to_string(e.line) + ": " + e.message;
}

std::string env_or_empty(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

class checker {
 public:
  explicit checker(const settings& s) : s_(s) {}

  std::vector<check_result> run(const std::string& source_file, const std::vector<std::string>& notices) {
    check_config(source_file, notices);
    writable_directory("workdir", "ray.workdir", s_.ray.workdir, true);
    if (!s_.ray.taskprogressbasedir)
      add("taskprogressbasedir", check_status::fail, "ray.taskprogressbasedir", "not set (the task output directory goes under it)");
    else
      writable_directory("taskprogressbasedir", "ray.taskprogressbasedir", *s_.ray.taskprogressbasedir);
    check_endpoint();
    check_headip();
    check_harvester_config();
    check_pilot_config();
    check_time_monitor();
    check_pilot_files();
    check_resource_types();
    check_merge();
    check_launcher();
    check_stub();
    check_status_address();
    check_driver_log();
    return std::move(results_);
  }

 private:
  void add(std::string name, check_status status, const std::string& subject, const std::string& reason) {
    results_.push_back({std::move(name), status, subject + std::string(dash) + reason});
  }

  void check_config(const std::string& source_file, const std::vector<std::string>& notices) {
    add("config", check_status::ok, source_file.empty() ? std::string("settings") : source_file, "loaded");
    for (const auto& n : notices) {
      // Loader notices read "warning: <where>: <what>" (unknown names: WARN) / "notice: <where>: <what>"
      // (a key raythenad accepts and ignores: NOTE).
      auto colon = n.find(": ");
      std::string body = colon == std::string::npos ? n : n.substr(colon + 2);
      auto level = n.starts_with("notice: ") ? check_status::note : check_status::warn;
      auto split = body.find(": ");
      if (split == std::string::npos)
        add("config", level, "config", body);
      else
        add("config", level, body.substr(0, split), body.substr(split + 2));
    }
    if (!s_.payload.pandaqueue || s_.payload.pandaqueue->empty())
      add("config", check_status::fail, "payload.pandaqueue", "not set (pilot and the queuedata lookup need it)");
    if (!s_.payload.hpcresource)
      add("config", check_status::warn, "payload.hpcresource", "not set (pilot gets an empty --hpc-resource)");
  }

  // Unknown variables are kept as written ($VAR expansion): a path still holding one most likely does
  // not exist because the variable is not set here (a login node's environment is not the batch job's).
  static std::string unset_variable_note(const std::string& path) {
    for (std::size_t at = path.find('$'); at != std::string::npos; at = path.find('$', at + 1)) {
      const bool braced = at + 1 < path.size() && path[at + 1] == '{';
      std::size_t b = at + (braced ? 2 : 1), e = b;
      while (e < path.size() && (std::isalnum(static_cast<unsigned char>(path[e])) || path[e] == '_')) ++e;
      if (e == b || (braced && (e >= path.size() || path[e] != '}'))) continue;
      const std::string var = path.substr(b, e - b);
      if (!std::getenv(var.c_str())) return " ($" + var + " is not set in this environment)";
    }
    return "";
  }

  // `private_dir`: raythenad refuses to run in it unless it is ours and closed to others (dir_policy).
  // `key_plus_path` false: `key` is the whole subject already ("key=path (...)").
  void writable_directory(const std::string& name, const std::string& key, const std::string& path,
                          bool private_dir = false, bool key_plus_path = true) {
    std::error_code ec;
    std::string subject = key_plus_path ? key + "=" + path : key;
    std::optional<std::string> unsafe = private_dir && fs::is_directory(path, ec) ? file::dir_problem(path) : std::nullopt;
    if (unsafe)
      add(name, check_status::fail, subject, *unsafe);
    else if (!fs::exists(path, ec))
      add(name, check_status::fail, subject, "does not exist" + unset_variable_note(path));
    else if (!fs::is_directory(path, ec))
      add(name, check_status::fail, subject, "is not a directory");
    else if (::access(path.c_str(), W_OK | X_OK) != 0)
      add(name, check_status::fail, subject, "is not writable");
    else
      add(name, check_status::ok, subject, "writable directory");
  }

  // The messenger's directory as the run will use it. Anyone who may create files in it could hand
  // raythenad a job or event ranges (worker_requestjob.json, ...), so it must not be writable by others.
  void check_endpoint() {
    const std::string access_point = env_or_empty("HARVESTER_ACCESS_POINT");
    if (!s_.harvester.endpoint) {
      add("endpoint", check_status::fail, "harvester.endpoint",
          access_point.empty() ? "not set (Harvester's files are exchanged there)"
                               : "not set; HARVESTER_ACCESS_POINT=" + access_point +
                                     " is read only by raythenad.sbatch (RAYTHENA_HARVESTER_ENDPOINT)");
      return;
    }
    const std::string& path = *s_.harvester.endpoint;
    std::string subject = "harvester.endpoint=" + path;
    bool check_access_point_too = false;
    if (!access_point.empty()) {
      if (access_point == path) {
        subject += " (HARVESTER_ACCESS_POINT)";
      } else if (env_or_empty("RAYTHENA_HARVESTER_ENDPOINT").empty()) {
        // Checked by hand (a login node): raythenad.sbatch exports HARVESTER_ACCESS_POINT as
        // RAYTHENA_HARVESTER_ENDPOINT, which wins over the YAML value, so the job uses the access point.
        add("endpoint", check_status::warn, subject,
            "differs from HARVESTER_ACCESS_POINT=" + access_point + ": raythenad.sbatch makes that one the "
            "endpoint (RAYTHENA_HARVESTER_ENDPOINT wins over the YAML value); raythenad run directly reads " +
            path + "; both are checked");
        check_access_point_too = true;
      } else {
        add("endpoint", check_status::warn, subject,
            "differs from HARVESTER_ACCESS_POINT=" + access_point + ": Harvester writes this worker's files there, "
            "the run reads " + path + " (RAYTHENA_HARVESTER_ENDPOINT or --harvester-endpoint wins)");
      }
    }
    check_messenger_directory(subject, path);
    if (check_access_point_too) check_messenger_directory("HARVESTER_ACCESS_POINT=" + access_point, access_point);
  }

  // A writable directory that other users cannot write (they could hand the run a job or ranges).
  void check_messenger_directory(const std::string& subject, const std::string& path) {
    const std::size_t before = results_.size();
    writable_directory("endpoint", subject, path, false, false);
    if (results_.size() != before + 1 || results_.back().status != check_status::ok) return;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    if (st.st_mode & S_IWOTH) {
      results_.back() = {"endpoint", check_status::fail,
                         subject + std::string(dash) + "is writable by other users (mode " + mode +
                             "): they could hand this run a job or event ranges; chmod o-w " + path};
      return;
    }
    results_.back().detail += std::string(" (mode ") + mode + ", not writable by others)";
  }

  // ray.headip: raythenad listens there (an ephemeral port) and every stub connects to it.
  void check_headip() {
    const std::string value = s_.ray.headip.value_or("");
    const bool local = s_.ray.launcher == launcher_kind::local || s_.ray.launcher == launcher_kind::automatic;
    if (value.empty()) {
      add("headip", check_status::ok, "ray.headip",
          local ? "not set: raythenad listens for stubs on 127.0.0.1 (local launcher)"
                : "not set: raythenad listens for stubs on this host's first non-loopback IPv4 address");
      return;
    }
    const std::string subject = "ray.headip=" + value;
    const auto space = value.find_first_of(" \t\n");
    if (space != std::string::npos) {
      add("headip", check_status::fail, subject,
          "is several space-separated values, one address is needed (raythenad listens on it; every stub "
          "connects to it). `hostname -i` prints one address per interface on some hosts (NERSC Cori): give "
          "the one the compute nodes reach, e.g. --ray-head-ip " + value.substr(0, space));
      return;
    }
    std::string address = value;
    std::string what = "an address";  // what the value is, for the lines below
    unsigned char buf[sizeof(in6_addr)];
    if (::inet_pton(AF_INET, value.c_str(), buf) != 1 && ::inet_pton(AF_INET6, value.c_str(), buf) != 1) {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* found = nullptr;
      int rc = ::getaddrinfo(value.c_str(), nullptr, &hints, &found);
      if (rc != 0 || !found) {
        add("headip", check_status::fail, subject,
            std::string("is neither an address nor a name that resolves (") + ::gai_strerror(rc) + ")");
        return;
      }
      char host[NI_MAXHOST];
      rc = ::getnameinfo(found->ai_addr, found->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
      ::freeaddrinfo(found);
      if (rc != 0) {
        add("headip", check_status::fail, subject, std::string("resolves, but not to an address: ") + ::gai_strerror(rc));
        return;
      }
      address = host;
      what = "a name that resolves to " + address;
    }
    if (int err = bind_error(address, 0)) {
      add("headip", check_status::fail, subject,
          what + ", but raythenad cannot listen on it here: " + std::strerror(err) +
              " (it must be an address of the host raythenad runs on)");
      return;
    }
    const bool loopback = address.rfind("127.", 0) == 0 || address == "::1";
    if (loopback && !local)
      add("headip", check_status::warn, subject,
          what + " on the loopback interface: stubs on other nodes cannot reach it");
    else
      add("headip", check_status::ok, subject,
          what + (address == value ? " of this host" : ", an address of this host") + "; stubs connect to it");
  }

  // 0 when `host` (an IP literal) and `port` can be bound now, else errno.
  static int bind_error(const std::string& host, int port) {
    const bool v6 = host.find(':') != std::string::npos;
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in in4{};
    sockaddr_in6 in6{};
    int rc;
    if (v6) {
      in6.sin6_family = AF_INET6;
      in6.sin6_port = htons(static_cast<std::uint16_t>(port));
      ::inet_pton(AF_INET6, host.c_str(), &in6.sin6_addr);
      rc = ::bind(fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6);
    } else {
      in4.sin_family = AF_INET;
      in4.sin_port = htons(static_cast<std::uint16_t>(port));
      ::inet_pton(AF_INET, host.c_str(), &in4.sin_addr);
      rc = ::bind(fd, reinterpret_cast<sockaddr*>(&in4), sizeof in4);
    }
    int err = rc != 0 ? errno : 0;
    ::close(fd);
    return err;
  }

  void check_harvester_config() {
    if (!s_.harvester.harvesterconf) {
      add("harvesterconf", check_status::fail, "harvester.harvesterconf", "not set (panda_harvester.cfg is needed)");
      return;
    }
    const std::string& path = *s_.harvester.harvesterconf;
    auto ini = rty::harvester::ini_file::load(path);
    if (!ini) {
      add("harvesterconf", check_status::fail, path, ini_problem(ini.error()));
      return;
    }
    auto files = rty::harvester::resolve_messenger_files(*ini, s_.harvester.endpoint.value_or(""));
    if (!files)
      add("harvesterconf", check_status::fail, path, files.error().message());
    else
      add("harvesterconf", check_status::ok, path, "parses; [payload_interaction] has the keys we use");
    check_queue_config(*ini);
    check_queuedata(*ini);
  }

  // The queue config [qconf] configFile names: its messenger section overrides file names.
  void check_queue_config(const rty::harvester::ini_file& ini) {
    const char* home = std::getenv("PANDA_HOME");
    auto r = rty::harvester::resolve_messenger(ini, s_.harvester.endpoint.value_or(""),
                                               s_.payload.pandaqueue.value_or(""), home ? home : "");
    if (!r) {
      // A [payload_interaction] problem is the harvesterconf check's; only report the queue config's.
      if (rty::harvester::resolve_messenger_files(ini, s_.harvester.endpoint.value_or("")))
        add("queueconfig", check_status::fail, "[qconf] configFile", r.error().message());
      return;
    }
    if (!r->queue)
      add("queueconfig", check_status::ok, "[qconf] configFile", r->queue_note);
    else
      add("queueconfig", check_status::ok, r->queue->config_file, rty::harvester::describe(*r->queue));
  }

  void check_queuedata(const rty::harvester::ini_file& ini) {
    std::string queue = s_.payload.pandaqueue.value_or("");
    const std::string& cfg = *s_.harvester.harvesterconf;
    if (!ini.has_section("cacher")) {
      add("queuedata", check_status::warn, cfg, "no [cacher] section: payload.containerengine is used as is");
      return;
    }
    auto path = rty::harvester::queuedata_path(ini, queue);
    if (!path) {
      add("queuedata", check_status::warn, cfg,
          "[cacher] data has no line for queue '" + queue + "': payload.containerengine is used as is");
      return;
    }
    auto qd = rty::harvester::load_queuedata(*path);
    if (!qd) {
      add("queuedata", check_status::fail, *path, qd.error().message());
      return;
    }
    std::string engine = s_.payload.containerengine.value_or("");
    queue_container_ = qd->container_type;
    if (qd->container_type.empty() || qd->container_type == engine)
      add("queuedata", check_status::ok, *path,
          "parses; container_type '" + qd->container_type + "' agrees with payload.containerengine");
    else
      add("queuedata", check_status::warn, *path,
          "container_type '" + qd->container_type + "' differs from payload.containerengine '" + engine + "' (" +
              (s_.payload.runs_merge_without_container() ? "payload.containerengine none wins: merges run without one"
                                                          : "queuedata wins for merges") + ")");
  }

  // What every merge will run (the daemon's rule: payload.containerengine none runs the transform
  // directly; otherwise the queue's container_type, when it has one, decides). In a container, ALRB's
  // setup script must be there, or every merge fails (the operator's trial: 0 of 200 events merged).
  void check_merge() {
    std::string engine = s_.payload.containerengine.value_or("none");
    std::string source = "payload.containerengine";
    if (!s_.payload.runs_merge_without_container() && !queue_container_.empty()) {
      engine = queue_container_;
      source = "queuedata container_type";
    }
    std::string lower = engine;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string subject = source + "=" + engine;
    if (lower == "none") {
      add("merge", check_status::ok, subject, "merges run the job's transform directly, in their work directory");
      return;
    }
    const std::string setup = std::string(rty::default_alrb_root) + "/user/atlasLocalSetup.sh";
    if (!readable_file(setup)) {
      add("merge", check_status::fail, subject,
          setup + " is not there: every merge would fail (is CVMFS mounted on this node?)");
      return;
    }
    add("merge", check_status::ok, subject, "ALRB's " + setup + " is there");
    if (find_on_path(lower).empty())
      add("merge", check_status::warn, subject,
          "'" + lower + "' is not on PATH here (fine if ALRB provides the container runtime)");
  }

  void check_pilot_config() {
    std::string path = env_or_empty("HARVESTER_PILOT_CONFIG");
    std::string expected = "http://127.0.0.1:" + std::to_string(s_.payload.serverport);
    if (path.empty()) {
      add("pilotconfig", check_status::fail, "HARVESTER_PILOT_CONFIG",
          "not set (pilot reads [Pilot] pandaserver = " + expected + " from that file)");
      return;
    }
    auto ini = rty::harvester::ini_file::load(path);
    if (!ini) {
      add("pilotconfig", check_status::fail, path, ini_problem(ini.error()));
      return;
    }
    auto server = ini->get("Pilot", "pandaserver");
    if (s_.payload.serverport == 0) {
      add("pilotconfig", check_status::ok, path,
          "parses; each stub hands pilot a copy with pandaserver set to its own port (payload.serverport 0)");
      return;
    }
    if (!server)
      add("pilotconfig", check_status::fail, path, "[Pilot] pandaserver is missing; must be " + expected);
    else if (*server != expected)
      add("pilotconfig", check_status::fail, path,
          "[Pilot] pandaserver is '" + *server + "'; must be exactly '" + expected +
              "' (payload.serverport; pilot adds https:// or :25443 otherwise)");
    else
      add("pilotconfig", check_status::ok, path, "[Pilot] pandaserver = " + expected);
  }

  void check_time_monitor() {
    std::string path = rty::file::join(s_.ray.workdir, s_.payload.timemonitorfile);
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      // Outside a Slurm job (a login node) the batch job has not written it yet: nothing to fix there.
      if (env_or_empty("SLURM_JOB_ID").empty())
        add("timemonitor", check_status::note, path,
            "absent (not in a Slurm job: the batch job writes it; raythenad.sbatch checks it there)");
      else
        add("timemonitor", check_status::warn, path, "absent: no walltime kill timer will run");
      return;
    }
    auto text = rty::file::read_all(path);
    if (!text) {
      add("timemonitor", check_status::fail, path, text.error().message());
      return;
    }
    auto parsed = rty::pilot::parse_time_monitor(*text);
    if (!parsed)
      add("timemonitor", check_status::fail, path, "does not parse: " + parsed.error().message());
    else
      add("timemonitor", check_status::ok, path,
          "parses; walltime limit " + std::to_string(parsed->limit_seconds) + " s");
  }

  // Which of payload.pilotwrapper/pilotdir, payload.bindir or the CVMFS default gave the path.
  std::string chosen_by(const std::string& from) const {
    if (from == "payload.bindir") return "; found in payload.bindir=" + s_.payload.bindir.value_or("");
    if (from == "default")
      return s_.payload.bindir ? "; default (payload.bindir not searched)" : "; default (neither the key nor payload.bindir set)";
    if (from.empty()) return {};
    return s_.payload.bindir ? "; set by " + from + ", which wins over payload.bindir" : "; set by " + from;
  }

  void check_pilot_files() {
    std::error_code ec;
    const std::string& wrapper = s_.payload.pilotwrapper;
    const std::string wrapper_from = chosen_by(s_.payload.pilotwrapper_from);
    const std::string dir_from = chosen_by(s_.payload.pilotdir_from);
    if (!fs::exists(wrapper, ec))
      add("pilotwrapper", check_status::fail, "payload.pilotwrapper=" + wrapper, "does not exist");
    else if (!fs::is_regular_file(wrapper, ec) || ::access(wrapper.c_str(), X_OK) != 0)
      add("pilotwrapper", check_status::fail, "payload.pilotwrapper=" + wrapper, "is not an executable file");
    else
      add("pilotwrapper", check_status::ok, "payload.pilotwrapper=" + wrapper, "executable" + wrapper_from);
    const std::string& dir = s_.payload.pilotdir;
    if (!fs::is_directory(dir, ec))
      add("pilotdir", check_status::fail, "payload.pilotdir=" + dir, "is not an existing directory");
    else if (!fs::exists(fs::path(dir) / "pilot.py", ec))
      add("pilotdir", check_status::warn, "payload.pilotdir=" + dir, "has no pilot.py" + dir_from);
    else
      add("pilotdir", check_status::ok, "payload.pilotdir=" + dir, "directory with pilot.py" + dir_from);
  }

  // pilot >= 3.10's getResourceTypes is answered from this file (its memory-kill limits).
  void check_resource_types() {
    if (!s_.payload.resourcetypesfile || s_.payload.resourcetypesfile->empty()) return;
    const std::string& path = *s_.payload.resourcetypesfile;
    auto text = rty::harvester::read_capped(path, 1024 * 1024, "resource types file");
    if (!text) {
      add("resourcetypes", check_status::fail, "payload.resourcetypesfile=" + path, text.error().message());
      return;
    }
    auto reply = rty::pilot::reply_resource_types(*text, path);
    if (!reply)
      add("resourcetypes", check_status::fail, "payload.resourcetypesfile=" + path, reply.error().message());
    else
      add("resourcetypes", check_status::ok, "payload.resourcetypesfile=" + path,
          "answers pilot's getResourceTypes (its memory kill uses maxrampercore)");
  }

  static bool readable_file(const std::string& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec) && ::access(path.c_str(), R_OK) == 0;
  }

  static std::string find_on_path(const std::string& program) {
    std::string path = env_or_empty("PATH");
    std::size_t start = 0;
    while (start <= path.size()) {
      auto colon = path.find(':', start);
      if (colon == std::string::npos) colon = path.size();
      std::string dir = path.substr(start, colon - start);
      std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
      std::error_code ec;
      if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      start = colon + 1;
    }
    return {};
  }

  void check_launcher() {
    switch (s_.ray.launcher) {
      case launcher_kind::automatic:  // resolved by the loader; checked like local if it was not
      case launcher_kind::local:
        add("launcher", check_status::ok, "ray.launcher=local",
            std::to_string(s_.ray.localnodes) + " stub(s) on this machine (ray.localnodes)");
        return;
      case launcher_kind::srun: {
        bool ok = true;
        std::string srun = find_on_path("srun");
        if (srun.empty()) add("launcher", check_status::fail, "ray.launcher=srun", "srun is not on PATH"), ok = false;
        if (env_or_empty("SLURM_JOB_ID").empty())
          add("launcher", check_status::fail, "ray.launcher=srun", "SLURM_JOB_ID is not set: not inside an allocation"),
              ok = false;
        if (ok)
          add("launcher", check_status::ok, "ray.launcher=srun",
              srun + " inside allocation " + env_or_empty("SLURM_JOB_ID"));
        return;
      }
      case launcher_kind::ssh: {
        bool ok = true;
        if (s_.ray.sshhosts.empty())
          add("launcher", check_status::fail, "ray.sshhosts", "no hosts listed for the ssh launcher"), ok = false;
        if (!s_.ray.sshkey)
          add("launcher", check_status::fail, "ray.sshkey", "not set (the ssh launcher authenticates with a key)"),
              ok = false;
        else if (!readable_file(*s_.ray.sshkey))
          add("launcher", check_status::fail, "ray.sshkey=" + *s_.ray.sshkey, "is not a readable file"), ok = false;
        const std::string& known = s_.ray.sshknownhosts;
        std::error_code ec;
        if (!fs::exists(known, ec)) {
          if (s_.ray.sshacceptnew)
            add("launcher", check_status::warn, "ray.sshknownhosts=" + known,
                "does not exist yet; new host keys will be recorded (ray.sshacceptnew)");
          else
            add("launcher", check_status::fail, "ray.sshknownhosts=" + known,
                "does not exist and ray.sshacceptnew is false: no host could be verified"),
                ok = false;
        } else if (!readable_file(known)) {
          add("launcher", check_status::fail, "ray.sshknownhosts=" + known, "is not a readable file"), ok = false;
        }
        if (ok) {
          std::string hosts;
          for (const auto& h : s_.ray.sshhosts) hosts += (hosts.empty() ? "" : ",") + h;
          add("launcher", check_status::ok, "ray.launcher=ssh", "hosts " + hosts + ", key and known_hosts readable");
        }
        return;
      }
    }
  }

  // Binds the address for a moment: a taken port or an address this host does not have shows up here,
  // not as a warning in the middle of a batch job.
  void check_status_address() {
    const std::string key = "ray.statusaddress=" + s_.ray.statusaddress;
    auto a = parse_listen_address(s_.ray.statusaddress);
    if (!a) return add("status", check_status::fail, key, "is not HOST:PORT or off");
    if (!a->enabled) return add("status", check_status::ok, key, "no status endpoint");
    const int err = bind_error(a->host, a->port);
    if (err)
      add("status", check_status::warn, key,
          std::string("cannot listen there now: ") + std::strerror(err) + " (the run would go on without /status)");
    else
      add("status", check_status::ok, key,
          a->port == 0 ? "listens on " + a->host + ", a free port (written to status.url)"
                       : "listens on " + a->host + " port " + std::to_string(a->port));
  }

  void check_stub() {
    const std::string& stub = s_.ray.stubexecutable;
    std::error_code ec;
    if (!fs::is_regular_file(stub, ec))
      add("stub", check_status::fail, "ray.stubexecutable=" + stub, "does not exist");
    else if (::access(stub.c_str(), X_OK) != 0)
      add("stub", check_status::fail, "ray.stubexecutable=" + stub, "is not executable");
    else
      add("stub", check_status::ok, "ray.stubexecutable=" + stub, "executable");
  }

  void check_driver_log() {
    if (!s_.logging.driverlogfile) return;
    fs::path parent = fs::path(*s_.logging.driverlogfile).parent_path();
    if (parent.empty()) parent = ".";
    std::error_code ec;
    if (!fs::is_directory(parent, ec) || ::access(parent.c_str(), W_OK | X_OK) != 0)
      add("driverlogfile", check_status::fail, "logging.driverlogfile=" + *s_.logging.driverlogfile,
          "its directory does not exist or is not writable");
    else
      add("driverlogfile", check_status::ok, "logging.driverlogfile=" + *s_.logging.driverlogfile,
          "directory writable (the log is appended)");
  }

  const settings& s_;
  std::string queue_container_;  // the queue's container_type, once check_queuedata read it
  std::vector<check_result> results_;
};

boost::json::value to_json_value(const key_value& v) {
  struct visitor {
    boost::json::value operator()(std::monostate) const { return nullptr; }
    boost::json::value operator()(const std::string& s) const { return boost::json::string(s); }
    boost::json::value operator()(std::int64_t i) const { return i; }
    boost::json::value operator()(bool b) const { return b; }
    boost::json::value operator()(const std::vector<std::string>& list) const {
      boost::json::array a;
      for (const auto& s : list) a.emplace_back(boost::json::string(s));
      return a;
    }
  };
  return std::visit(visitor{}, v);
}

int report(const std::vector<check_result>& checks, const settings& s, bool json, std::ostream& out) {
  bool failed = false;
  for (const auto& c : checks) failed = failed || c.status == check_status::fail;
  if (json) {
    boost::json::array list;
    for (const auto& c : checks)
      list.push_back(boost::json::object{{"name", c.name}, {"status", to_string(c.status)}, {"detail", c.detail}});
    boost::json::object doc{{"checks", std::move(list)}, {"config", to_json(s)}};
    out << boost::json::serialize(doc) << "\n";
  } else {
    for (const auto& c : checks) out << format_check(c) << "\n";
  }
  return failed ? 1 : 0;
}

}  // namespace

std::vector<check_result> run_checks(const settings& s, const std::string& source_file,
                                     const std::vector<std::string>& notices) {
  return checker(s).run(source_file, notices);
}

int run_validation(const settings& s, bool json, std::ostream& out) { return report(run_checks(s), s, json, out); }

void report_load_failure_json(std::string_view message, std::ostream& out) {
  boost::json::array checks{boost::json::object{{"name", "config"}, {"status", "FAIL"}, {"detail", message}}};
  boost::json::object doc{{"checks", std::move(checks)}, {"config", nullptr}};
  out << boost::json::serialize(doc) << "\n";
}

int run_validation(const invocation& inv, std::ostream& out) {
  return report(run_checks(inv.config, inv.source_file, inv.notices), inv.config, inv.json, out);
}

boost::json::object to_json(const settings& s) {
  boost::json::object root;
  for (auto section : section_names()) root[section] = boost::json::object{};
  for (const auto& key : key_table()) {
    key_value v = key.get(s);
    auto* text = std::get_if<std::string>(&v);
    bool hidden = key.secret && text && !text->empty();
    root[key.section].as_object()[key.name] = hidden ? boost::json::value("(set)") : to_json_value(v);
  }
  // Not a YAML key: the node count given by --nodes / RAYTHENA_NODES, if any (docs/configuration.md).
  root["ray"].as_object()["nodes"] = s.ray.nodes ? boost::json::value(*s.ray.nodes) : boost::json::value(nullptr);
  return root;
}

}  // namespace rty::config
