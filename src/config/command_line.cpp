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
    {"help-man", 0, false, false, "print this manual as a man page (roff; installed as raythenad(1))"},
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

// roff text: a backslash is \e, and a line must not start with a control character.
std::string roff(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  std::string safe;
  std::size_t start = 0;
  while (start <= out.size()) {
    auto nl = out.find('\n', start);
    if (nl == std::string::npos) nl = out.size();
    auto line = std::string_view(out).substr(start, nl - start);
    if (!line.empty() && (line.front() == '.' || line.front() == '\'')) safe += "\\&";
    safe += line;
    if (nl < out.size()) safe += '\n';
    start = nl + 1;
  }
  return safe;
}

}  // namespace

std::span<const exit_code_doc> run_exit_codes() {
  // The README's exit-code table has these same words (test_command_line checks it).
  static constexpr exit_code_doc codes[] = {
      {0, "every event merged, final report written"},
      {1, "runtime error: could not listen, create directories, or launch"},
      {2, "configuration could not be loaded or is invalid"},
      {3, "incomplete: stopped early (walltime, SIGTERM, no stubs left, ranges ready but no node may start a "
          "pilot for them: `payload.pilotrestarts` used up or 0, the merge transform cannot run on this site); "
          "checkpoint written"},
      {4, "completed, but some events failed for good"},
      {5, "no usable job from Harvester (timeout, invalid job spec), or a job too big for this host "
          "(`ray.bookkeepingmemorymb`)"},
  };
  return codes;
}

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
       "       raythenad status [--workdir DIR | --jobid N] [--json] [--watch]   a running coordinator's state\n"
       "       raythenad status --all BASEDIR                 one line per run under BASEDIR\n"
       "       raythenad report DIR                           a task directory's events, outputs, failures\n\n"
       "Every option but --help, --help-keys, --help-man and --version can also be given as RAYTHENA_<OPTION>\n"
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
  o << "\nValidation prints one line per check, OK|NOTE|WARN|FAIL <name>: <path or key> \u2014 <reason>,\n"
       "and exits 0 when nothing failed, 1 when a check failed, 2 when the configuration cannot be loaded.\n"
       "\nExit status of a run:\n";
  for (const auto& e : run_exit_codes()) o << "  " << e.code << "  " << e.meaning << "\n";
  o << "\nConfiguration keys, defaults and meanings: raythenad --help-keys (or man raythenad)\n";
  return o.str();
}

