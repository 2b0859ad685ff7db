#include "config/validate.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/file_util.hpp"
#include "config/address.hpp"
#include "config/keys.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/ini.hpp"
#include "pilot/time_monitor.hpp"

namespace rty::config {

namespace fs = std::filesystem;

std::string_view to_string(check_status s) {
  switch (s) {
    case check_status::ok: return "OK";
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
    writable_directory("workdir", "ray.workdir", s_.ray.workdir);
    if (!s_.ray.taskprogressbasedir)
      add("taskprogressbasedir", check_status::fail, "ray.taskprogressbasedir", "not set (the task output directory goes under it)");
    else
      writable_directory("taskprogressbasedir", "ray.taskprogressbasedir", *s_.ray.taskprogressbasedir);
    if (!s_.harvester.endpoint)
      add("endpoint", check_status::fail, "harvester.endpoint", "not set (Harvester's files are exchanged there)");
    else
      writable_directory("endpoint", "harvester.endpoint", *s_.harvester.endpoint);
    check_harvester_config();
    check_pilot_config();
    check_time_monitor();
    check_pilot_files();
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
      // Loader notices read "warning: <where>: <what>" / "notice: <where>: <what>".
      auto colon = n.find(": ");
      std::string body = colon == std::string::npos ? n : n.substr(colon + 2);
      auto split = body.find(": ");
      if (split == std::string::npos)
        add("config", check_status::warn, "config", body);
      else
        add("config", check_status::warn, body.substr(0, split), body.substr(split + 2));
    }
    if (!s_.payload.pandaqueue || s_.payload.pandaqueue->empty())
      add("config", check_status::fail, "payload.pandaqueue", "not set (pilot and the queuedata lookup need it)");
    if (!s_.payload.hpcresource)
      add("config", check_status::warn, "payload.hpcresource", "not set (pilot gets an empty --hpc-resource)");
  }

  void writable_directory(const std::string& name, const std::string& key, const std::string& path) {
    std::error_code ec;
    std::string subject = key + "=" + path;
    if (!fs::exists(path, ec))
      add(name, check_status::fail, subject, "does not exist");
    else if (!fs::is_directory(path, ec))
      add(name, check_status::fail, subject, "is not a directory");
    else if (::access(path.c_str(), W_OK | X_OK) != 0)
      add(name, check_status::fail, subject, "is not writable");
    else
      add(name, check_status::ok, subject, "writable directory");
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
      add("harvesterconf", check_status::fail, path, files.error());
    else
      add("harvesterconf", check_status::ok, path, "parses; [payload_interaction] has the keys we use");
    check_queuedata(*ini);
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
      add("queuedata", check_status::fail, *path, qd.error());
      return;
    }
    std::string engine = s_.payload.containerengine.value_or("");
    if (qd->container_type.empty() || qd->container_type == engine)
      add("queuedata", check_status::ok, *path,
          "parses; container_type '" + qd->container_type + "' agrees with payload.containerengine");
    else
      add("queuedata", check_status::warn, *path,
          "container_type '" + qd->container_type + "' differs from payload.containerengine '" + engine +
              "' (queuedata wins for merges)");
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
      add("timemonitor", check_status::warn, path, "absent: no walltime kill timer will run");
      return;
    }
    std::string what;
    auto text = rty::file::read_all(path, &what);
    if (!text) {
      add("timemonitor", check_status::fail, path, what);
      return;
    }
    auto parsed = rty::pilot::parse_time_monitor(*text);
    if (!parsed)
      add("timemonitor", check_status::fail, path, "does not parse: " + parsed.error());
    else
      add("timemonitor", check_status::ok, path,
          "parses; walltime limit " + std::to_string(parsed->limit_seconds) + " s");
  }

  void check_pilot_files() {
    std::error_code ec;
    const std::string& wrapper = s_.payload.pilotwrapper;
    if (!fs::exists(wrapper, ec))
      add("pilotwrapper", check_status::fail, "payload.pilotwrapper=" + wrapper, "does not exist");
    else if (!fs::is_regular_file(wrapper, ec) || ::access(wrapper.c_str(), X_OK) != 0)
      add("pilotwrapper", check_status::fail, "payload.pilotwrapper=" + wrapper, "is not an executable file");
    else
      add("pilotwrapper", check_status::ok, "payload.pilotwrapper=" + wrapper, "executable");
    const std::string& dir = s_.payload.pilotdir;
    if (!fs::is_directory(dir, ec))
      add("pilotdir", check_status::fail, "payload.pilotdir=" + dir, "is not an existing directory");
    else if (!fs::exists(fs::path(dir) / "pilot.py", ec))
      add("pilotdir", check_status::warn, "payload.pilotdir=" + dir, "has no pilot.py");
    else
      add("pilotdir", check_status::ok, "payload.pilotdir=" + dir, "directory with pilot.py");
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
    const bool v6 = a->host.find(':') != std::string::npos;
    int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0) {
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in in4{};
      sockaddr_in6 in6{};
      int rc;
      if (v6) {
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(static_cast<std::uint16_t>(a->port));
        ::inet_pton(AF_INET6, a->host.c_str(), &in6.sin6_addr);
        rc = ::bind(fd, reinterpret_cast<sockaddr*>(&in6), sizeof in6);
      } else {
        in4.sin_family = AF_INET;
        in4.sin_port = htons(static_cast<std::uint16_t>(a->port));
        ::inet_pton(AF_INET, a->host.c_str(), &in4.sin_addr);
        rc = ::bind(fd, reinterpret_cast<sockaddr*>(&in4), sizeof in4);
      }
      if (rc != 0) err = errno;
      ::close(fd);
    }
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

int run_validation(const invocation& inv, std::ostream& out) {
  return report(run_checks(inv.config, inv.source_file, inv.notices), inv.config, inv.json, out);
}

boost::json::object to_json(const settings& s) {
  boost::json::object root;
  for (auto section : section_names()) root[section] = boost::json::object{};
  for (const auto& key : key_table()) root[key.section].as_object()[key.name] = to_json_value(key.get(s));
  // Not a YAML key: the node count given by --nodes / RAYTHENA_NODES, if any.
  root["ray"].as_object()["nodes"] = s.ray.nodes ? boost::json::value(*s.ray.nodes) : boost::json::value(nullptr);
  return root;
}

}  // namespace rty::config
