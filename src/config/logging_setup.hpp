#pragma once
// Applies logging.level (already "debug" when --debug was given) and logging.driverlogfile to the common
// log facility. The driver log file is appended to, unlike Raythena which truncated it: a restarted run
// must not erase the log of the run it resumes.
#include <optional>
#include <string>

#include "config/settings.hpp"

namespace rty::config {

// nullopt on success; otherwise a message naming the key, the value and the cause. On error the level is
// still applied and records keep going to stderr.
std::optional<std::string> apply_logging(const settings& s);

}  // namespace rty::config