namespace {
// A tagged paragraph: `tag` is roff already (fonts), `text` is plain.
void man_entry(std::ostream& o, std::string_view tag, std::string_view text) {
  o << ".TP\n" << tag << "\n" << roff(text) << "\n";
}

// NAME, SYNOPSIS and DESCRIPTION.
void man_header(std::ostream& o, std::string_view version) {
  o << ".TH RAYTHENAD 1 \"\" \"raythenad " << roff(version) << "\" \"User Commands\"\n"
    << ".SH NAME\nraythenad \\- run ATLAS Event Service jumbo jobs across an HPC allocation\n"
    << ".SH SYNOPSIS\n"
    << ".B raythenad\n\\fB\\-\\-config\\fR \\fIFILE\\fR [\\fIoptions\\fR]\n.br\n"
    << ".B raythenad\n\\fB\\-\\-validate \\-\\-config\\fR \\fIFILE\\fR [\\fB\\-\\-json\\fR] [\\fIoptions\\fR]\n.br\n"
    << ".B raythenad status\n[\\fB\\-\\-workdir\\fR \\fIDIR\\fR] [\\fB\\-\\-json\\fR] [\\fB\\-\\-watch\\fR]\n"
    << ".br\n.B raythenad status\n\\fB\\-\\-all\\fR \\fIBASEDIR\\fR\n.br\n.B raythenad report\n\\fIDIR\\fR\n"
    << ".SH DESCRIPTION\n"
    << roff("raythenad is the coordinator of an Event Service run, a drop-in replacement for Raythena. It reads a "
            "Raythena YAML configuration, takes the job Harvester pre-staged through its shared-file messenger, "
            "cuts it into event ranges, starts one raythena-stub per node (srun inside Slurm, SSH for named "
            "hosts, local processes otherwise) and hands the ranges to the pilots on the nodes. Every result "
            "is recorded in a checkpoint (state.json in the task directory), finished output groups are merged "
            "as soon as they are complete, and the final job report is written where Harvester reads it.")
    << "\n.PP\n"
    << roff("With --validate, raythenad checks the configuration and the whole site set-up (Harvester files, "
            "pilot configuration, launcher, stub, log and status address) and starts nothing. "
            "raythenad status asks a running coordinator through <workdir>/status.url.")
    << "\n.PP\n"
    << roff("Values come from the command line, then RAYTHENA_<OPTION> environment variables, then the YAML "
            "file, in that order of precedence, before the configuration is checked. An empty value overrides "
            "nothing.")
    << "\n.SH OPTIONS\n";
}

// OPTIONS: the action flags, then the flag of every key that has one.
void man_options(std::ostream& o) {
  for (const auto& f : action_flags) {
    o << ".TP\n";
    if (f.short_name) o << "\\fB\\-" << f.short_name << "\\fR, ";
    o << "\\fB\\-\\-" << roff(f.name) << "\\fR" << (f.takes_value ? " \\fIFILE\\fR" : "") << "\n"
      << roff(f.help);
    if (f.env) o << " (environment: \\fB" << roff(env_name_of(f.name)) << "\\fR)";
    o << "\n";
  }
  for (const auto& key : key_table()) {
    if (key.flag.empty()) continue;
    o << ".TP\n";
    if (key.short_flag) o << "\\fB\\-" << key.short_flag << "\\fR, ";
    o << "\\fB\\-\\-" << roff(key.flag) << "\\fR" << (key.switch_value.empty() ? " \\fIVALUE\\fR" : "") << "\n"
      << "Sets \\fB" << roff(key.full_name()) << "\\fR: " << roff(key.help) << " (environment: \\fB"
      << roff(key.env_name()) << "\\fR)\n";
  }
}

// CONFIGURATION: every key with its type, default and meaning.
void man_configuration(std::ostream& o) {
  o << ".SH CONFIGURATION\n"
    << roff("The YAML file has the sections payload, harvester, ray, resources and logging. Keys marked "
            "Raythena must be present, as Raythena required (a null value means the default); the others are "
            "optional. Paths have $VAR and ${VAR} expanded once; relative paths are taken from the directory "
            "raythenad was started in.")
    << "\n";
  for (const auto& key : key_table()) {
    o << ".TP\n\\fB" << roff(key.full_name()) << "\\fR (" << roff(key.type_name()) << ", default \\fI"
      << roff(key.default_text()) << "\\fR)\n"
      << roff(key.help) << "." << (key.required ? " Raythena key, must be present." : key.raythena ? " Raythena key." : "")
      << (key.ignored ? " Accepted for compatibility and ignored." : "") << " Expects " << roff(key.expected()) << ".";
    if (!key.flag.empty()) o << " Flag \\fB\\-\\-" << roff(key.flag) << "\\fR, variable \\fB" << roff(key.env_name()) << "\\fR.";
    o << "\n";
  }
}

// ENVIRONMENT, FILES, SIGNALS, EXIT STATUS and SEE ALSO.
void man_environment_and_files(std::ostream& o) {
  auto entry = [&](std::string_view tag, std::string_view text) { man_entry(o, tag, text); };
  o << ".SH ENVIRONMENT\n";
  entry("\\fBRAYTHENA_\\fR\\fIOPTION\\fR", "Any option above except --help, --help-keys, --help-man and --version.");
  entry("\\fBHARVESTER_PILOT_CONFIG\\fR",
        "pilot's configuration file, as for Raythena; with payload.serverport 0 each node gets a copy with "
        "pandaserver rewritten.");
  entry("\\fBSLURM_JOB_ID\\fR", "set inside an allocation: ray.launcher auto then means srun.");
  entry("\\fBNOTIFY_SOCKET\\fR", "under systemd (Type=notify): readiness, status, watchdog and stopping notifications.");
  o << ".SH FILES\n";
  entry("\\fI<ray.workdir>/status.url\\fR",
        "URL of the running coordinator's /status and /metrics endpoint (ray.statusaddress); removed at exit.");
  entry("\\fI<ray.workdir>/.raythenad\\-secret\\fR", "the run's channel secret, mode 0600, removed at exit.");
  entry("\\fI<ray.workdir>/<PandaID>/<node>/\\fR",
        "each node's pilot directory; stub logs of the local launcher in <PandaID>/stub-logs/.");
  entry("\\fI<ray.taskprogressbasedir>/<taskID>/state.json\\fR",
        "the checkpoint (Raythena's format); a later run with the same task resumes from it, and with "
        "--retry-failed also simulates its failed groups again.");
  entry("\\fI<harvester.endpoint>/jobReport.json\\fR", "the final job report for Harvester.");
  o << ".SH SIGNALS\n";
  entry("\\fBSIGTERM\\fR, \\fBSIGINT\\fR",
        "drain: hand out no more ranges, let pilots report, write the checkpoint and the report, exit 3 (or 0 "
        "when everything was merged).");
  entry("\\fBSIGUSR1\\fR", "write the checkpoint now.");
  o << ".SH EXIT STATUS\n"
    << roff("With --validate: 0 when no check failed, 1 when a check failed, 2 when the configuration cannot be loaded. A run:") << "\n";
  for (const auto& e : run_exit_codes()) entry(".B " + std::to_string(e.code), e.meaning);
  o << ".SH SEE ALSO\n" << roff("raythena-stub --help; the README shipped with raythenad (share/doc/raythenad).") << "\n";
}
}  // namespace

