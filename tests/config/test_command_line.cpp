// parse_invocation, help text, the key table in docs/configuration.md, JSON dump and logging set-up.
#include <boost/test/unit_test.hpp>

#include <sstream>

#include "common/log.hpp"
#include "config/command_line.hpp"
#include "config/keys.hpp"
#include "config/logging_setup.hpp"
#include "config/validate.hpp"
#include "test_support.hpp"

using namespace rty::config;

namespace {

using env_map = std::map<std::string, std::string>;

rty::result<invocation> parse(std::vector<std::string> args, const env_map& env = {}) {
  args.insert(args.begin(), "raythenad");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return parse_invocation(static_cast<int>(argv.size()), argv.data(), env);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct config_file {
  rty_test::temp_dir dir;
  std::string path = dir / "site.yaml";
  explicit config_file(const std::string& text = rty_test::base_yaml()) { rty_test::write_file(path, text); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(help_and_version_need_no_config) {
  auto help = parse({"--help"});
  BOOST_REQUIRE(help);
  BOOST_TEST((help->what == invocation::action::help));
  BOOST_TEST(!help->help_keys);
  BOOST_TEST((parse({"-h"})->what == invocation::action::help));
  auto keys = parse({"--help-keys"});
  BOOST_TEST(keys->help_keys);
  BOOST_TEST((parse({"--version"})->what == invocation::action::version));
}

BOOST_AUTO_TEST_CASE(bad_command_lines_are_errors_with_a_hint) {
  auto unknown = parse({"--no-such-flag"});
  BOOST_REQUIRE(!unknown);
  BOOST_TEST(contains(unknown.error().message(), "no-such-flag"));
  BOOST_TEST(contains(unknown.error().message(), "raythenad --help"));
  auto missing_value = parse({"--config"});
  BOOST_REQUIRE(!missing_value);
  auto positional = parse({"extra"});
  BOOST_REQUIRE(!positional);
  auto no_config = parse({"--validate"});
  BOOST_REQUIRE(!no_config);
  BOOST_TEST(contains(no_config.error().message(), "Could not find config file"));
}

BOOST_AUTO_TEST_CASE(run_and_validate_load_the_config_from_flag_or_environment) {
  config_file f;
  auto run = parse({"--config", f.path});
  BOOST_REQUIRE_MESSAGE(run, (run ? "" : run.error().message()));
  BOOST_TEST((run->what == invocation::action::run));
  BOOST_TEST(run->source_file == f.path);
  BOOST_TEST(*run->config.payload.pandaqueue == "TEST_QUEUE");
  auto validate = parse({"--validate", "--json"}, {{"RAYTHENA_CONFIG", f.path}});
  BOOST_REQUIRE(validate);
  BOOST_TEST((validate->what == invocation::action::validate));
  BOOST_TEST(validate->json);
  auto by_env = parse({}, {{"RAYTHENA_CONFIG", f.path}, {"RAYTHENA_VALIDATE", "1"}, {"RAYTHENA_JSON", "true"}});
  BOOST_TEST((by_env->what == invocation::action::validate));
  BOOST_TEST(by_env->json);
  BOOST_TEST((parse({}, {{"RAYTHENA_CONFIG", f.path}, {"RAYTHENA_VALIDATE", "0"}})->what == invocation::action::run));
}

BOOST_AUTO_TEST_CASE(every_flag_has_its_raythena_variable_and_cli_wins) {
  config_file f;
  env_map env{{"RAYTHENA_RAY_WORKDIR", "/env/w"},         {"RAYTHENA_HARVESTER_ENDPOINT", "/env/e"},
              {"RAYTHENA_PANDA_QUEUE", "ENVQ"},           {"RAYTHENA_CORE_PER_NODE", "7"},
              {"RAYTHENA_RAY_HEAD_IP", "10.0.0.1"},       {"RAYTHENA_RAY_REDIS_PORT", "1"},
              {"RAYTHENA_RAY_REDIS_PASSWORD", "pw"},      {"RAYTHENA_LAUNCHER", "ssh"},
              {"RAYTHENA_NODES", "5"},                    {"RAYTHENA_SSH_HOSTS", "h1,h2"},
              {"RAYTHENA_DEBUG", "1"}};
  auto inv = parse({"--config", f.path}, env);
  BOOST_REQUIRE_MESSAGE(inv, (inv ? "" : inv.error().message()));
  const settings& s = inv->config;
  BOOST_TEST(s.ray.workdir == "/env/w");
  BOOST_TEST(*s.harvester.endpoint == "/env/e");
  BOOST_TEST(*s.payload.pandaqueue == "ENVQ");
  BOOST_TEST(s.resources.corepernode == 7);
  BOOST_TEST(*s.ray.headip == "10.0.0.1");
  BOOST_TEST(*s.ray.redisport == 1);
  BOOST_TEST(*s.ray.redispassword == "pw");
  BOOST_TEST((s.ray.launcher == launcher_kind::ssh));
  BOOST_TEST(s.ray.localnodes == 5);
  BOOST_TEST(s.ray.sshhosts.size() == 2u);
  BOOST_TEST(s.logging.level == "debug");
  BOOST_TEST(inv->notices.size() == 2u);  // redis port and password: ignored

  auto cli = parse({"--config", f.path, "--ray-workdir", "/cli/w", "--harvester-endpoint", "/cli/e", "--panda-queue",
                    "CLIQ", "--core-per-node", "9", "--ray-head-ip", "10.0.0.2", "--launcher", "local", "--nodes", "3",
                    "--ssh-hosts", "h3", "-d"},
                   env);
  BOOST_REQUIRE(cli);
  BOOST_TEST(cli->config.ray.workdir == "/cli/w");
  BOOST_TEST(*cli->config.harvester.endpoint == "/cli/e");
  BOOST_TEST(*cli->config.payload.pandaqueue == "CLIQ");
  BOOST_TEST(cli->config.resources.corepernode == 9);
  BOOST_TEST(*cli->config.ray.headip == "10.0.0.2");
  BOOST_TEST((cli->config.ray.launcher == launcher_kind::local));
  BOOST_TEST(cli->config.ray.localnodes == 3);
  BOOST_TEST(*cli->config.ray.nodes == 3);
  BOOST_TEST(cli->config.ray.sshhosts == (std::vector<std::string>{"h3"}));
}

BOOST_AUTO_TEST_CASE(retry_failed_from_the_file_the_environment_or_the_flag) {
  config_file f(rty_test::base_yaml());
  auto off = parse({"--config", f.path});
  BOOST_REQUIRE(off);
  BOOST_TEST(!off->config.ray.retryfailedgroups);  // default: failed groups stay failed
  auto flag = parse({"--config", f.path, "--retry-failed"});
  BOOST_REQUIRE(flag);
  BOOST_TEST(flag->config.ray.retryfailedgroups);
  auto env = parse({"--config", f.path}, {{"RAYTHENA_RETRY_FAILED", "yes"}});
  BOOST_REQUIRE(env);
  BOOST_TEST(env->config.ray.retryfailedgroups);
  auto bad = parse({"--config", f.path}, {{"RAYTHENA_RETRY_FAILED", "perhaps"}});
  BOOST_REQUIRE(!bad);
  BOOST_TEST(contains(bad.error().message(), "RAYTHENA_RETRY_FAILED: bad value 'perhaps' for ray.retryfailedgroups"));
  config_file yes(rty_test::replace(rty_test::base_yaml(), "  headip:\n", "  headip:\n  retryfailedgroups: true\n"));
  auto file = parse({"--config", yes.path});
  BOOST_REQUIRE_MESSAGE(file, (file ? "" : file.error().message()));
  BOOST_TEST(file->config.ray.retryfailedgroups);
}

BOOST_AUTO_TEST_CASE(load_errors_are_complete_messages) {
  config_file f(rty_test::replace(rty_test::base_yaml(), "corepernode: 128", "corepernode: lots"));
  auto inv = parse({"--config", f.path});
  BOOST_REQUIRE(!inv);
  BOOST_TEST(contains(inv.error().message(), "raythenad: cannot load configuration " + f.path + ":"));
  BOOST_TEST(contains(inv.error().message(), f.path + ":30:16: resources.corepernode: bad value 'lots'"));
}

BOOST_AUTO_TEST_CASE(load_errors_keep_the_did_you_mean_warnings) {
  // A misspelt required key is both an unknown key (with its nearest name) and a missing one: the hint
  // that explains the error must not be lost with the error.
  config_file f(rty_test::replace(rty_test::base_yaml(), "corepernode: 128", "corepernodes: 128"));
  auto inv = parse({"--config", f.path});
  BOOST_REQUIRE(!inv);
  BOOST_TEST(contains(inv.error().message(), "resources.corepernode not found"), inv.error().message());
  BOOST_TEST(contains(inv.error().message(), "unknown key 'resources.corepernodes' (did you mean 'resources.corepernode'?)"),
             inv.error());
}

namespace {
bool wants_json(std::vector<std::string> args, const env_map& env = {}) {
  args.insert(args.begin(), "raythenad");
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  return wants_validation_json(static_cast<int>(argv.size()), argv.data(), env);
}
}  // namespace

BOOST_AUTO_TEST_CASE(validate_json_is_recognised_even_when_the_command_line_fails) {
  BOOST_TEST(wants_json({"--validate", "--json", "--config", "/nonexistent.yaml"}));
  BOOST_TEST(wants_json({"--validate", "--json", "--no-such-flag"}));  // does not parse: spelled-out switches count
  BOOST_TEST(wants_json({"--config", "x"}, {{"RAYTHENA_VALIDATE", "1"}, {"RAYTHENA_JSON", "true"}}));
  BOOST_TEST(!wants_json({"--validate", "--config", "x"}));
  BOOST_TEST(!wants_json({"--json", "--config", "x"}));
  std::ostringstream out;
  report_load_failure_json("raythenad: Could not find config file /nonexistent.yaml", out);
  auto doc = boost::json::parse(out.str()).as_object();
  BOOST_TEST(doc.at("config").is_null());
  const auto& check = doc.at("checks").as_array().at(0).as_object();
  BOOST_TEST(check.at("name").as_string() == "config");
  BOOST_TEST(check.at("status").as_string() == "FAIL");
  BOOST_TEST(check.at("detail").as_string() == "raythenad: Could not find config file /nonexistent.yaml");
}

BOOST_AUTO_TEST_CASE(help_lists_every_flag_with_its_variable) {
  std::string help = help_text();
  for (const auto& key : key_table()) {
    if (key.flag.empty()) continue;
    BOOST_TEST(contains(help, "--" + std::string(key.flag)), key.flag);
    BOOST_TEST(contains(help, key.env_name()), key.env_name());
  }
  for (auto flag : {"--config", "--validate", "--json", "--help", "--version", "-d, --debug", "RAYTHENA_CONFIG"})
    BOOST_TEST(contains(help, flag), flag);
  // The run mode's exit codes and the status command are documented where users look first.
  BOOST_TEST(contains(help, "raythenad status"));
  for (const auto& e : run_exit_codes())
    BOOST_TEST(contains(help, "  " + std::to_string(e.code) + "  " + std::string(e.meaning)), e.code);
  // The README's exit-code table says the same (an operator reads either).
  std::string readme = rty_test::read_file(std::string(RTY_SOURCE_DIR) + "/README.md");
  for (const auto& e : run_exit_codes())
    BOOST_TEST(contains(readme, "| " + std::to_string(e.code) + " | " + std::string(e.meaning) + " |"), e.code);
  BOOST_TEST(find_flag("ray-workdir")->env_name() == "RAYTHENA_RAY_WORKDIR");
  BOOST_TEST(find_flag("core-per-node")->env_name() == "RAYTHENA_CORE_PER_NODE");
}

// roff as a man page shows it: \- is "-", \e is "\", \fB/\fI/\fR change fonts, \& is nothing.
std::string roff_text(const std::string& page) {
  std::string out;
  for (std::size_t i = 0; i < page.size(); ++i) {
    if (page[i] != '\\' || i + 1 == page.size()) {
      out += page[i];
      continue;
    }
    char c = page[++i];
    if (c == '-') out += '-';
    else if (c == 'e') out += '\\';
    else if (c == 'f') ++i;  // font letter
  }
  return out;
}

BOOST_AUTO_TEST_CASE(man_page_documents_every_key_flag_and_exit_code) {
  const std::string raw = man_page("9.9.9", "Usage: raythenad status [--workdir DIR]\n.weird line\n");
  const std::string page = roff_text(raw);
  BOOST_TEST(raw.rfind(".TH RAYTHENAD 1 ", 0) == 0);
  for (auto section : {".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH STATUS COMMAND", ".SH CONFIGURATION",
                       ".SH ENVIRONMENT", ".SH FILES", ".SH SIGNALS", ".SH EXIT STATUS"})
    BOOST_TEST(contains(raw, std::string("\n") + section + "\n"), section);
  for (const auto& key : key_table()) {
    BOOST_TEST(contains(page, key.full_name() + " (" + key.type_name() + ", default " + key.default_text() + ")"),
               key.full_name());
    if (key.flag.empty()) continue;
    BOOST_TEST(contains(page, "--" + std::string(key.flag)), key.flag);
    BOOST_TEST(contains(page, key.env_name()), key.env_name());
  }
  for (auto flag : {"--config", "--validate", "--json", "--help-keys", "--help-man", "--version", "9.9.9"})
    BOOST_TEST(contains(page, flag), flag);
  for (const auto& e : run_exit_codes())
    BOOST_TEST(contains(page, ".B " + std::to_string(e.code) + "\n" + std::string(e.meaning)), e.code);
  // Text that would read as a roff request is neutralised; no raw hyphen or backslash reaches roff.
  BOOST_TEST(contains(raw, "\\&.weird line"));
  BOOST_TEST(contains(raw, "raythenad status [\\-\\-workdir DIR]"));
}

BOOST_AUTO_TEST_CASE(documented_key_table_is_generated_from_the_key_table) {
  std::string readme = rty_test::read_file(std::string(RTY_SOURCE_DIR) + "/docs/configuration.md");
  const std::string begin = "<!-- config-keys:begin (generated: raythenad --help-keys) -->\n";
  const std::string end = "<!-- config-keys:end -->";
  auto b = readme.find(begin);
  auto e = readme.find(end);
  BOOST_REQUIRE_MESSAGE(b != std::string::npos && e != std::string::npos, "docs/configuration.md lacks the config-keys markers");
  std::string in_readme = readme.substr(b + begin.size(), e - b - begin.size());
  BOOST_TEST(in_readme == keys_markdown(false),
             "docs/configuration.md key table is stale: paste the output of `raythenad --help-keys` between the markers");
}

BOOST_AUTO_TEST_CASE(key_table_defaults_match_the_settings_struct) {
  // Every key the table documents is reachable in settings, and set/get round-trip.
  settings s;
  for (const auto& key : key_table()) {
    key_value v = key.get(s);
    key.set(s, v);
    BOOST_TEST(value_text(key.get(s)) == value_text(v), key.full_name());
  }
  BOOST_TEST(find_key("ray", "stubgrace")->default_text() == "30");
  BOOST_TEST(find_key("payload", "serverport")->default_text() == "8080");
  BOOST_TEST(find_key("ray", "launcher")->default_text() == "auto");
  BOOST_TEST(nearest_key("ray.launchr") == "ray.launcher");
  BOOST_TEST(edit_distance("kitten", "sitting") == 3u);
}

BOOST_AUTO_TEST_CASE(json_dump_holds_every_key) {
  settings s;
  s.payload.pandaqueue = "Q";
  s.ray.sshhosts = {"a", "b"};
  auto doc = to_json(s);
  for (const auto& key : key_table())
    BOOST_TEST(doc.at(key.section).as_object().contains(key.name), key.full_name());
  BOOST_TEST(doc.at("payload").at("pandaqueue").as_string() == "Q");
  BOOST_TEST(doc.at("payload").at("extrasetup").is_null());
  BOOST_TEST(doc.at("ray").at("sshhosts").as_array().size() == 2u);
  BOOST_TEST(doc.at("ray").at("stubgrace").as_int64() == 30);
  BOOST_TEST(doc.at("logging").at("copyraylogs").as_bool() == false);
  BOOST_TEST(doc.at("ray").at("nodes").is_null());  // documented in docs/configuration.md
  BOOST_TEST(doc.at("ray").at("redispassword").is_null());
}

BOOST_AUTO_TEST_CASE(json_dump_never_shows_a_password) {
  settings s;
  s.ray.redispassword = "hunter2";
  s.ray.nodes = 3;
  auto doc = to_json(s);
  BOOST_TEST(doc.at("ray").at("redispassword").as_string() == "(set)");
  BOOST_TEST(boost::json::serialize(doc).find("hunter2") == std::string::npos);
  BOOST_TEST(doc.at("ray").at("nodes").as_int64() == 3);
}

BOOST_AUTO_TEST_CASE(logging_setup_appends_to_the_driver_log_file) {
  rty_test::temp_dir dir;
  std::string log = dir / "driver.log";
  rty_test::write_file(log, "previous run\n");
  settings s;
  s.logging.level = "debug";
  s.logging.driverlogfile = log;
  BOOST_REQUIRE(!apply_logging(s));
  BOOST_TEST((rty::log::current_level() == rty::log::level::debug));
  RTY_LOG(debug, "ConfigTest") << "hello from the test";
  s.logging.driverlogfile = std::nullopt;
  s.logging.level = "warning";
  BOOST_REQUIRE(!apply_logging(s));  // back to stderr
  std::string text = rty_test::read_file(log);
  BOOST_TEST(contains(text, "previous run\n"));  // appended, not truncated
  BOOST_TEST(contains(text, "hello from the test"));
  s.logging.driverlogfile = dir / "no/such/dir/driver.log";
  auto error = apply_logging(s);
  BOOST_REQUIRE(error);
  BOOST_TEST(contains(*error, "logging.driverlogfile"));
  rty::log::set_stderr();
}
