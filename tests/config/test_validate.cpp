// Validation mode against a complete fake site tree: conf/demo.yaml validates clean, and breaking each
// item of the tree turns exactly its check into FAIL or WARN, naming it.
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include "common/atlas_paths.hpp"
#include "config/keys.hpp"
#include "config/loader.hpp"
#include "config/validate.hpp"
#include "test_support.hpp"

using namespace rty::config;
using rty_test::replace;

namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct demo_site {
  rty_test::temp_dir dir;
  rty_test::site_tree tree{dir.path()};
  rty_test::scoped_env demo{"RTY_DEMO_DIR", dir.path()};
  rty_test::scoped_env pilot{"HARVESTER_PILOT_CONFIG", tree.pilot_config};
  rty_test::scoped_env slurm{"SLURM_JOB_ID", std::nullopt};
  rty_test::scoped_env access_point{"HARVESTER_ACCESS_POINT", std::nullopt};
  std::string yaml = rty_test::read_file(std::string(RTY_SOURCE_DIR) + "/conf/demo.yaml");

  settings load(const std::string& text, std::vector<override_value> cli = {}) const {
    load_request r;
    r.config_path = "demo.yaml";
    r.executable_path = tree.executable;
    r.cli_overrides = std::move(cli);
    auto loaded = load_config_text(text, r);
    BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message()));
    return loaded->config;
  }
  std::vector<check_result> checks(std::vector<override_value> cli = {}) const { return checks_of(yaml, std::move(cli)); }
  std::vector<check_result> checks_of(const std::string& text, std::vector<override_value> cli = {}) const {
    return run_checks(load(text, std::move(cli)), "demo.yaml");
  }
};

// The worst status among the checks called `name`, and their details.
std::pair<check_status, std::string> status_of(const std::vector<check_result>& checks, const std::string& name) {
  check_status worst = check_status::ok;
  std::string details;
  bool found = false;
  for (const auto& c : checks) {
    if (c.name != name) continue;
    found = true;
    if (static_cast<int>(c.status) > static_cast<int>(worst)) worst = c.status;
    details += format_check(c) + "\n";
  }
  BOOST_TEST_REQUIRE(found, "no check named " << name);
  return {worst, details};
}

std::string all_lines(const std::vector<check_result>& checks) {
  std::string out;
  for (const auto& c : checks) out += format_check(c) + "\n";
  return out;
}

void expect(const std::vector<check_result>& checks, const std::string& name, check_status status,
            const std::string& mention) {
  auto [worst, details] = status_of(checks, name);
  BOOST_TEST((worst == status), name << " expected " << to_string(status) << ", got:\n" << all_lines(checks));
  BOOST_TEST(contains(details, mention), name << " should mention '" << mention << "':\n" << details);
}

override_value flag(std::string_view name, std::string text) { return {find_flag(name), std::move(text), "--test"}; }

}  // namespace

BOOST_AUTO_TEST_CASE(demo_config_validates_clean_on_a_complete_site_tree) {
  demo_site site;
  settings s = site.load(site.yaml);
  std::ostringstream out;
  int code = run_validation(s, false, out);
  BOOST_TEST(code == 0, out.str());
  BOOST_TEST(!contains(out.str(), "WARN"), out.str());
  BOOST_TEST(!contains(out.str(), "FAIL"), out.str());
  for (auto name : {"config", "workdir", "taskprogressbasedir", "endpoint", "headip", "harvesterconf", "queuedata",
                    "pilotconfig", "timemonitor", "pilotwrapper", "pilotdir", "launcher", "stub"})
    BOOST_TEST(contains(out.str(), std::string("OK ") + name + ": "), name);
  BOOST_TEST(contains(out.str(), "OK workdir: ray.workdir=" + site.tree.workdir + " \u2014 writable directory"));
}

