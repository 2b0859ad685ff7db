#pragma once
// A wall-clock time in UTC, as strftime's `format` writes it: the one formatter for the progress
// line, `raythenad report`, Harvester's heartbeat body and the quarantine names of corrupt files.
#include <chrono>
#include <ctime>
#include <string>

namespace rty {

// At most 63 characters of output (longer formats give an empty string, as strftime does).
inline std::string format_utc(std::chrono::system_clock::time_point t, const char* format) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[64];
  const std::size_t n = std::strftime(buf, sizeof buf, format, &tm);
  return std::string(buf, n);
}

}  // namespace rty