std::string man_page(std::string_view version, std::string_view status_help) {
  std::ostringstream o;
  man_header(o, version);
  man_options(o);
  o << ".SH STATUS COMMAND\n.nf\n" << roff(status_help) << (status_help.ends_with('\n') ? "" : "\n") << ".fi\n";
  man_configuration(o);
  man_environment_and_files(o);
  return o.str();
}

namespace {

rty::result<po::variables_map> parse_flags(int argc, const char* const* argv) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(make_options()).run(), vm);
  } catch (const po::error& e) {
    return rty::fail(std::string("raythenad: ") + e.what() + "\nTry 'raythenad --help'.");
  }
  return vm;
}

}  // namespace

bool wants_validation_json(int argc, const char* const* argv, const std::map<std::string, std::string>& env) {
  auto vm = parse_flags(argc, argv);
  // When the flags themselves do not parse (an unknown one), the two switches spelled out still count.
  auto given = [&](const char* name) {
    if (vm) return (*vm)[name].as<bool>();
    for (int i = 1; i < argc; ++i)
      if (argv[i] && std::string_view(argv[i]) == std::string("--") + name) return true;
    return false;
  };
  return (truthy(env, "RAYTHENA_VALIDATE") || given("validate")) && (truthy(env, "RAYTHENA_JSON") || given("json"));
}

rty::result<invocation> parse_invocation(int argc, const char* const* argv,
                                         const std::map<std::string, std::string>& env) {
  auto flags = parse_flags(argc, argv);
  if (!flags) return flags.error();
  po::variables_map& vm = *flags;

  invocation inv;
  if (vm["help"].as<bool>() || vm["help-keys"].as<bool>() || vm["help-man"].as<bool>()) {
    inv.what = invocation::action::help;
    inv.help_keys = vm["help-keys"].as<bool>();
    inv.help_man = vm["help-man"].as<bool>();
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
