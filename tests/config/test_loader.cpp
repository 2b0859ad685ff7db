// Loading: YAML types and positions, required keys, unknown keys, precedence, expansion, defaults.
#define BOOST_TEST_MODULE config
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "config/keys.hpp"
#include "config/loader.hpp"
#include "config/validate.hpp"
#include "pilot/pilot_tree.hpp"
#include "test_support.hpp"

using namespace rty::config;
using rty_test::base_yaml;
using rty_test::replace;

namespace {

load_request request(const std::string& path = "site.yaml") {
  load_request r;
  r.config_path = path;
  r.executable_path = "/opt/raythenad/bin/raythenad";
  return r;
}

override_value flag_override(std::string_view flag, std::string text, std::string origin) {
  const key_spec* key = find_flag(flag);
  BOOST_REQUIRE(key);
  return {key, std::move(text), std::move(origin)};
}

settings load_ok(const std::string& yaml, const load_request& r = request()) {
  auto loaded = load_config_text(yaml, r);
  BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message()));
  return loaded->config;
}

std::string load_error(const std::string& yaml, const load_request& r = request()) {
  auto loaded = load_config_text(yaml, r);
  BOOST_REQUIRE_MESSAGE(!loaded, "expected the load to fail");
  return loaded.error().message();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(complete_raythena_config_loads_with_types_and_defaults) {
  settings s = load_ok(base_yaml());
  BOOST_TEST(*s.payload.pandaqueue == "TEST_QUEUE");
  BOOST_TEST(s.payload.logfilename == "log.pilotwrapper");
  BOOST_TEST(!s.payload.extrasetup);
  BOOST_TEST(s.payload.pilotkilltime.count() == 900);
  BOOST_TEST(s.ray.cachesizefactor == 4);
  BOOST_TEST(s.resources.corepernode == 128);
  BOOST_TEST(!s.logging.copyraylogs);
  BOOST_TEST(!s.ray.redisport);
  // raythenad's keys take their defaults
  BOOST_TEST(s.payload.pilotwrapper == "/cvmfs/atlas.cern.ch/repo/sw/PandaPilotWrapper/latest/runpilot2-wrapper.sh");
  BOOST_TEST(s.payload.pilotwrapper_from == "default");
  BOOST_TEST(s.payload.pilotdir == "/cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot3/3.2.2.22");
  BOOST_TEST(s.payload.serverport == 8080);
  BOOST_TEST(s.ray.localnodes == 2);
  BOOST_TEST(s.ray.checkpointinterval.count() == 60);
  BOOST_TEST(s.ray.statusinterval.count() == 60);
  BOOST_TEST(s.ray.heartbeattimeout.count() == 60);
  BOOST_TEST(s.ray.stubgrace.count() == 30);
  BOOST_TEST(s.ray.maxrangeattempts == 3);
  BOOST_TEST(s.ray.mergeretries == 2);
  BOOST_TEST(s.harvester.timeout.count() == 0);
  BOOST_TEST((s.harvester.eventsource == event_source::local));
  BOOST_TEST(!s.ray.sshacceptnew);
  BOOST_TEST(s.ray.sshhosts.empty());
  BOOST_TEST(s.ray.stubexecutable == "/opt/raythenad/bin/raythena-stub");
}

BOOST_AUTO_TEST_CASE(upstream_cori_yaml_loads_unchanged_with_scratch_expanded) {
  rty_test::scoped_env scratch("SCRATCH", "/global/cscratch1/sd/user");
  auto loaded = load_config(request(std::string(RTY_SOURCE_DIR) + "/tests/config/fixtures/cori.yaml"));
  BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message()));
  const settings& s = loaded->config;
  BOOST_TEST(*s.payload.pandaqueue == "NERSC_Cori_p2_ES_Test");
  BOOST_TEST(*s.payload.containerengine == "shifter");
  BOOST_TEST(s.payload.pilotversion == "3.2.2.22");
  BOOST_TEST(s.payload.pilotkilltime.count() == 900);
  BOOST_TEST(s.payload.timemonitorfile == "jobtimeout.txt");
  BOOST_TEST(s.ray.workdir == "/global/cscratch1/sd/user/raythena/workdir");
  BOOST_TEST(*s.ray.taskprogressbasedir == "/global/cscratch1/sd/user");
  BOOST_TEST(*s.harvester.endpoint == "/global/cscratch1/sd/user/harvester/var/lib/workdir/panda");
  BOOST_TEST(s.ray.mergemaxprocesses == 64);
  BOOST_TEST(s.resources.corepernode == 128);
  BOOST_TEST(s.logging.level == "debug");
  // extrasetup is a shell fragment: its $LD_LIBRARY_PATH is for the shell, not for us
  BOOST_TEST(contains(*s.payload.extrasetup, "$LD_LIBRARY_PATH"));
  // harvester.cacher is accepted (no unknown-key warning) and reported as ignored
  BOOST_REQUIRE(loaded->notices.size() == 1u);
  BOOST_TEST(contains(loaded->notices[0], "harvester.cacher is ignored"));
}

