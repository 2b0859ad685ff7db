#include "config/command_line.hpp"

#include <boost/program_options.hpp>

#include <filesystem>
#include <sstream>

#include "config/keys.hpp"
#include "config/loader.hpp"

extern char** environ;

namespace rty::config {

namespace po = boost::program_options;

namespace {

// Flags that are not configuration keys. `env` false: no RAYTHENA_ twin (a stray variable must not turn
// every run into a help screen).
struct action_flag {
  std::string_view name;
  char short_name;
  bool takes_value;
  bool env;
  std::string_view help;
};

constexpr action_flag action_flags[] = {
    {"config", 0, true, true, "raythena configuration file (YAML)"},
    {"validate", 0, false, true, "check the configuration and the site set-up, start nothing"},
    {"json", 0, false, true, "with --validate: print one JSON object (checks and resolved configuration)"},
    {"help", 'h', false, false, "print this help"},
    {"help-keys", 0, false, false, "print the table of configuration keys (markdown)"},
    {"version", 0, false, false, "print the version"},
};

std::string env_name_of(std::string_view flag) {
  std::string out = "RAYTHENA_";
  for (char c : flag) out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

po::options_description make_options() {
  po::options_description desc;
  for (const auto& f : action_flags) {
    std::string spec(f.name);
    if (f.short_name) spec += std::string(",") + f.short_name;
    if (f.takes_value)
      desc.add_options()(spec.c_str(), po::value<std::string>(), "");
    else
      desc.add_options()(spec.c_str(), po::bool_switch(), "");
  }
  for (const auto& key : key_table()) {
    if (key.flag.empty()) continue;
    std::string spec(key.flag);
    if (key.short_flag) spec += std::string(",") + key.short_flag;
    if (!key.switch_value.empty())
      desc.add_options()(spec.c_str(), po::bool_switch(), "");
    else
      desc.add_options()(spec.c_str(), po::value<std::string>(), "");
  }
  return desc;
}

bool truthy(const std::map<std::string, std::string>& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end()) return false;
  std::string v = it->second;
  for (auto& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return !(v.empty() || v == "0" || v == "false" || v == "no" || v == "off" || v == "n" || v == "f");
}

std::string own_executable(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return self.string();
  return argv0 ? std::string(argv0) : std::string{};
}

}  // namespace

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

std::string help_text() {
  std::ostringstream o;
  o << "Usage: raythenad --config FILE [options]            run (Raythena-compatible)\n"
       "       raythenad --validate --config FILE [options] [--json]\n"
       "       raythenad status [--workdir DIR] [--json] [--watch]   a running coordinator's state\n\n"
       "Every option but --help, --help-keys and --version can also be given as RAYTHENA_<OPTION>\n"
       "(--ray-workdir => RAYTHENA_RAY_WORKDIR). Precedence: command line > environment > file.\n"
       "An empty value overrides nothing.\n\n"
       "Options:\n";
  auto line = [&](std::string left, std::string_view help, std::string env) {
    if (left.size() < 30) left.resize(30, ' ');
    else left += "\n" + std::string(32, ' ');
    o << "  " << left << help;
    if (!env.empty()) o << " [" << env << "]";
    o << "\n";
  };
  for (const auto& f : action_flags) {
    std::string left = f.short_name ? std::string("-") + f.short_name + ", " : std::string("    ");
    left += "--" + std::string(f.name) + (f.takes_value ? " FILE" : "");
    line(left, f.help, f.env ? env_name_of(f.name) : std::string{});
  }
  for (const auto& key : key_table()) {
    if (key.flag.empty()) continue;
    std::string left = key.short_flag ? std::string("-") + key.short_flag + ", " : std::string("    ");
    left += "--" + std::string(key.flag);
    if (key.switch_value.empty()) left += " VALUE";
    std::string help = key.full_name() + ": " + std::string(key.help);
    line(left, help, key.env_name());
  }
  o << "\nValidation prints one line per check, OK|WARN|FAIL <name>: <path or key> \u2014 <reason>,\n"
       "and exits 0 when nothing failed, 1 when a check failed, 2 when the configuration cannot be loaded.\n"
       "\nA run exits 0 when every event was merged; 1 on a runtime error (cannot listen, no stub started);\n"
       "2 when the configuration cannot be loaded; 3 when it stopped early (walltime, SIGTERM, no stub left:\n"
       "the checkpoint lets the next run resume); 4 when it completed but some events failed for good (the\n"
       "report lists what succeeded); 5 when Harvester gave no usable job.\n"
       "Configuration keys, defaults and meanings: raythenad --help-keys\n";
  return o.str();
}

boost::system::result<invocation, std::string> parse_invocation(int argc, const char* const* argv,
                                                                const std::map<std::string, std::string>& env) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(make_options()).run(), vm);
  } catch (const po::error& e) {
    return std::string("raythenad: ") + e.what() + "\nTry 'raythenad --help'.";
  }

  invocation inv;
  if (vm["help"].as<bool>() || vm["help-keys"].as<bool>()) {
    inv.what = invocation::action::help;
    inv.help_keys = vm["help-keys"].as<bool>();
    return inv;
  }
  if (vm["version"].as<bool>()) {
    inv.what = invocation::action::version;
    return inv;
  }
  inv.what = vm["validate"].as<bool>() || truthy(env, "RAYTHENA_VALIDATE") ? invocation::action::validate
                                                                          : invocation::action::run;
  inv.json = vm["json"].as<bool>() || truthy(env, "RAYTHENA_JSON");

  load_request request;
  request.env = env;
  request.executable_path = own_executable(argc > 0 ? argv[0] : nullptr);
  if (vm.count("config"))
    request.config_path = vm["config"].as<std::string>();
  else if (auto it = env.find("RAYTHENA_CONFIG"); it != env.end())
    request.config_path = it->second;

  for (const auto& key : key_table()) {
    if (key.flag.empty()) continue;
    std::string env_name = key.env_name();
    if (auto it = env.find(env_name); it != env.end())
      request.env_overrides.push_back({&key, it->second, env_name});
    std::string flag(key.flag);
    if (!vm.count(flag)) continue;
    if (!key.switch_value.empty()) {
      if (vm[flag].as<bool>()) request.cli_overrides.push_back({&key, "true", "--" + flag});
    } else {
      request.cli_overrides.push_back({&key, vm[flag].as<std::string>(), "--" + flag});
    }
  }

  auto loaded = load_config(request);
  if (!loaded) return loaded.error();
  inv.config = std::move(loaded->config);
  inv.notices = std::move(loaded->notices);
  inv.source_file = request.config_path;
  return inv;
}

}  // namespace rty::config