BOOST_AUTO_TEST_CASE(json_report_holds_checks_and_the_resolved_config) {
  demo_site site;
  settings s = site.load(site.yaml);
  std::ostringstream out;
  BOOST_TEST(run_validation(s, true, out) == 0);
  auto doc = boost::json::parse(out.str()).as_object();
  auto& checks = doc.at("checks").as_array();
  BOOST_TEST(!checks.empty());
  for (const auto& c : checks) {
    BOOST_TEST(c.as_object().contains("name"));
    BOOST_TEST(c.at("status").as_string() == "OK");
    BOOST_TEST(c.as_object().contains("detail"));
  }
  auto& config = doc.at("config").as_object();
  BOOST_TEST(config.at("ray").at("workdir").as_string() == site.tree.workdir);  // expanded
  BOOST_TEST(config.at("ray").at("launcher").as_string() == "local");
  BOOST_TEST(config.at("ray").at("stubexecutable").as_string() == site.tree.stub);
  BOOST_TEST(config.at("payload").at("containerengine").as_string() == "none");
}

BOOST_AUTO_TEST_CASE(failures_give_exit_status_one) {
  demo_site site;
  fs::remove(site.tree.wrapper);
  std::ostringstream out;
  BOOST_TEST(run_validation(site.load(site.yaml), false, out) == 1);
  BOOST_TEST(contains(out.str(), "FAIL pilotwrapper: payload.pilotwrapper=" + site.tree.wrapper + " \u2014 does not exist"));
}

BOOST_AUTO_TEST_CASE(loader_notices_become_config_warnings) {
  demo_site site;
  invocation inv;
  inv.what = invocation::action::validate;
  inv.config = site.load(site.yaml);
  inv.source_file = "demo.yaml";
  inv.notices = {"warning: demo.yaml:3:3: unknown key 'ray.workdri' (did you mean 'ray.workdir'?); it is ignored",
                 "notice: demo.yaml:9:3: ray.redisport is ignored: meant something to Ray only"};
  std::ostringstream out;
  BOOST_TEST(run_validation(inv, out) == 0);
  BOOST_TEST(contains(out.str(), "WARN config: demo.yaml:3:3 \u2014 unknown key 'ray.workdri'"), out.str());
  // A Raythena key raythenad accepts and ignores is nothing to fix: a NOTE, not a WARN.
  BOOST_TEST(contains(out.str(), "NOTE config: demo.yaml:9:3 \u2014 ray.redisport is ignored"), out.str());
}

BOOST_AUTO_TEST_CASE(directories_missing_or_not_directories_fail) {
  {
    demo_site site;
    fs::remove_all(site.tree.workdir);
    auto checks = site.checks();
    expect(checks, "workdir", check_status::fail, "ray.workdir=" + site.tree.workdir + " \u2014 does not exist");
    expect(checks, "timemonitor", check_status::note, "absent");  // not in a Slurm job
  }
  {
    demo_site site;
    fs::remove_all(site.tree.taskprogress);
    rty_test::write_file(site.tree.taskprogress, "a file\n");
    expect(site.checks(), "taskprogressbasedir", check_status::fail, "is not a directory");
  }
  {
    demo_site site;
    auto checks = site.checks({flag("harvester-endpoint", site.dir / "no-endpoint")});
    expect(checks, "endpoint", check_status::fail, "harvester.endpoint=" + (site.dir / "no-endpoint"));
    expect(checks, "workdir", check_status::ok, "writable");
  }
  {
    demo_site site;
    expect(site.checks_of(replace(site.yaml, "taskprogressbasedir: ${RTY_DEMO_DIR}/taskprogress", "taskprogressbasedir:")),
           "taskprogressbasedir", check_status::fail, "not set");
  }
  {
    // A variable the login node lacks (the batch job's $SCRATCH): the path keeps it as written, and
    // the check says which variable is missing rather than only "does not exist".
    demo_site site;
    rty_test::scoped_env unset{"RTY_TEST_UNSET_SCRATCH", std::nullopt};
    auto checks = site.checks_of(replace(site.yaml, "taskprogressbasedir: ${RTY_DEMO_DIR}/taskprogress",
                                         "taskprogressbasedir: ${RTY_TEST_UNSET_SCRATCH}/taskprogress"));
    expect(checks, "taskprogressbasedir", check_status::fail,
           "does not exist ($RTY_TEST_UNSET_SCRATCH is not set in this environment)");
    // A set variable whose directory is missing gets no such note.
    fs::remove_all(site.tree.workdir);
    auto [worst, details] = status_of(site.checks(), "workdir");
    BOOST_TEST((worst == check_status::fail));
    BOOST_TEST(!contains(details, "is not set"), details);
  }
}