BOOST_AUTO_TEST_CASE(missing_file_is_reported_like_raythena) {
  auto loaded = load_config(request("/nonexistent/raythena.yaml"));
  BOOST_REQUIRE(!loaded);
  BOOST_TEST(contains(loaded.error().message(), "Could not find config file /nonexistent/raythena.yaml"));
  auto none = load_config(request(""));
  BOOST_REQUIRE(!none);
  BOOST_TEST(contains(none.error().message(), "--config"));
}

BOOST_AUTO_TEST_CASE(malformed_yaml_names_file_line_and_column) {
  std::string yaml = "payload:\n  pandaqueue: [unclosed\nray:\n";
  std::string e = load_error(yaml, request("bad.yaml"));
  BOOST_TEST(contains(e, "bad.yaml:"));
  BOOST_TEST(contains(e, "malformed YAML"));
  // the position is line:column, both 1-based
  BOOST_TEST(e.find("bad.yaml:0:") == std::string::npos);
  auto top = load_error("- a\n- b\n", request("list.yaml"));
  BOOST_TEST(contains(top, "list.yaml:1:1: the file must be a mapping of sections"));
}

BOOST_AUTO_TEST_CASE(wrong_types_name_position_key_value_and_expectation) {
  std::string yaml = replace(base_yaml(), "pilotkilltime: 900", "pilotkilltime: soon");
  yaml = replace(yaml, "copyraylogs: false", "copyraylogs: maybe");
  yaml = replace(yaml, "pandaqueue: TEST_QUEUE", "pandaqueue: [A, B]");
  yaml = replace(yaml, "corepernode: 128", "corepernode: 0");
  std::string e = load_error(yaml, request("types.yaml"));
  BOOST_TEST(contains(e, "types.yaml:11:18: payload.pilotkilltime: bad value 'soon'; expected a whole number of seconds >= 0"));
  BOOST_TEST(contains(e, "types.yaml:36:16: logging.copyraylogs: bad value 'maybe'; expected true or false"));
  BOOST_TEST(contains(e, "types.yaml:2:15: payload.pandaqueue: bad value a list; expected a string"));
  BOOST_TEST(contains(e, "resources.corepernode: bad value '0'; expected an integer >= 1"));
}

BOOST_AUTO_TEST_CASE(range_and_choice_errors) {
  std::string yaml = base_yaml() + "";
  yaml = replace(yaml, "timemonitorfile: jobtimeout.txt", "timemonitorfile: jobtimeout.txt\n  serverport: 70000");
  yaml = replace(yaml, "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  launcher: rocket");
  yaml = replace(yaml, "level: info", "level: loud");
  std::string e = load_error(yaml);
  BOOST_TEST(contains(e, "payload.serverport: bad value '70000'; expected an integer between 0 and 65535"));
  BOOST_TEST(contains(e, "ray.launcher: bad value 'rocket'; expected one of auto, local, srun or ssh"));
  BOOST_TEST(contains(e, "logging.level: bad value 'loud'"));
}

BOOST_AUTO_TEST_CASE(walltime_percentile_and_remote_merges) {
  settings d = load_ok(base_yaml());
  BOOST_TEST(d.ray.walltimepercentile == 90);
  BOOST_TEST(d.ray.remotemerges);
  settings s = load_ok(replace(base_yaml(), "mergemaxprocesses: 64",
                               "mergemaxprocesses: 64\n  walltimepercentile: 100\n  remotemerges: false"));
  BOOST_TEST(s.ray.walltimepercentile == 100);
  BOOST_TEST(!s.ray.remotemerges);
  for (const char* bad : {"0", "101", "0.9"}) {
    std::string e = load_error(
        replace(base_yaml(), "mergemaxprocesses: 64", std::string("mergemaxprocesses: 64\n  walltimepercentile: ") + bad));
    BOOST_TEST(contains(e, std::string("ray.walltimepercentile: bad value '") + bad +
                               "'; expected an integer between 1 and 100"),
               e);
  }
}

BOOST_AUTO_TEST_CASE(all_missing_required_keys_are_reported_at_once) {
  std::string yaml = replace(base_yaml(), "  hpcresource: test\n", "");
  yaml = replace(yaml, "  pilotversion: 3.2.2.22\n", "");
  yaml = replace(yaml, "  headip:\n", "");
  yaml = replace(yaml, "resources:\n  corepernode: 128\n", "");
  std::string e = load_error(yaml, request("missing.yaml"));
  BOOST_TEST(contains(e, "Params payload.hpcresource, payload.pilotversion not found in conf section 'payload'"));
  BOOST_TEST(contains(e, "Param ray.headip not found in conf section 'ray'"));
  BOOST_TEST(contains(e, "Malformed configuration file: section 'resources' not found"));
  // a null section is a missing section, as in Raythena
  std::string null_section = replace(base_yaml(), "resources:\n  corepernode: 128\n", "resources:\n");
  BOOST_TEST(contains(load_error(null_section), "section 'resources' not found (it is empty)"));
  // a required key present with a null value is fine: the default applies
  settings s = load_ok(replace(base_yaml(), "pilotkilltime: 900", "pilotkilltime:"));
  BOOST_TEST(s.payload.pilotkilltime.count() == 600);
}

