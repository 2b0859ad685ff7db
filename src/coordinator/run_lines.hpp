#pragma once
// The daemon's views of a run: the periodic status log line (also systemd's STATUS=), the
// terminal's live progress line, what a resumed run with nothing left says, and the progress the
// supervisor watches.
// Plain functions of their inputs, unit-tested.
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "bookkeeping/bookkeeper.hpp"
#include "common/job_spec.hpp"
#include "coordinator/engine.hpp"
#include "coordinator/status_report.hpp"
#include "coordinator/supervisor.hpp"
#include "harvester/queue_config.hpp"

namespace rty::coordinator {

// "status: ranges ready …; … events/s[; draining]"; the part after "status: " is systemd's status.
std::string status_log_line(const engine_status& s, double events_per_s);
inline constexpr std::size_t status_log_prefix = 8;  // strlen("status: ")

// "\r\033[K[raythenad] done/total events (pct%), …": redraws one terminal line.
std::string progress_line(const status_input& in);

// What the supervisor watches of the engine (ranges done, outstanding, exhausted, draining).
progress run_progress(const engine_status& s, bool exhausted, bool draining);

struct nothing_left {
  bool all_merged = false;  // every event merged (info), else some are in failed groups (warning)
  std::string line;
};
// A resumed run whose book has nothing left to do: whether that is everything merged, and the line.
nothing_left describe_nothing_left(const bookkeeping::counts& c);

// What /status, /metrics, the status line and the terminal show, from the run's parts. `engine` and
// `book` may be null (no job yet); `heard` gives the seconds since a stub's last frame.
struct run_view {
  std::string_view phase;  // the supervisor's phase name
  bool finished = false;
  std::chrono::system_clock::time_point started;
  const rty::job_spec* job = nullptr;
  const engine* eng = nullptr;
  const bookkeeping::bookkeeper* book = nullptr;
  double events_per_s_last_minute = 0, events_per_s_since_start = 0;
  std::function<std::optional<double>(conn_id)> heard;
  std::int64_t kill_at_epoch = 0;  // 0: no walltime limit
};
status_input status_of(const run_view& v);

// The queue's worker_heartbeat (minutes), if any, against harvester.heartbeatinterval: how often the
// heartbeat file is written (0 s: never), with the log lines that say so.
std::chrono::seconds worker_heartbeat_every(const std::optional<harvester::queue_messenger>& queue,
                                            std::chrono::seconds configured, const std::string& path);

// Rewrites Harvester's worker heartbeat file atomically (its mtime is what Harvester's monitor
// checks), with the run's phase and progress; a failure is a warning.
void write_worker_heartbeat(const std::string& path, std::string_view phase, const rty::job_spec* job,
                            const engine* eng);

}  // namespace rty::coordinator
