#pragma once
// What the log says about progress at the default level, decided without I/O (the daemon only calls
// update() from its one-second timer and logs what comes back):
//   - once per `every` (a minute): "progress: 45% (450 of 1000 event ranges done, 3 failed), ETA
//     0-00:12:05, walltime left 0-03:12:45" (walltime left as squeue's TIME_LEFT: until the batch
//     job ends, D-HH:MM:SS; "no limit" without a time-monitor file);
//   - when the walltime drain is known, a separate line says when it starts ("drain starts at
//     2026-12-02 06:10:00 UTC, in 0-03:02:45 (walltime - payload.pilotkilltime)"): with the first
//     progress line and again whenever that time moves by a minute or more;
//   - once, when the run starts draining for whatever reason: "drain started: <why>; ...".
// Time is an argument: tests use a fake clock.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace rty::coordinator {

// squeue's D-HH:MM:SS ("0-03:12:45"; negative durations show as 0-00:00:00).
std::string format_time_left(double seconds);

struct progress_snapshot {
  using time_point = std::chrono::system_clock::time_point;
  std::uint64_t done = 0;    // event ranges finished or failed
  std::uint64_t failed = 0;  // of which failed
  std::uint64_t total = 0;
  std::optional<double> eta_s;           // status_report's eta_seconds
  std::optional<time_point> job_end;     // the batch job's end (walltime); nullopt: no limit
  std::optional<time_point> drain_at;    // when the walltime drain starts (job_end - pilotkilltime)
  bool draining = false;
  std::string drain_reason;              // why, once draining (may be empty)
};

struct status_input;
// The snapshot from the numbers /status shows: status_input's walltime_deadline is when the drain
// starts; the batch job ends pilot_kill_time later.
progress_snapshot progress_of(const status_input& in, std::string drain_reason, std::chrono::seconds pilot_kill_time);

class progress_log {
 public:
  using time_point = std::chrono::system_clock::time_point;
  explicit progress_log(std::chrono::seconds every = std::chrono::minutes(1)) : every_(every) {}

  // The first call starts the clock (nothing is printed then, unless the run already drains); later
  // calls return the lines due now, in order.
  std::vector<std::string> update(const progress_snapshot& s, time_point now);
  // Whether update() may return a line now: the caller can skip building the snapshot otherwise
  // (the daemon's timer runs every second, a snapshot walks every node).
  bool due(time_point now, bool draining) const {
    return !last_line_ || now - *last_line_ >= every_ || (draining && !drain_reported_);
  }

 private:
  std::chrono::seconds every_;
  std::optional<time_point> last_line_;
  std::optional<time_point> announced_drain_at_;
  bool drain_reported_ = false;
};

}  // namespace rty::coordinator