BOOST_AUTO_TEST_CASE(empty_values_mean_defaults) {
  std::string yaml = replace(base_yaml(), "logfilename: log.pilotwrapper", "logfilename:");
  yaml = replace(yaml, "pilotversion: 3.2.2.22", "pilotversion: \"\"");
  yaml = replace(yaml, "cachesizefactor: 4", "cachesizefactor: ~");
  yaml = replace(yaml, "corepernode: 128", "corepernode: null");
  settings s = load_ok(yaml);
  BOOST_TEST(s.payload.logfilename == "wrapper");
  BOOST_TEST(s.payload.pilotversion == "latest");
  BOOST_TEST(s.payload.pilotdir == "/cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot3/latest");
  BOOST_TEST(s.ray.cachesizefactor == 3);
  BOOST_TEST(s.resources.corepernode >= 1);
}

BOOST_AUTO_TEST_CASE(empty_workdir_is_the_current_directory) {
  settings s = load_ok(replace(base_yaml(), "workdir: /data/workdir", "workdir:"));
  BOOST_TEST(s.ray.workdir == std::filesystem::current_path().string());
}

BOOST_AUTO_TEST_CASE(unknown_keys_and_sections_warn_with_the_nearest_known_name) {
  std::string yaml = replace(base_yaml(), "workdir: /data/workdir", "workdri: /data/workdir\n  workdir: /w");
  yaml = replace(yaml, "timemonitorfile: jobtimeout.txt", "timemonitorfile: jobtimeout.txt\n  sshhosts: a");
  yaml += "payloads:\n  x: 1\n";
  auto loaded = load_config_text(yaml, request("unknown.yaml"));
  BOOST_REQUIRE(loaded);
  std::string all;
  for (const auto& n : loaded->notices) all += n + "\n";
  BOOST_TEST(contains(all, "warning: unknown.yaml:24:3: unknown key 'ray.workdri' (did you mean 'ray.workdir'?)"));
  BOOST_TEST(contains(all, "unknown key 'payload.sshhosts' (did you mean 'ray.sshhosts'?)"));
  BOOST_TEST(contains(all, "unknown section 'payloads' (did you mean 'payload'?)"));
  BOOST_TEST(loaded->config.ray.workdir == "/w");
}

BOOST_AUTO_TEST_CASE(ray_redis_keys_are_accepted_and_reported_as_ignored) {
  std::string yaml = replace(base_yaml(), "redisport:", "redisport: 6379");
  yaml = replace(yaml, "redispassword:", "redispassword: secret");
  auto loaded = load_config_text(yaml, request("redis.yaml"));
  BOOST_REQUIRE(loaded);
  BOOST_REQUIRE(loaded->notices.size() == 2u);
  BOOST_TEST(contains(loaded->notices[0], "notice: redis.yaml:21:3: ray.redisport is ignored"));
  BOOST_TEST(contains(loaded->notices[1], "ray.redispassword is ignored"));
  // null values are not worth a notice, nor is an ignored switch left off (base_yaml has copyraylogs: false)
  BOOST_TEST(load_config_text(base_yaml(), request())->notices.empty());
  auto copying = load_config_text(replace(base_yaml(), "copyraylogs: false", "copyraylogs: true"), request("c.yaml"));
  BOOST_REQUIRE(copying);
  BOOST_REQUIRE(copying->notices.size() == 1u);
  BOOST_TEST(contains(copying->notices[0], "logging.copyraylogs is ignored: there are no Ray logs"));
}

BOOST_AUTO_TEST_CASE(precedence_is_cli_over_env_over_file) {
  load_request r = request();
  r.env_overrides = {flag_override("ray-workdir", "/env/workdir", "RAYTHENA_RAY_WORKDIR"),
                     flag_override("panda-queue", "ENV_QUEUE", "RAYTHENA_PANDA_QUEUE"),
                     flag_override("core-per-node", "16", "RAYTHENA_CORE_PER_NODE")};
  r.cli_overrides = {flag_override("ray-workdir", "/cli/workdir", "--ray-workdir")};
  settings s = load_ok(base_yaml(), r);
  BOOST_TEST(s.ray.workdir == "/cli/workdir");        // CLI beats env and file
  BOOST_TEST(*s.payload.pandaqueue == "ENV_QUEUE");    // env beats file
  BOOST_TEST(s.resources.corepernode == 16);
  BOOST_TEST(*s.harvester.endpoint == "/data/endpoint");  // file when nobody overrides
}

