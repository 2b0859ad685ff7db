#include "coordinator/supervisor.hpp"

#include "coordinator/daemon.hpp"

#include <algorithm>

namespace rty::coordinator {

const std::error_category& exit_category() {
  struct category : std::error_category {
    const char* name() const noexcept override { return "raythenad exit"; }
    std::string message(int code) const override {
      switch (code) {
        case exit_success: return "success";
        case exit_runtime_error: return "runtime error";
        case exit_config_error: return "configuration error";
        case exit_incomplete: return "incomplete";
        case exit_events_failed: return "events failed";
        case exit_harvester_error: return "Harvester error";
      }
      return "exit code " + std::to_string(code);
    }
  };
  static const category instance;
  return instance;
}

using namespace std::chrono_literals;

std::string_view to_string(phase p) {
  switch (p) {
    case phase::awaiting_job: return "waiting for job";
    case phase::preparing: return "preparing";
    case phase::launching: return "launching";
    case phase::running: return "running";
    case phase::draining: return "draining";
    case phase::finishing: return "finishing";
    case phase::done: return "done";
  }
  return "?";
}

decision supervisor::start_drain(std::string why, std::optional<time_point> stop_at, std::string stop_why) {
  decision d;
  d.drain = std::move(why);
  advance(phase::draining);
  // An earlier hard stop (set by a signal, or the walltime) stands.
  if (stop_at && (!hard_stop_at_ || *stop_at < *hard_stop_at_)) {
    hard_stop_at_ = stop_at;
    hard_stop_why_ = std::move(stop_why);
    d.hard_stop_at = stop_at;
  }
  return d;
}

decision supervisor::stop_signal(std::string_view signal_name, time_point now) {
  if (finished()) return {};  // already writing the end of the run
  ++stop_signals_;
  const std::string sig(signal_name);
  if (!has_engine()) {
    decision d;
    d.abort = phase_ == phase::awaiting_job ? "stopped (" + sig + ") while waiting for the job from Harvester"
                                            : "stopped (" + sig + ") before the run started";
    return d;
  }
  if (stop_signals_ > 1) {
    decision d;
    d.stop_now = "second stop signal (" + sig + ")";
    return d;
  }
  // The short form of the walltime drain: pilots get a moment to report, then everything stops.
  auto d = start_drain("signal " + sig, now + std::min<std::chrono::seconds>(30s, s_.pilot_kill_time),
                       "drain period after the stop signal is over");
  d.log_warning = "received " + sig + ": draining, checkpoint saved";
  d.checkpoint = "signal";
  return d;
}

decision supervisor::walltime_reached(time_point now) {
  if (finished() || !has_engine()) return {};
  // Leave half of the kill time for pilots to finish and merges to run, then stop for sure.
  return start_drain("walltime: less than payload.pilotkilltime left",
                     now + std::max<std::chrono::seconds>(5s, s_.pilot_kill_time / 2), "walltime nearly over");
}

decision supervisor::hard_stop_due() {
  if (finished() || !hard_stop_at_) return {};
  decision d;
  d.stop_now = hard_stop_why_;
  return d;
}

decision supervisor::tick(const progress& p, time_point now) {
  if (p.done != last_done_) {
    last_done_ = p.done;
    last_progress_ = now;
    return {};
  }
  if (phase_ != phase::running || p.draining || s_.inactivity_limit.count() <= 0) return {};
  if (!last_progress_ || p.outstanding == 0) return {};
  if (now - *last_progress_ < s_.inactivity_limit) return {};
  const std::string why = "no event range finished or failed for " + std::to_string(s_.inactivity_limit.count()) +
                          " s (ray.timeoutinterval)";
  auto d = start_drain(why, now + std::min<std::chrono::seconds>(30s, s_.pilot_kill_time),
                       "drain period after " + why + " is over");
  d.log_warning = why + ": pilots look stuck";
  d.checkpoint = "inactivity";
  return d;
}

decision supervisor::no_stub_left(const progress& p) {
  if (phase_ != phase::running || p.draining || p.exhausted) return {};  // exhausted: only merges are left
  return start_drain("no stub is running any more", std::nullopt, "");
}

decision supervisor::engine_running(bool running) {
  decision d;
  if (!finished() && has_engine() && !running) d.finish = true;
  return d;
}

decision supervisor::checkpoint_failed(bool engine_running) {
  decision d;
  if (finished()) return d;
  // Progress that cannot be recorded would be redone anyway (e.g. the task directory is full): stop
  // taking new work; the next run resumes from the previous checkpoint (exit incomplete).
  d.hold_merges = has_engine();
  if (has_engine() && engine_running) {
    auto drain = start_drain("the checkpoint cannot be written", std::nullopt, "");
    d.drain = std::move(drain.drain);
  }
  return d;
}

std::optional<supervisor::time_point> supervisor::checkpoint_requested() {
  if (checkpoint_due_ || final_written_) return std::nullopt;
  checkpoint_due_ = true;
  return last_checkpoint_end_ + std::max<clock::duration>(1s, 9 * last_checkpoint_cost_);
}

void supervisor::checkpoint_written(time_point started, time_point ended) {
  last_checkpoint_end_ = ended;
  last_checkpoint_cost_ = ended - started;
  checkpoint_due_ = false;  // whatever asked for one: this one covers it (or failed as it would)
}

int final_exit_code(const end_of_run& e) {
  if (!e.report_written) return exit_runtime_error;  // Harvester would see success and find no report
  // Harvester's post-processing reads state.json for the outputs: an outdated one is no success. (A
  // drained run stays incomplete: the next one resumes from the previous checkpoint.)
  if (e.complete && !e.final_checkpoint_written) return exit_runtime_error;
  if (e.complete) return e.all_merged ? exit_success : exit_events_failed;
  return exit_incomplete;
}

}  // namespace rty::coordinator
