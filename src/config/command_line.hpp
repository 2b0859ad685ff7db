#pragma once
// raythenad's command line: Raythena's flags (--config, -d/--debug, --ray-head-ip, --ray-redis-port,
// --ray-redis-password, --ray-workdir, --harvester-endpoint, --panda-queue, --core-per-node), raythenad's
// (--launcher, --nodes, --ssh-hosts, --validate, --json, --help, --help-keys, --version), and every flag
// but the help/version ones also as RAYTHENA_<FLAG> (click's auto_envvar_prefix rule: --ray-workdir ⇔
// RAYTHENA_RAY_WORKDIR). Precedence CLI > environment > file, applied before the configuration is checked.
#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <map>
#include <span>
#include <string_view>
#include <string>
#include <vector>

#include "config/settings.hpp"

namespace rty::config {

struct invocation {
  enum class action { run, validate, help, version } what = action::run;
  settings config;  // loaded only for run and validate
  bool json = false;
  std::vector<std::string> notices;  // warnings (unknown keys) and ignored keys, already formatted
  std::string source_file;           // the YAML file given by --config / RAYTHENA_CONFIG
  bool help_keys = false;            // action help from --help-keys: print keys_markdown(false), not help_text()
  bool help_man = false;             // action help from --help-man: print man_page()
};

// The error is the complete user-facing message: print it to stderr and exit 2.
rty::result<invocation> parse_invocation(int argc, const char* const* argv,
                                         const std::map<std::string, std::string>& env);

// True when the invocation asks for `--validate --json` (flags, or RAYTHENA_VALIDATE and RAYTHENA_JSON),
// even when parse_invocation fails: that failure is then also printed as one JSON object on stdout
// (report_load_failure_json), so a script reading the JSON sees why instead of nothing.
bool wants_validation_json(int argc, const char* const* argv, const std::map<std::string, std::string>& env);

std::string help_text();

// The manual page, roff (-man macros), generated from the same tables as --help and --help-keys;
// `status_help` is `raythenad status --help`, shown as its own section.
std::string man_page(std::string_view version, std::string_view status_help);

struct exit_code_doc {
  int code;
  std::string_view meaning;
};
// What a run's exit status means (--help, the man page).
std::span<const exit_code_doc> run_exit_codes();

// The process environment as a map, for parse_invocation.
std::map<std::string, std::string> current_environment();

}  // namespace rty::config