BOOST_AUTO_TEST_CASE(overrides_apply_before_validation) {
  // The file misses nothing but has a bad value; a valid override fixes it (Raythena validated first).
  std::string yaml = replace(base_yaml(), "pandaqueue: TEST_QUEUE", "pandaqueue:");
  load_request r = request();
  r.cli_overrides = {flag_override("panda-queue", "CLI_QUEUE", "--panda-queue")};
  BOOST_TEST(*load_ok(yaml, r).payload.pandaqueue == "CLI_QUEUE");
  // and a bad override is reported with its origin, the key, the value and what was expected
  r.cli_overrides = {flag_override("core-per-node", "many", "--core-per-node")};
  BOOST_TEST(contains(load_error(base_yaml(), r),
                      "--core-per-node: bad value 'many' for resources.corepernode; expected an integer >= 1"));
  r.cli_overrides = {flag_override("launcher", "rsh", "RAYTHENA_LAUNCHER")};
  BOOST_TEST(contains(load_error(base_yaml(), r), "RAYTHENA_LAUNCHER: bad value 'rsh' for ray.launcher"));
}

BOOST_AUTO_TEST_CASE(each_flag_guards_itself_including_the_redis_password) {
  std::string yaml = replace(base_yaml(), "redispassword:", "redispassword: from-file");
  load_request r = request();
  // Raythena set the password only when the *port* was given; here the password flag alone sets it...
  r.cli_overrides = {flag_override("ray-redis-password", "from-cli", "--ray-redis-password")};
  BOOST_TEST(*load_ok(yaml, r).ray.redispassword == "from-cli");
  // ...and the port flag alone leaves the password alone (Raythena overwrote it with None).
  r.cli_overrides = {flag_override("ray-redis-port", "6380", "--ray-redis-port")};
  settings s = load_ok(yaml, r);
  BOOST_TEST(*s.ray.redispassword == "from-file");
  BOOST_TEST(*s.ray.redisport == 6380);
  // An empty value overrides nothing.
  r.cli_overrides = {};
  r.env_overrides = {flag_override("ray-workdir", "", "RAYTHENA_RAY_WORKDIR")};
  BOOST_TEST(load_ok(base_yaml(), r).ray.workdir == "/data/workdir");
}

BOOST_AUTO_TEST_CASE(debug_switch_from_flag_and_environment) {
  load_request r = request();
  r.cli_overrides = {flag_override("debug", "true", "--debug")};
  BOOST_TEST(load_ok(base_yaml(), r).logging.level == "debug");
  r.cli_overrides = {};
  r.env_overrides = {flag_override("debug", "0", "RAYTHENA_DEBUG")};
  BOOST_TEST(load_ok(base_yaml(), r).logging.level == "info");
  r.env_overrides = {flag_override("debug", "yes", "RAYTHENA_DEBUG")};
  BOOST_TEST(load_ok(base_yaml(), r).logging.level == "debug");
  r.env_overrides = {flag_override("debug", "sometimes", "RAYTHENA_DEBUG")};
  BOOST_TEST(contains(load_error(base_yaml(), r), "RAYTHENA_DEBUG: bad value 'sometimes'"));
}

BOOST_AUTO_TEST_CASE(paths_are_expanded_once_after_loading) {
  rty_test::scoped_env base("RTY_TEST_BASE", "/base");
  rty_test::scoped_env tricky("RTY_TEST_TRICKY", "$RTY_TEST_BASE");
  rty_test::scoped_env unknown("RTY_TEST_UNSET_VARIABLE", std::nullopt);
  std::string yaml = replace(base_yaml(), "workdir: /data/workdir", "workdir: $RTY_TEST_BASE/work");
  yaml = replace(yaml, "taskprogressbasedir: /data/tasks", "taskprogressbasedir: ${RTY_TEST_BASE}/tasks");
  yaml = replace(yaml, "harvesterconf: /data/panda_harvester.cfg", "harvesterconf: $RTY_TEST_TRICKY/h.cfg");
  yaml = replace(yaml, "driverlogfile:", "driverlogfile: $RTY_TEST_UNSET_VARIABLE/log");
  yaml = replace(yaml, "extrasetup:", "extrasetup: export X=$RTY_TEST_BASE");
  load_request r = request();
  r.cli_overrides = {flag_override("harvester-endpoint", "${RTY_TEST_BASE}/endpoint", "--harvester-endpoint")};
  settings s = load_ok(yaml, r);
  BOOST_TEST(s.ray.workdir == "/base/work");
  BOOST_TEST(*s.ray.taskprogressbasedir == "/base/tasks");
  BOOST_TEST(*s.harvester.endpoint == "/base/endpoint");              // CLI values are expanded too
  BOOST_TEST(*s.harvester.harvesterconf == "$RTY_TEST_BASE/h.cfg");   // once: not re-expanded
  BOOST_TEST(*s.logging.driverlogfile == "$RTY_TEST_UNSET_VARIABLE/log");  // unknown kept
  BOOST_TEST(*s.payload.extrasetup == "export X=$RTY_TEST_BASE");     // shell is not a path
}

BOOST_AUTO_TEST_CASE(relative_paths_become_absolute_except_those_relative_by_design) {
  std::string yaml = replace(base_yaml(), "workdir: /data/workdir", "workdir: site/work");
  yaml = replace(yaml, "taskprogressbasedir: /data/tasks", "taskprogressbasedir: ./site/../tasks");
  yaml = replace(yaml, "pilotkillfile: pilot_kill_payload", "pilotkillfile: kill/here");
  settings s = load_ok(yaml);
  const auto cwd = std::filesystem::current_path().string();
  BOOST_TEST(s.ray.workdir == cwd + "/site/work");  // stubs chdir elsewhere: must be absolute
  BOOST_TEST(*s.ray.taskprogressbasedir == cwd + "/tasks");
  BOOST_TEST(s.payload.pilotkillfile == "kill/here");  // relative to the node's pilot directory
  BOOST_TEST(s.payload.timemonitorfile.front() != '/');  // relative to ray.workdir
}

