#pragma once
// Helpers shared by the config tests: temporary directories, scoped environment variables, and a
// complete fake site tree matching conf/demo.yaml (the same tree as make_site_tree.py).
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace rty_test {

namespace fs = std::filesystem;

class temp_dir {
 public:
  temp_dir() {
    std::string pattern = (fs::temp_directory_path() / "rty-config-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~temp_dir() {
    std::error_code ec;
    // Restore permissions a test may have removed so the tree can be deleted.
    for (auto it = fs::recursive_directory_iterator(path_, ec); it != fs::recursive_directory_iterator(); ++it)
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return (fs::path(path_) / rel).string(); }

 private:
  std::string path_;
};

// Sets (or unsets, with nullopt) a variable for the scope and restores the previous value.
class scoped_env {
 public:
  scoped_env(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~scoped_env() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  scoped_env(const scoped_env&) = delete;
  scoped_env& operator=(const scoped_env&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

inline void write_file(const std::string& path, const std::string& text, fs::perms mode = fs::perms(0644)) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(path, mode);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream o;
  o << in.rdbuf();
  return o.str();
}

// Replaces the first occurrence of `from` (which must exist) by `to`.
inline std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  if (pos == std::string::npos) throw std::runtime_error("test text lacks: " + from);
  return text.replace(pos, from.size(), to);
}

inline std::string harvester_cfg(const std::string& queuedata_line) {
  return "# fake Harvester configuration\n"
         "[payload_interaction]\n"
         "jobSpecFile = HPCJobs.json\n"
         "jobRequestFile = worker_requestjob.json\n"
         "eventRangesFile = JobsEventRanges.json\n"
         "eventRequestFile = worker_requestevents.json\n"
         "eventStatusDumpJsonFile = event_status.dump.json\n"
         "jobReportFile = jobReport.json\n"
         "xmlPoolCatalogFile = PoolFileCatalog_H.xml\n\n"
         "[cacher]\n"
         "data =\n"
         "    " + queuedata_line + "\n";
}

// The tree conf/demo.yaml expects under ${RTY_DEMO_DIR}; returns the file names tests break.
struct site_tree {
  explicit site_tree(const std::string& root) : root(root) {
    for (auto sub : {"workdir", "taskprogress", "harvester", "pilot/pilot3", "bin"}) fs::create_directories(root + "/" + sub);
    write_file(queuedata, "{\"container_type\": \"none\", \"container_options\": \"\"}\n");
    write_file(harvester_conf, harvester_cfg("DEMO_QUEUE|pandaQueues|http://127.0.0.1/none|" + queuedata));
    write_file(pilot_config, "[Pilot]\npandaserver = http://127.0.0.1:8080\nhttp_maxtime = 120\n");
    write_file(time_monitor, "12:00:00\n02:00:00\n");
    write_file(wrapper, "#!/bin/sh\nexit 0\n", fs::perms(0755));
    write_file(pilotdir + "/pilot.py", "# stand-in\n");
    write_file(stub, "#!/bin/sh\nexit 0\n", fs::perms(0755));
  }
  std::string root;
  std::string workdir = root + "/workdir";
  std::string taskprogress = root + "/taskprogress";
  std::string harvester_conf = root + "/harvester/panda_harvester.cfg";
  std::string queuedata = root + "/harvester/DEMO_QUEUE_queuedata.json";
  std::string pilot_config = root + "/pilot/default.cfg";
  std::string time_monitor = root + "/workdir/jobtimeout.txt";
  std::string wrapper = root + "/pilot/runpilot2-wrapper.sh";
  std::string pilotdir = root + "/pilot/pilot3";
  std::string stub = root + "/bin/raythena-stub";
  std::string executable = root + "/bin/raythenad";  // pretend raythenad lives here: the stub default is beside it
};

// A complete Raythena-layout config (every required key), used as the base of loader tests.
inline std::string base_yaml() {
  return R"(payload:
  pandaqueue: TEST_QUEUE
  logfilename: log.pilotwrapper
  extrasetup:
  hpcresource: test
  extrapostpayload:
  containerengine: singularity
  containerextraargs:
  containerextrasetup:
  pilotkillfile: pilot_kill_payload
  pilotkilltime: 900
  pilotversion: 3.2.2.22
  timemonitorfile: jobtimeout.txt

harvester:
  endpoint: /data/endpoint
  harvesterconf: /data/panda_harvester.cfg

ray:
  headip:
  redisport:
  redispassword:
  workdir: /data/workdir
  taskprogressbasedir: /data/tasks
  cachesizefactor: 4
  timeoutinterval: 600
  mergemaxprocesses: 64

resources:
  corepernode: 128

logging:
  level: info
  driverlogfile:
  workerlogfile:
  copyraylogs: false
)";
}

}  // namespace rty_test
