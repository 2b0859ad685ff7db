#pragma once
// Validation mode (`raythenad --validate`): checks a whole site set-up without starting anything.
// One line per check, `OK|NOTE|WARN|FAIL <name>: <path or key> — <reason>`, or with --json one object
// {"checks":[{name,status,detail}], "config":{...resolved settings...}}.
// Exit status: 0 nothing failed, 1 something failed (2, config not loadable, is decided before: see main).
#include <boost/json.hpp>

#include <ostream>
#include <string>
#include <vector>

#include "config/command_line.hpp"
#include "config/settings.hpp"

namespace rty::config {

// note: worth knowing, nothing to fix (a Raythena key raythenad ignores; no time-monitor file outside a
// Slurm job, where the batch job writes it). warn: may go wrong at run time. fail: will go wrong.
enum class check_status { ok, note, warn, fail };

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

// `--validate --json` when the configuration cannot be loaded: the same object shape, one FAIL check named
// "config" whose detail is `message` (what stderr also gets), and "config": null. The exit status stays 2.
void report_load_failure_json(std::string_view message, std::ostream& out);

// The fully resolved settings, keyed like the YAML file (seconds as integers, null for unset).
boost::json::object to_json(const settings& s);

}  // namespace rty::config