BOOST_AUTO_TEST_CASE(launcher_values_and_auto_resolution) {
  std::string with_launcher = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  launcher: LAUNCHER");
  auto launcher_of = [&](const std::string& value, std::map<std::string, std::string> env) {
    load_request r = request();
    r.env = std::move(env);
    return load_ok(replace(with_launcher, "LAUNCHER", value), r).ray.launcher;
  };
  BOOST_TEST((launcher_of("auto", {}) == launcher_kind::local));
  BOOST_TEST((launcher_of("auto", {{"SLURM_JOB_ID", "1234"}}) == launcher_kind::srun));
  BOOST_TEST((launcher_of("auto", {{"SLURM_JOB_ID", ""}}) == launcher_kind::local));
  BOOST_TEST((launcher_of("", {{"SLURM_JOB_ID", "1"}}) == launcher_kind::srun));  // null = default auto
  BOOST_TEST((launcher_of("local", {{"SLURM_JOB_ID", "1"}}) == launcher_kind::local));
  BOOST_TEST((launcher_of("SRUN", {}) == launcher_kind::srun));
  BOOST_TEST((launcher_of("ssh", {}) == launcher_kind::ssh));
}

BOOST_AUTO_TEST_CASE(nodes_flag_sets_localnodes_and_the_requested_count) {
  settings plain = load_ok(base_yaml());
  BOOST_TEST(!plain.ray.nodes);
  load_request r = request();
  r.cli_overrides = {flag_override("nodes", "8", "--nodes")};
  settings s = load_ok(base_yaml(), r);
  BOOST_TEST(s.ray.localnodes == 8);
  BOOST_TEST(*s.ray.nodes == 8);
}

BOOST_AUTO_TEST_CASE(sshhosts_accepts_a_list_or_a_comma_separated_string) {
  std::string list = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  sshhosts:\n    - n1\n    - n2");
  BOOST_TEST(load_ok(list).ray.sshhosts == (std::vector<std::string>{"n1", "n2"}));
  std::string flow = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  sshhosts: [n1, n2, n3]");
  BOOST_TEST(load_ok(flow).ray.sshhosts.size() == 3u);
  std::string comma = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  sshhosts: n1, n2 ,,n3");
  BOOST_TEST(load_ok(comma).ray.sshhosts == (std::vector<std::string>{"n1", "n2", "n3"}));
  load_request r = request();
  r.cli_overrides = {flag_override("ssh-hosts", "a,b", "--ssh-hosts")};
  BOOST_TEST(load_ok(list, r).ray.sshhosts == (std::vector<std::string>{"a", "b"}));
  std::string nested = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  sshhosts:\n    - [n1]");
  BOOST_TEST(contains(load_error(nested), "ray.sshhosts: list items must be strings"));
  std::string map = replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  sshhosts: {a: 1}");
  BOOST_TEST(contains(load_error(map), "ray.sshhosts: bad value a mapping"));
}

BOOST_AUTO_TEST_CASE(new_keys_load_from_the_file) {
  std::string yaml = replace(base_yaml(), "timemonitorfile: jobtimeout.txt",
                             "timemonitorfile: jobtimeout.txt\n  pilotwrapper: /w.sh\n  pilotdir: /p3\n  serverport: 8181\n"
                             "  containerengine: none");
  yaml = replace(yaml, "  containerengine: singularity\n", "");
  yaml = replace(yaml, "harvesterconf: /data/panda_harvester.cfg",
                 "harvesterconf: /data/panda_harvester.cfg\n  timeout: 120\n  eventsource: harvester");
  yaml = replace(yaml, "mergemaxprocesses: 64",
                 "mergemaxprocesses: 64\n  sshkey: /k\n  sshknownhosts: /kh\n  sshacceptnew: yes\n"
                 "  stubexecutable: /s\n  checkpointinterval: 5\n  statusinterval: 6\n  heartbeattimeout: 7\n"
                 "  stubgrace: 8\n  maxrangeattempts: 9\n  mergeretries: 0\n  localnodes: 4");
  settings s = load_ok(yaml);
  BOOST_TEST(s.payload.pilotwrapper == "/w.sh");
  BOOST_TEST(s.payload.pilotdir == "/p3");
  BOOST_TEST(s.payload.serverport == 8181);
  BOOST_TEST(s.payload.runs_merge_without_container());
  BOOST_TEST(s.harvester.timeout.count() == 120);
  BOOST_TEST((s.harvester.eventsource == event_source::harvester));
  BOOST_TEST(*s.ray.sshkey == "/k");
  BOOST_TEST(s.ray.sshknownhosts == "/kh");
  BOOST_TEST(s.ray.sshacceptnew);
  BOOST_TEST(s.ray.stubexecutable == "/s");
  BOOST_TEST(s.ray.checkpointinterval.count() == 5);
  BOOST_TEST(s.ray.statusinterval.count() == 6);
  BOOST_TEST(s.ray.heartbeattimeout.count() == 7);
  BOOST_TEST(s.ray.stubgrace.count() == 8);
  BOOST_TEST(s.ray.maxrangeattempts == 9);
  BOOST_TEST(s.ray.mergeretries == 0);
  BOOST_TEST(s.ray.localnodes == 4);
  BOOST_TEST(!s.ray.nodes);
}