BOOST_AUTO_TEST_CASE(harvester_config_problems) {
  {
    demo_site site;
    fs::remove(site.tree.harvester_conf);
    expect(site.checks(), "harvesterconf", check_status::fail, "cannot be read");
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.harvester_conf, "[payload_interaction]\nthis line has no delimiter\n");
    expect(site.checks(), "harvesterconf", check_status::fail, "line 2");
  }
  {
    demo_site site;
    auto text = replace(rty_test::read_file(site.tree.harvester_conf), "jobReportFile = jobReport.json\n", "");
    rty_test::write_file(site.tree.harvester_conf, text);
    expect(site.checks(), "harvesterconf", check_status::fail, "jobReportFile");
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.harvester_conf, "[cacher]\ndata = x|y|z|/q.json\n");
    expect(site.checks(), "harvesterconf", check_status::fail, "payload_interaction");
  }
}

BOOST_AUTO_TEST_CASE(queuedata_problems) {
  {
    demo_site site;
    auto text = rty_test::read_file(site.tree.harvester_conf);
    rty_test::write_file(site.tree.harvester_conf, text.substr(0, text.find("[cacher]")));
    expect(site.checks(), "queuedata", check_status::warn, "no [cacher] section");
  }
  {
    demo_site site;
    auto checks = site.checks({flag("panda-queue", "OTHER_QUEUE")});
    expect(checks, "queuedata", check_status::warn, "no line for queue 'OTHER_QUEUE'");
  }
  {
    demo_site site;
    fs::remove(site.tree.queuedata);
    expect(site.checks(), "queuedata", check_status::fail, site.tree.queuedata);
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.queuedata, "{not json");
    expect(site.checks(), "queuedata", check_status::fail, site.tree.queuedata);
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.queuedata, R"({"container_type": "singularity:pilot", "container_options": ""})");
    expect(site.checks(), "queuedata", check_status::warn,
           "container_type 'singularity' differs from payload.containerengine 'none' (payload.containerengine none "
           "wins");
  }
}

BOOST_AUTO_TEST_CASE(pilot_config_problems) {
  {
    demo_site site;
    rty_test::scoped_env unset("HARVESTER_PILOT_CONFIG", std::nullopt);
    expect(site.checks(), "pilotconfig", check_status::fail, "HARVESTER_PILOT_CONFIG \u2014 not set");
  }
  {
    demo_site site;
    fs::remove(site.tree.pilot_config);
    expect(site.checks(), "pilotconfig", check_status::fail, site.tree.pilot_config);
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.pilot_config, "[Pilot]\npandaserver = 127.0.0.1:8080\n");
    expect(site.checks(), "pilotconfig", check_status::fail, "must be exactly 'http://127.0.0.1:8080'");
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.pilot_config, "[Pilot]\nhttp_maxtime = 120\n");
    expect(site.checks(), "pilotconfig", check_status::fail, "pandaserver is missing");
  }
  {
    demo_site site;  // the expected port follows payload.serverport
    expect(site.checks_of(replace(site.yaml, "serverport: 8080", "serverport: 8181")), "pilotconfig",
           check_status::fail, "http://127.0.0.1:8181");
  }
  {
    demo_site site;  // serverport 0: every stub rewrites pandaserver in its own copy, any value is fine
    rty_test::write_file(site.tree.pilot_config, "[Pilot]\npandaserver = https://pandaserver.cern.ch\n");
    expect(site.checks_of(replace(site.yaml, "serverport: 8080", "serverport: 0")), "pilotconfig",
           check_status::ok, "copy with pandaserver set to its own port");
  }
}

BOOST_AUTO_TEST_CASE(time_monitor_problems) {
  {
    demo_site site;
    fs::remove(site.tree.time_monitor);
    // On a login node the batch job has not written it yet: worth a note, nothing to fix.
    ::unsetenv("SLURM_JOB_ID");
    expect(site.checks(), "timemonitor", check_status::note, "not in a Slurm job: the batch job writes it");
    // Inside the allocation (raythenad.sbatch's own check) its absence means no kill timer.
    ::setenv("SLURM_JOB_ID", "4242", 1);
    auto in_job = site.checks();
    ::unsetenv("SLURM_JOB_ID");
    expect(in_job, "timemonitor", check_status::warn, "absent: no walltime kill timer will run");
  }
  {
    demo_site site;
    rty_test::write_file(site.tree.time_monitor, "noon\nforever\n");
    expect(site.checks(), "timemonitor", check_status::fail, "does not parse");
  }
}

