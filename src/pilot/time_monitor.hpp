#pragma once
// The time-monitor file written by the batch script (docs/pilot-protocol.md) and the moment the kill file
// must be written.
//
// File format: line 1 is the job's start time of day as printed by `date +%H:%M:%S` on the batch node,
// i.e. LOCAL time; line 2 is the walltime limit as printed by `squeue -o %l` (Slurm `mins2time_str`:
// `HH:MM:SS` or `D-HH:MM:SS`, older Slurm `H:MM:SS`), or Raythena's historical `MM:SS`. Slurm's
// input forms `D-HH`, `D-HH:MM` and plain minutes are accepted too. `UNLIMITED`, `NOT_SET`, `INVALID`
// and anything else are errors: the caller then runs no timer (Raythena only logs a warning).
#include "common/error.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace rty::pilot {

struct time_monitor {
  int start_seconds_of_day = 0;    // local time of day at job start, 0..86399
  std::int64_t limit_seconds = 0;  // walltime limit, may exceed one day
};

rty::result<time_monitor> parse_time_monitor(std::string_view text);

// Walltime limit alone (line 2 syntax); exposed for the config's own limit overrides.
rty::result<std::int64_t> parse_walltime(std::string_view text);

// Absolute time at which the kill file must be written: job start + limit - pilotkilltime.
//
// The job start is the latest local instant whose time of day is `start_seconds_of_day` and which is
// not after `file_written_or_now` (Raythena's +24 h wrap rule: a start time of day later than the
// reference means the job started yesterday). Pass the file's mtime when available: the batch script
// writes the file right after the job starts, so the reference is then unambiguous even for
// multi-day limits; `now` is only correct within 24 h of the start. Local time is resolved with the
// process's TZ (localtime_r/mktime), so DST changes between start and reference are respected.
std::chrono::system_clock::time_point kill_deadline(const time_monitor& monitor,
                                                    std::chrono::system_clock::time_point file_written_or_now,
                                                    std::chrono::seconds pilotkilltime);

}  // namespace rty::pilot