BOOST_AUTO_TEST_CASE(status_address_is_host_port_or_off) {
  BOOST_TEST(load_ok(base_yaml()).ray.statusaddress == "127.0.0.1:0");
  auto with = [](std::string value) {
    return replace(base_yaml(), "mergemaxprocesses: 64", "mergemaxprocesses: 64\n  statusaddress: " + value);
  };
  BOOST_TEST(load_ok(with("0.0.0.0:9100")).ray.statusaddress == "0.0.0.0:9100");
  BOOST_TEST(load_ok(with("' 10.1.2.3:0 '")).ray.statusaddress == "10.1.2.3:0");
  BOOST_TEST(load_ok(with("'[::1]:9100'")).ray.statusaddress == "[::1]:9100");
  BOOST_TEST(load_ok(with("off")).ray.statusaddress == "off");
  for (std::string bad : {"localhost:9100", "127.0.0.1", "127.0.0.1:65536", "127.0.0.1:-1", "::1:9100", "1.2.3:4",
                          "'127.0.0.1:9100x'"}) {
    auto err = load_error(with(bad));
    BOOST_TEST_INFO("value " << bad << ": " << err);
    BOOST_TEST(contains(err, "ray.statusaddress"));
    BOOST_TEST(contains(err, "HOST:PORT"));
  }
  load_request r = request();
  r.cli_overrides = {flag_override("status-address", "127.0.0.2:8000", "--status-address")};
  BOOST_TEST(load_ok(base_yaml(), r).ray.statusaddress == "127.0.0.2:8000");
  r.cli_overrides = {flag_override("status-address", "nowhere", "--status-address")};
  auto err = load_error(base_yaml(), r);
  BOOST_TEST(contains(err, "--status-address"));
  BOOST_TEST(contains(err, "nowhere"));
}

BOOST_AUTO_TEST_CASE(known_hosts_default_is_expanded_from_home) {
  rty_test::scoped_env home("HOME", "/home/tester");
  BOOST_TEST(load_ok(base_yaml()).ray.sshknownhosts == "/home/tester/.ssh/known_hosts");
}

BOOST_AUTO_TEST_CASE(stub_executable_default_is_beside_raythenad_or_in_the_build_tree) {
  rty_test::temp_dir dir;
  // build tree layout: <build>/src/coordinator/raythenad and <build>/src/stub/raythena-stub
  rty_test::write_file(dir / "src/stub/raythena-stub", "#!/bin/sh\n", std::filesystem::perms(0755));
  BOOST_TEST(default_stub_executable(dir / "src/coordinator/raythenad") == dir / "src/stub/raythena-stub");
  // installed layout wins when both exist
  rty_test::write_file(dir / "src/coordinator/raythena-stub", "#!/bin/sh\n", std::filesystem::perms(0755));
  BOOST_TEST(default_stub_executable(dir / "src/coordinator/raythenad") == dir / "src/coordinator/raythena-stub");
  // neither: the installed location, so the validation message names where it is expected
  BOOST_TEST(default_stub_executable("/opt/x/bin/raythenad") == "/opt/x/bin/raythena-stub");
}

// ---- RAYTHENA_* variables that set nothing

