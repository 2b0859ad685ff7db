#pragma once
// Loads a Raythena YAML file into settings, applies RAYTHENA_* variables and command-line values on top
// (CLI > environment > file), fills run-dependent defaults and expands $VAR/${VAR} in every path once.
// Everything is checked before anything is used; all problems are reported together, each naming the
// file, line and column, the key, the bad value and what was expected.
#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/keys.hpp"
#include "config/settings.hpp"

namespace rty::config {

struct override_value {
  const key_spec* key = nullptr;
  std::string text;    // as given; an empty text is no override (each flag guards itself)
  std::string origin;  // "--ray-workdir" or "RAYTHENA_RAY_WORKDIR", for messages
};

struct load_request {
  std::string config_path;
  std::vector<override_value> env_overrides;  // applied first
  std::vector<override_value> cli_overrides;  // applied last, so they win
  // Environment consulted for decisions (SLURM_JOB_ID for ray.launcher auto). $VAR expansion uses the
  // process environment through rty::file::expand_vars.
  std::map<std::string, std::string> env;
  std::string executable_path;  // raythenad's own path, for the default ray.stubexecutable
};

struct loaded_config {
  settings config;
  // One line each, already formatted: "warning: <file>:<line>:<col>: unknown key ..." or
  // "notice: ... is ignored ...".
  std::vector<std::string> notices;
};

// Reads request.config_path. The error is the complete user-facing message (several lines when several
// problems were found).
rty::result<loaded_config> load_config(const load_request& request);

// Same from YAML text already read; request.config_path only names the origin in messages.
rty::result<loaded_config> load_config_text(std::string_view yaml_text,
                                                                   const load_request& request);

// Converts one scalar (from YAML, a variable or a flag) to the key's kind; empty text is null.
// nullopt when the text does not fit; key.expected() says what would.
std::optional<key_value> convert_text(const key_spec& key, std::string_view text);

// RAYTHENA_* variables: every flag's twin (keys.hpp env_name) and these others. Any other RAYTHENA_*
// variable in load_request.env gets a warning notice "warning: RAYTHENA_X: unknown environment variable
// (did you mean RAYTHENA_Y?); it is ignored" (the value is never shown).
std::span<const std::string_view> other_environment_names();
bool known_environment_name(std::string_view name);
std::string unknown_environment_reason(std::string_view name);

// Where raythena-stub is looked for by default: next to raythenad, else (build tree) ../stub/.
std::string default_stub_executable(const std::string& executable_path);

}  // namespace rty::config
