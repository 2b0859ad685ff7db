#pragma once
// raythenad's command line: Raythena's flags (--config, -d/--debug, --ray-head-ip, --ray-redis-port,
// --ray-redis-password, --ray-workdir, --harvester-endpoint, --panda-queue, --core-per-node), raythenad's
// (--launcher, --nodes, --ssh-hosts, --validate, --json, --help, --help-keys, --version), and every flag
// but the help/version ones also as RAYTHENA_<FLAG> (click's auto_envvar_prefix rule: --ray-workdir ⇔
// RAYTHENA_RAY_WORKDIR). Precedence CLI > environment > file, applied before the configuration is checked.
#include <boost/system/result.hpp>

#include <map>
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
};

// The error is the complete user-facing message: print it to stderr and exit 2.
boost::system::result<invocation, std::string> parse_invocation(int argc, const char* const* argv,
                                                                const std::map<std::string, std::string>& env);

std::string help_text();

// The process environment as a map, for parse_invocation.
std::map<std::string, std::string> current_environment();

}  // namespace rty::config
