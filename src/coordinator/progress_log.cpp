#include "coordinator/progress_log.hpp"

#include "common/utc_time.hpp"
#include "coordinator/status_report.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <sstream>

namespace rty::coordinator {
namespace {

double seconds_until(std::chrono::system_clock::time_point t, std::chrono::system_clock::time_point now) {
  return std::chrono::duration<double>(t - now).count();
}

std::string utc_text(std::chrono::system_clock::time_point t) { return format_utc(t, "%Y-%m-%d %H:%M:%S UTC"); }

std::string walltime_text(const progress_snapshot& s, std::chrono::system_clock::time_point now) {
  return s.job_end ? format_time_left(seconds_until(*s.job_end, now)) : std::string("no limit");
}

}  // namespace

std::string format_time_left(double seconds) {
  long long s = std::isfinite(seconds) && seconds > 0 ? std::llround(seconds) : 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld-%02lld:%02lld:%02lld", s / 86400, (s % 86400) / 3600, (s % 3600) / 60, s % 60);
  return buf;
}

progress_snapshot progress_of(const status_input& in, std::string drain_reason, std::chrono::seconds pilot_kill_time) {
  progress_snapshot s;
  s.done = ranges_done(in.engine);
  s.failed = in.engine.ranges.failed;
  s.total = in.engine.ranges.total;
  s.eta_s = eta_seconds(in);
  if (in.walltime_deadline) {
    s.drain_at = in.walltime_deadline;
    s.job_end = *in.walltime_deadline + pilot_kill_time;
  }
  s.draining = in.engine.draining;
  s.drain_reason = std::move(drain_reason);
  return s;
}

std::vector<std::string> progress_log::update(const progress_snapshot& s, time_point now) {
  std::vector<std::string> lines;
  if (s.draining && !drain_reported_) {
    drain_reported_ = true;
    lines.push_back("drain started" + (s.drain_reason.empty() ? std::string() : ": " + s.drain_reason) +
                    "; walltime left " + walltime_text(s, now));
  }
  if (!last_line_) {
    last_line_ = now;
    return lines;
  }
  if (now - *last_line_ < every_) return lines;
  last_line_ = now;
  std::ostringstream p;
  const double pct = s.total ? 100.0 * static_cast<double>(s.done) / static_cast<double>(s.total) : 100.0;
  p << "progress: " << static_cast<int>(std::floor(pct)) << "% (" << s.done << " of " << s.total
    << " event ranges done, " << s.failed << " failed), ETA " << (s.eta_s ? format_time_left(*s.eta_s) : "unknown")
    << ", walltime left " << walltime_text(s, now);
  lines.push_back(p.str());
  if (s.drain_at && !s.draining) {
    bool moved = !announced_drain_at_ || std::chrono::abs(*s.drain_at - *announced_drain_at_) >= std::chrono::minutes(1);
    if (moved) {
      announced_drain_at_ = s.drain_at;
      lines.push_back("drain starts at " + utc_text(*s.drain_at) + ", in " +
                      format_time_left(seconds_until(*s.drain_at, now)) + " (walltime - payload.pilotkilltime)");
    }
  }
  return lines;
}

}  // namespace rty::coordinator
