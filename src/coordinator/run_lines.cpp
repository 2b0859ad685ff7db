// The daemon's lines about a run (run_lines.hpp).
#include "coordinator/run_lines.hpp"

#include <sstream>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "harvester/worker_heartbeat.hpp"
#include "rty/version.hpp"

namespace rty::coordinator {

std::string status_log_line(const engine_status& s, double events_per_s) {
  std::ostringstream line;
  line << "status: ranges ready " << s.ranges.ready << ", leased " << s.ranges.leased << ", finished "
       << s.ranges.finished << ", failed " << s.ranges.failed << " of " << s.ranges.total << "; nodes "
       << s.nodes_connected << " (" << s.pilots_idle << " without pilot, " << s.pilot_restarts
       << " pilot restarts); merges running " << s.merges_running << ", done " << s.merges_done << ", failed "
       << s.merges_failed << "; " << static_cast<long>(events_per_s) << " events/s"
       << (s.draining ? "; draining" : "");
  return line.str();
}

std::string progress_line(const status_input& in) {
  const auto& s = in.engine;
  auto done = ranges_done(s);
  double pct = s.ranges.total ? 100.0 * static_cast<double>(done) / static_cast<double>(s.ranges.total) : 100.0;
  std::ostringstream line;
  line << "\r\033[K[raythenad] " << done << "/" << s.ranges.total << " events (" << static_cast<int>(pct) << "%), "
       << s.ranges.failed << " failed, " << s.nodes_connected << " node(s), merges " << s.merges_done << " done/"
       << s.merges_running << " running, " << static_cast<long>(in.events_per_s_last_minute) << " events/s";
  if (auto eta = eta_seconds(in)) line << ", ETA " << static_cast<long>(*eta) << " s";
  if (s.draining) line << ", draining";
  return line.str();
}

progress run_progress(const engine_status& s, bool exhausted, bool draining) {
  progress p;
  p.done = ranges_done(s);
  p.outstanding = s.ranges.ready + s.ranges.leased;
  p.exhausted = exhausted;
  p.draining = draining;
  return p;
}

nothing_left describe_nothing_left(const bookkeeping::counts& c) {
  nothing_left out;
  const auto total_events = c.total;  // counted in events (inputs x events per input)
  out.all_merged = c.failed_events == 0 && c.merged_events >= total_events;
  if (out.all_merged) {
    out.line = "every event of this job is already merged (resumed run): finishing";
  } else {
    std::ostringstream line;
    line << "nothing left to do for this job (resumed run): " << c.merged_events << " of " << total_events
         << " events merged, " << c.failed_events << " in failed groups, none left to simulate; finishing";
    out.line = line.str();
  }
  return out;
}

status_input status_of(const run_view& v) {
  status_input in;
  in.version = rty::version;
  in.now = std::chrono::system_clock::now();
  in.started = v.started;
  if (v.job) {
    in.job_id = v.job->panda_id;
    in.task_id = v.job->task_id;
  }
  if (!v.eng) {
    in.state = std::string(v.phase);
    return in;
  }
  if (v.finished) in.state = std::string(v.phase);
  in.engine = v.eng->status();
  in.events_per_s_last_minute = v.events_per_s_last_minute;
  in.events_per_s_since_start = v.events_per_s_since_start;
  in.merge_errors = v.eng->merge_errors();
  for (auto& [conn, node] : v.eng->nodes())
    in.nodes.push_back(make_node_report(node, v.book ? v.book->leased_to(node.index) : 0,
                                        v.heard ? v.heard(conn) : std::nullopt, v.eng->draining()));
  if (v.kill_at_epoch > 0)
    in.walltime_deadline = std::chrono::system_clock::time_point(std::chrono::seconds(v.kill_at_epoch));
  return in;
}

std::chrono::seconds worker_heartbeat_every(const std::optional<harvester::queue_messenger>& queue,
                                            std::chrono::seconds configured, const std::string& path) {
  auto limit = queue ? queue->worker_heartbeat_minutes : std::nullopt;
  auto plan = harvester::plan_heartbeat(limit, configured);
  if (plan.every <= std::chrono::seconds(0)) return std::chrono::seconds(0);
  if (!plan.note.empty()) RTY_LOG(warning, "Driver") << plan.note;
  RTY_LOG(info, "Driver") << "worker heartbeat: " << path << " every " << plan.every.count() << " s (the queue's "
                          << "worker_heartbeat is " << *limit << " min)";
  return plan.every;
}

void write_worker_heartbeat(const std::string& path, std::string_view phase, const rty::job_spec* job,
                            const engine* eng) {
  harvester::heartbeat_state h;
  h.now = std::chrono::system_clock::now();
  h.state = phase;
  if (job) h.panda_id = job->panda_id;
  if (eng) {
    auto s = eng->status();
    h.ranges_done = ranges_done(s);
    h.ranges_total = s.ranges.total;
  }
  if (auto r = file::write_atomic(path, harvester::heartbeat_body(h)); !r)
    RTY_LOG(warning, "Driver") << "cannot write the worker heartbeat: " << r.error();
}

}  // namespace rty::coordinator
