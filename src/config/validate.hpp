#pragma once
// Validation mode (`raythenad --validate`): checks a whole site set-up without starting anything.
// One line per check, `OK|WARN|FAIL <name>: <path or key> — <reason>`, or with --json one object
// {"checks":[{name,status,detail}], "config":{...resolved settings...}}.
// Exit status: 0 nothing failed, 1 something failed (2, config not loadable, is decided before: see main).
#include <boost/json.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "config/command_line.hpp"
#include "config/settings.hpp"

namespace rty::config {

enum class check_status { ok, warn, fail };

struct check_result {
  std::string name;    // config, workdir, taskprogressbasedir, endpoint, headip, harvesterconf, queuedata, pilotconfig,
                       // timemonitor, pilotwrapper, pilotdir, merge, launcher, stub, driverlogfile
  check_status status;
  std::string detail;  // "<path or key> — <reason>"
};

std::string_view to_string(check_status s);  // "OK", "WARN", "FAIL"
std::string format_check(const check_result& c);

// Every check on the resolved settings. Reads HARVESTER_PILOT_CONFIG, HARVESTER_ACCESS_POINT, PATH and
// SLURM_JOB_ID from the process environment (what the run would see). `notices` become WARN lines of the config check.
std::vector<check_result> run_checks(const settings& s, const std::string& source_file = {},
                                     const std::vector<std::string>& notices = {});

int run_validation(const settings& s, bool json, std::ostream& out);
// As above, and the loader's notices and the file name appear in the config check.
int run_validation(const invocation& inv, std::ostream& out);

// The fully resolved settings, keyed like the YAML file (seconds as integers, null for unset).
boost::json::object to_json(const settings& s);

}  // namespace rty::config