namespace {

std::vector<std::string> env_notices(std::map<std::string, std::string> env) {
  load_request r = request();
  r.env = std::move(env);
  auto loaded = load_config_text(base_yaml(), r);
  BOOST_REQUIRE_MESSAGE(loaded, (loaded ? std::string() : loaded.error().message()));
  std::vector<std::string> out;
  for (const auto& n : loaded->notices)
    if (contains(n, "environment variable")) out.push_back(n);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_misspelt_variable_warns_with_the_nearest_known_name) {
  auto notices = env_notices({{"RAYTHENA_CORE_PER_NOD", "5"}, {"PATH", "/bin"}, {"RAYTHENAX", "1"}});
  BOOST_REQUIRE_EQUAL(notices.size(), 1u);
  BOOST_TEST(notices[0] ==
             "warning: RAYTHENA_CORE_PER_NOD: unknown environment variable (did you mean RAYTHENA_CORE_PER_NODE?); "
             "it is ignored");
  // The value is never shown: a misspelt secret must not reach a log.
  auto secret = env_notices({{"RAYTHENA_STUB_SECRT", "hunter2-very-secret"}});
  BOOST_REQUIRE_EQUAL(secret.size(), 1u);
  BOOST_TEST(contains(secret[0], "did you mean RAYTHENA_STUB_SECRET?"));
  BOOST_TEST(!contains(secret[0], "hunter2"));
}

BOOST_AUTO_TEST_CASE(known_variables_draw_no_warning) {
  std::map<std::string, std::string> env;
  for (const auto& key : key_table())
    if (!key.flag.empty()) env[key.env_name()] = "";  // empty: overrides nothing, still known
  for (auto n : other_environment_names()) env[std::string(n)] = "";
  BOOST_TEST(env.count("RAYTHENA_PAYLOAD_BINDIR") == 1u);
  BOOST_TEST(env.count("RAYTHENA_VALIDATE") == 1u);
  BOOST_TEST(env_notices(env).empty());
}

BOOST_AUTO_TEST_CASE(a_variable_for_a_key_without_a_flag_says_to_use_the_file) {
  auto notices = env_notices({{"RAYTHENA_PAYLOAD_CONTAINERENGINE", "none"}});
  BOOST_REQUIRE_EQUAL(notices.size(), 1u);
  BOOST_TEST(contains(notices[0], "warning: RAYTHENA_PAYLOAD_CONTAINERENGINE: unknown environment variable; "
                                  "payload.containerengine has no variable"));
  BOOST_TEST(contains(notices[0], "set it in the configuration file"));
}

// ---- payload.bindir: the wrapper and pilot3 wherever the tarball put them

namespace {

void make_pilot_tree(const std::string& dir) { rty_test::write_file(dir + "/pilot.py", "# pilot\n"); }
void make_wrapper(const std::string& path) { rty_test::write_file(path, "#!/bin/sh\n", std::filesystem::perms(0755)); }

std::string bindir_yaml(const std::string& bindir, const std::string& extra = "") {
  return replace(base_yaml(), "timemonitorfile: jobtimeout.txt",
                 "timemonitorfile: jobtimeout.txt\n  bindir: " + bindir + extra);
}

}  // namespace

BOOST_AUTO_TEST_CASE(bindir_finds_wrapper_and_pilot_in_a_nested_tarball_layout) {
  rty_test::temp_dir tmp;
  make_wrapper(tmp / "bin/wrapper/runpilot2-wrapper.sh");
  make_wrapper(tmp / "bin/PandaPilotWrapper/latest/runpilot3-wrapper.sh");  // deeper: loses
  make_pilot_tree(tmp / "bin/pilot3-3.10.1.5");
  make_pilot_tree(tmp / "bin/pilot3");  // same depth: the one named pilot3 wins
  settings s = load_ok(bindir_yaml(tmp / "bin"));
  BOOST_TEST(s.payload.pilotwrapper == tmp / "bin/wrapper/runpilot2-wrapper.sh");
  BOOST_TEST(s.payload.pilotdir == tmp / "bin/pilot3");
  BOOST_TEST(s.payload.pilotwrapper_from == "payload.bindir");
  BOOST_TEST(s.payload.pilotdir_from == "payload.bindir");
}

BOOST_AUTO_TEST_CASE(bindir_prefers_the_shallowest_and_runpilot3_and_skips_hidden_and_linked_dirs) {
  rty_test::temp_dir tmp;
  make_wrapper(tmp / "bin/runpilot2-wrapper.sh");
  make_wrapper(tmp / "bin/runpilot3-wrapper.sh");
  rty_test::write_file(tmp / "bin/x/runpilot3-wrapper.sh", "not executable\n");
  make_pilot_tree(tmp / "bin");  // the tarball unpacked in place
  make_pilot_tree(tmp / "bin/.old/pilot3");
  make_pilot_tree(tmp / "elsewhere/pilot3");
  std::filesystem::create_directory_symlink(tmp / "elsewhere", tmp / "bin/link");
  auto found = rty::pilot::find_in_bindir(tmp / "bin");
  BOOST_TEST(found.error.empty());
  BOOST_TEST(*found.wrapper == tmp / "bin/runpilot3-wrapper.sh");
  BOOST_TEST(found.other_wrappers == std::vector<std::string>{tmp / "bin/runpilot2-wrapper.sh"});
  BOOST_TEST(*found.pilot_dir == tmp / "bin");
  BOOST_TEST(found.other_pilot_dirs.empty());  // neither .old nor the symlinked tree
  // Three levels down is not searched.
  rty_test::temp_dir deep;
  make_pilot_tree(deep / "a/b/c");
  BOOST_TEST(!rty::pilot::find_in_bindir(deep.path()).pilot_dir);
}

BOOST_AUTO_TEST_CASE(pilotwrapper_and_pilotdir_win_over_bindir) {
  rty_test::temp_dir tmp;
  make_wrapper(tmp / "bin/runpilot3-wrapper.sh");
  make_pilot_tree(tmp / "bin/pilot3");
  settings s = load_ok(bindir_yaml(tmp / "bin", "\n  pilotwrapper: /site/w.sh"));
  BOOST_TEST(s.payload.pilotwrapper == "/site/w.sh");
  BOOST_TEST(s.payload.pilotwrapper_from == "payload.pilotwrapper");
  BOOST_TEST(s.payload.pilotdir == tmp / "bin/pilot3");
  // Through RAYTHENA_PAYLOAD_BINDIR (the flag's twin), with the pilot dir set.
  load_request r = request();
  r.env_overrides = {flag_override("payload-bindir", tmp / "bin", "RAYTHENA_PAYLOAD_BINDIR")};
  std::string yaml = replace(base_yaml(), "timemonitorfile: jobtimeout.txt", "timemonitorfile: jobtimeout.txt\n  pilotdir: /p3");
  settings e = load_ok(yaml, r);
  BOOST_TEST(e.payload.pilotwrapper == tmp / "bin/runpilot3-wrapper.sh");
  BOOST_TEST(e.payload.pilotdir == "/p3");
  BOOST_TEST(e.payload.pilotdir_from == "payload.pilotdir");
  // Without bindir: the CVMFS defaults, recorded as such.
  settings d = load_ok(base_yaml());
  BOOST_TEST(d.payload.pilotwrapper_from == "default");
}

BOOST_AUTO_TEST_CASE(bindir_without_a_wrapper_or_pilot_is_an_error_naming_the_key_and_value) {
  rty_test::temp_dir tmp;
  std::filesystem::create_directories(tmp / "bin/empty");
  std::string error = load_error(bindir_yaml(tmp / "bin"));
  BOOST_TEST(contains(error, "payload.bindir=" + (tmp / "bin") + ": no executable runpilot3-wrapper.sh or "
                                                                 "runpilot2-wrapper.sh"));
  BOOST_TEST(contains(error, "set payload.pilotwrapper"));
  BOOST_TEST(contains(error, "no directory with pilot.py"));
  std::string missing = load_error(bindir_yaml(tmp / "nope"));
  BOOST_TEST(contains(missing, "payload.bindir=" + (tmp / "nope") + ": does not exist"));
}

BOOST_AUTO_TEST_CASE(validate_says_where_the_wrapper_and_pilot_came_from_and_warns_about_variables) {
  rty_test::temp_dir tmp;
  make_wrapper(tmp / "bin/runpilot3-wrapper.sh");
  make_pilot_tree(tmp / "bin/pilot3");
  load_request r = request();
  r.env = {{"RAYTHENA_CORE_PER_NOD", "5"}};
  auto loaded = load_config_text(bindir_yaml(tmp / "bin", "\n  pilotdir: " + (tmp / "bin/pilot3")), r);
  BOOST_REQUIRE(loaded);
  auto checks = run_checks(loaded->config, "site.yaml", loaded->notices);
  auto detail = [&](const std::string& name, check_status status) {
    for (const auto& c : checks)
      if (c.name == name && c.status == status && (name != "config" || contains(c.detail, "RAYTHENA_"))) return c.detail;
    return std::string("(no such check)");
  };
  BOOST_TEST(detail("pilotwrapper", check_status::ok) ==
             "payload.pilotwrapper=" + (tmp / "bin/runpilot3-wrapper.sh") +
                 " \u2014 executable; found in payload.bindir=" + (tmp / "bin"));
  BOOST_TEST(contains(detail("pilotdir", check_status::ok),
                      "directory with pilot.py; set by payload.pilotdir, which wins over payload.bindir"));
  BOOST_TEST(detail("config", check_status::warn) ==
             "RAYTHENA_CORE_PER_NOD \u2014 unknown environment variable (did you mean RAYTHENA_CORE_PER_NODE?); "
             "it is ignored");
}

BOOST_AUTO_TEST_CASE(validate_reports_the_queue_configs_messenger_overrides) {
  rty_test::temp_dir tmp;
  const std::string cfg = tmp / "panda_harvester.cfg";
  const std::string qconf = tmp / "panda_queueconfig.json";
  rty_test::write_file(qconf, R"({"TEST_QUEUE": {"messenger": {"jobSpecFileName": "my_job.cgi", "jobSpecFileFormat": "cgi"}},)"
                              R"( "BAD_QUEUE": {"messenger": {"stripJobParams": "maybe"}}})");
  rty_test::write_file(cfg, rty_test::harvester_cfg("TEST_QUEUE|q|http://x|/nowhere") + "\n[qconf]\nconfigFile = " + qconf + "\n");
  auto yaml = replace(base_yaml(), "harvesterconf: /data/panda_harvester.cfg", "harvesterconf: " + cfg);
  auto line = [&](const std::string& y) {
    for (const auto& c : run_checks(load_ok(y)))
      if (c.name == "queueconfig") return std::string(to_string(c.status)) + " " + c.detail;
    return std::string("(no queueconfig check)");
  };
  BOOST_TEST(line(yaml) == "OK " + qconf + " \u2014 queue TEST_QUEUE in " + qconf +
                               ": jobSpecFile=my_job.cgi, jobSpecFileFormat=cgi");
  BOOST_TEST(contains(line(replace(yaml, "pandaqueue: TEST_QUEUE", "pandaqueue: BAD_QUEUE")),
                      "FAIL [qconf] configFile \u2014 " + qconf +
                          ": queue BAD_QUEUE: messenger.stripJobParams: expected true or false, found \"maybe\""));
}
