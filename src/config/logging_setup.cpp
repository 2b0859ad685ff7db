#include "config/logging_setup.hpp"

#include "common/log.hpp"

namespace rty::config {

std::optional<std::string> apply_logging(const settings& s) {
  rty::log::level level{};
  std::optional<std::string> error;
  if (rty::log::parse_level(s.logging.level, level))
    rty::log::set_level(level);
  else
    error = "logging.level: bad value '" + s.logging.level + "'; expected debug, info, warning, error or critical";
  if (s.logging.driverlogfile) {
    if (auto r = rty::log::set_file(*s.logging.driverlogfile); !r)
      return "logging.driverlogfile: cannot open '" + *s.logging.driverlogfile + "': " + r.error().message();
  } else {
    rty::log::set_stderr();
  }
  return error;
}

}  // namespace rty::config