BOOST_AUTO_TEST_CASE(pilot_wrapper_and_directory_problems) {
  {
    demo_site site;
    fs::permissions(site.tree.wrapper, fs::perms(0644));
    expect(site.checks(), "pilotwrapper", check_status::fail, "is not an executable file");
  }
  {
    demo_site site;
    fs::remove_all(site.tree.pilotdir);
    expect(site.checks(), "pilotdir", check_status::fail, "payload.pilotdir=" + site.tree.pilotdir);
  }
  {
    demo_site site;
    fs::remove(site.tree.pilotdir + "/pilot.py");
    expect(site.checks(), "pilotdir", check_status::warn, "has no pilot.py");
  }
  {
    demo_site site;
    fs::remove(site.tree.stub);
    expect(site.checks(), "stub", check_status::fail, "ray.stubexecutable=" + site.tree.stub);
  }
}

BOOST_AUTO_TEST_CASE(srun_launcher_needs_srun_and_an_allocation) {
  demo_site site;
  rty_test::temp_dir bin;
  {
    rty_test::scoped_env path("PATH", bin.path());
    auto checks = site.checks({flag("launcher", "srun")});
    expect(checks, "launcher", check_status::fail, "srun is not on PATH");
    expect(checks, "launcher", check_status::fail, "SLURM_JOB_ID is not set");
  }
  rty_test::write_file(bin / "srun", "#!/bin/sh\n", fs::perms(0755));
  rty_test::scoped_env path("PATH", bin.path());
  rty_test::scoped_env job("SLURM_JOB_ID", "42");
  expect(site.checks({flag("launcher", "srun")}), "launcher", check_status::ok, "inside allocation 42");
}

BOOST_AUTO_TEST_CASE(ssh_launcher_needs_hosts_a_key_and_known_hosts) {
  demo_site site;
  std::string key = site.dir / "id_test";
  std::string known = site.dir / "known_hosts";
  std::string ssh = replace(site.yaml, "launcher: local",
                            "launcher: ssh\n  sshhosts: HOSTS\n  sshkey: " + key + "\n  sshknownhosts: " + known +
                                "\n  sshacceptnew: ACCEPT");
  auto with = [&](const std::string& hosts, const std::string& accept) {
    return site.checks_of(replace(replace(ssh, "HOSTS", hosts), "ACCEPT", accept));
  };
  expect(with("", "false"), "launcher", check_status::fail, "no hosts listed");
  expect(with("n1", "false"), "launcher", check_status::fail, "ray.sshkey=" + key + " \u2014 is not a readable file");
  rty_test::write_file(key, "PRIVATE KEY\n", fs::perms(0600));
  expect(with("n1", "false"), "launcher", check_status::fail, "ray.sshacceptnew is false");
  expect(with("n1", "true"), "launcher", check_status::warn, "new host keys will be recorded");
  rty_test::write_file(known, "n1 ssh-ed25519 AAAA\n");
  expect(with("n1,n2", "false"), "launcher", check_status::ok, "hosts n1,n2");
  expect(site.checks_of(replace(replace(replace(ssh, "  sshkey: " + key + "\n", ""), "HOSTS", "n1"), "ACCEPT", "no")),
         "launcher", check_status::fail,
         "ray.sshkey \u2014 not set");
}

BOOST_AUTO_TEST_CASE(driver_log_directory_must_be_writable) {
  demo_site site;
  expect(site.checks_of(replace(site.yaml, "driverlogfile:", "driverlogfile: ${RTY_DEMO_DIR}/nowhere/driver.log")),
         "driverlogfile", check_status::fail, "does not exist or is not writable");
  expect(site.checks_of(replace(site.yaml, "driverlogfile:", "driverlogfile: ${RTY_DEMO_DIR}/driver.log")),
         "driverlogfile", check_status::ok, "appended");
}

BOOST_AUTO_TEST_CASE(status_address_is_tried_before_the_run) {
  demo_site site;
  expect(site.checks(), "status", check_status::ok, "listens on 127.0.0.1, a free port");
  expect(site.checks({flag("status-address", "off")}), "status", check_status::ok, "no status endpoint");
  // A port someone already listens on: a warning (the run would go on without /status), naming the key.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  BOOST_TEST_REQUIRE(fd >= 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof in;
  BOOST_TEST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
  BOOST_TEST_REQUIRE(::listen(fd, 1) == 0);
  BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&in), &len) == 0);
  const std::string taken = "127.0.0.1:" + std::to_string(ntohs(in.sin_port));
  expect(site.checks({flag("status-address", taken)}), "status", check_status::warn,
         "ray.statusaddress=" + taken);
  expect(site.checks({flag("status-address", taken)}), "status", check_status::warn,
         "cannot listen there now: Address already in use");
  ::close(fd);
  // 192.0.2.1 (TEST-NET-1) is an address this host does not have.
  expect(site.checks({flag("status-address", "192.0.2.1:0")}), "status", check_status::warn,
         "Cannot assign requested address");
}

BOOST_AUTO_TEST_CASE(head_ip_must_be_one_address_of_this_host) {
  demo_site site;
  expect(site.checks(), "headip", check_status::ok, "not set: raythenad listens for stubs on 127.0.0.1");
  expect(site.checks({flag("ray-head-ip", "127.0.0.1")}), "headip", check_status::ok,
         "ray.headip=127.0.0.1 \u2014 an address of this host");
  auto name = site.checks({flag("ray-head-ip", "localhost")});  // 127.0.0.1 or ::1, as this host's resolver says
  expect(name, "headip", check_status::ok, "a name that resolves to ");
  expect(name, "headip", check_status::ok, ", an address of this host");
  // Cori's `hostname -i`: one address per interface.
  auto two = site.checks({flag("ray-head-ip", "10.128.0.7 192.168.1.7")});
  expect(two, "headip", check_status::fail, "ray.headip=10.128.0.7 192.168.1.7 \u2014 is several space-separated");
  expect(two, "headip", check_status::fail, "--ray-head-ip 10.128.0.7");
  expect(site.checks({flag("ray-head-ip", "no-such-host.invalid")}), "headip", check_status::fail,
         "is neither an address nor a name that resolves");
  // 192.0.2.1 (TEST-NET-1): an address, but not one of this host.
  expect(site.checks({flag("ray-head-ip", "192.0.2.1")}), "headip", check_status::fail,
         "cannot listen on it here: Cannot assign requested address");
  // Loopback with stubs on other nodes: they could not connect.
  auto ssh = site.checks({flag("ray-head-ip", "127.0.0.1"), flag("launcher", "ssh")});
  expect(ssh, "headip", check_status::warn, "stubs on other nodes cannot reach it");
  std::ostringstream out;
  BOOST_TEST(run_validation(site.load(site.yaml, {flag("ray-head-ip", "10.0.0.1 10.0.0.2")}), false, out) == 1);
}

BOOST_AUTO_TEST_CASE(endpoint_is_checked_as_the_run_will_use_it) {
  {
    demo_site site;
    auto [status, details] = status_of(site.checks(), "endpoint");
    BOOST_TEST((status == check_status::ok), details);
    BOOST_TEST(contains(details, "writable directory (mode 0"), details);
    BOOST_TEST(contains(details, "not writable by others"), details);
  }
  {
    demo_site site;
    const std::string ep = site.load(site.yaml).harvester.endpoint.value();
    fs::permissions(ep, fs::perms::others_write, fs::perm_options::add);
    auto checks = site.checks();
    expect(checks, "endpoint", check_status::fail, "harvester.endpoint=" + ep + " \u2014 is writable by other users");
    expect(checks, "endpoint", check_status::fail, "chmod o-w " + ep);
  }
  {
    demo_site site;
    const std::string ep = site.load(site.yaml).harvester.endpoint.value();
    fs::permissions(ep, fs::perms::owner_write, fs::perm_options::remove);
    if (::access(ep.c_str(), W_OK) != 0)  // root writes anyway
      expect(site.checks(), "endpoint", check_status::fail, "is not writable");
  }
  {
    demo_site site;
    const std::string ep = site.load(site.yaml).harvester.endpoint.value();
    rty_test::scoped_env same{"HARVESTER_ACCESS_POINT", ep};
    expect(site.checks(), "endpoint", check_status::ok, "harvester.endpoint=" + ep + " (HARVESTER_ACCESS_POINT)");
    rty_test::scoped_env other{"HARVESTER_ACCESS_POINT", site.dir / "elsewhere"};
    auto by_hand = site.checks();
    // raythenad.sbatch would make the access point the endpoint: that directory is checked too (it is
    // missing here: the worst endpoint line is its FAIL), beside the YAML one (OK).
    expect(by_hand, "endpoint", check_status::fail,
           "HARVESTER_ACCESS_POINT=" + (site.dir / "elsewhere") + " \u2014 does not exist");
    auto details = status_of(by_hand, "endpoint").second;
    BOOST_TEST(contains(details, "WARN endpoint: harvester.endpoint=" + ep + " \u2014 differs from HARVESTER_ACCESS_POINT="),
               details);
    BOOST_TEST(contains(details, "raythenad.sbatch makes that one the endpoint"), details);
    BOOST_TEST(contains(details, "OK endpoint: harvester.endpoint=" + ep + " \u2014 writable directory"), details);
    fs::create_directories(site.dir / "elsewhere");
    fs::permissions(site.dir / "elsewhere", fs::perms::others_write, fs::perm_options::remove);
    expect(site.checks(), "endpoint", check_status::warn, "both are checked");
    rty_test::scoped_env missing{"HARVESTER_ACCESS_POINT", site.dir / "access"};
    expect(site.checks_of(replace(site.yaml, "endpoint: ${RTY_DEMO_DIR}/workdir", "endpoint:")), "endpoint",
           check_status::fail, "HARVESTER_ACCESS_POINT=" + (site.dir / "access") + " is read only by raythenad.sbatch");
  }
}

BOOST_AUTO_TEST_CASE(unset_queue_fails_the_config_check) {
  demo_site site;
  expect(site.checks_of(replace(site.yaml, "pandaqueue: DEMO_QUEUE", "pandaqueue:")), "config", check_status::fail,
         "payload.pandaqueue");
}

BOOST_AUTO_TEST_CASE(shipped_examples_load) {
  // ssh-debug.yaml and slurm-site.yaml must at least load (their trees are sites, not this machine).
  rty_test::scoped_env scratch("SCRATCH", "/scratch");
  for (auto name : {"ssh-debug.yaml", "slurm-site.yaml", "demo.yaml"}) {
    load_request r;
    r.config_path = std::string(RTY_SOURCE_DIR) + "/conf/" + name;
    auto loaded = load_config(r);
    BOOST_TEST(loaded.has_value(), name << ": " << (loaded ? std::string() : loaded.error().message()));
    if (loaded) BOOST_TEST(loaded->notices.empty(), name << " has notices");
  }
}

BOOST_AUTO_TEST_CASE(merge_prerequisites_are_checked) {
  // The operator's trial: --validate passed, then every merge failed on ALRB's missing setup script.
  {
    demo_site site;  // the demo runs merges without a container
    expect(site.checks(), "merge", check_status::ok, "payload.containerengine=none");
  }
  {
    demo_site site;  // a container engine from the YAML, none from the queue: ALRB must be there
    rty_test::write_file(site.tree.queuedata, R"({"container_type": "", "container_options": ""})");
    auto checks = site.checks_of(replace(site.yaml, "containerengine: none", "containerengine: singularity"));
    if (fs::exists(std::string(rty::default_alrb_root) + "/user/atlasLocalSetup.sh"))
      expect(checks, "merge", check_status::ok, "atlasLocalSetup.sh is there");
    else
      expect(checks, "merge", check_status::fail, "atlasLocalSetup.sh is not there: every merge would fail");
  }
  {
    demo_site site;  // the queue's container_type decides when the YAML names an engine
    rty_test::write_file(site.tree.queuedata, R"({"container_type": "singularity:pilot", "container_options": ""})");
    auto checks = site.checks_of(replace(site.yaml, "containerengine: none", "containerengine: apptainer"));
    auto [worst, details] = status_of(checks, "merge");
    BOOST_TEST(contains(details, "queuedata container_type=singularity"), details);
  }
  {
    demo_site site;  // ... but payload.containerengine none wins, and the queuedata line says so
    rty_test::write_file(site.tree.queuedata, R"({"container_type": "singularity", "container_options": ""})");
    auto checks = site.checks();
    expect(checks, "merge", check_status::ok, "payload.containerengine=none");
    expect(checks, "queuedata", check_status::warn, "payload.containerengine none wins");
  }
}
