#pragma once
// The run's life cycle as a sans-I/O state machine: the daemon reports what happened (a stop signal,
// the walltime, a tick, a checkpoint's result, the stubs being gone, the engine's outcome) and gets back
// what to do (a decision). The policy that used to be spread over daemon.cpp's flags lives here:
//   - checkpoint pacing: merge results are coalesced, so that checkpoints take at most a tenth of the
//     event loop's time and are at least a second apart (a lone one is written at once);
//   - the two-stage stop: the first SIGTERM/SIGINT drains (checkpoint, kill files, a short drain period,
//     then a hard stop), the second stops at once;
//   - walltime: drain at walltime - payload.pilotkilltime, hard stop half the kill time later (an
//     earlier hard stop that a signal set stands);
//   - ray.timeoutinterval, Raythena's inactivity watchdog: once a range has finished, no range finishing
//     or failing for that long while some are ready or leased means stuck pilots: drain;
//   - nobody left to process ranges (no stub alive) drains; a checkpoint that cannot be written drains;
//   - the exit code (exit_code()).
// The daemon applies a decision in the order of its fields. Time comes in as arguments (tests use a
// fake clock).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rty::coordinator {

enum class phase { awaiting_job, preparing, launching, running, draining, finishing, done };
std::string_view to_string(phase p);


struct supervisor_settings {
  std::chrono::seconds inactivity_limit{0};  // ray.timeoutinterval; 0 = off
  std::chrono::seconds pilot_kill_time{600};  // payload.pilotkilltime
};

struct decision {
  using time_point = std::chrono::steady_clock::time_point;
  std::optional<std::string> log_warning;     // what the operator should read, if anything
  std::optional<std::string> checkpoint;      // write one now, for this reason
  bool hold_merges = false;                   // the checkpoint cannot be written: start no merge
  std::optional<std::string> drain;           // drain the engine, for this reason
  std::optional<time_point> hard_stop_at;     // (re)arm the hard stop for then
  std::optional<std::string> stop_now;        // stop nodes and finish now, for this reason
  std::optional<std::string> abort;           // no engine yet: give up with exit_incomplete, for this reason
  bool finish = false;                        // the engine's outcome is settled: write the end of the run
  bool empty() const {
    return !log_warning && !checkpoint && !hold_merges && !drain && !hard_stop_at && !stop_now && !abort && !finish;
  }
};

// What the engine says, for the watchdog and the drain rules (no engine types here).
struct progress {
  std::uint64_t done = 0;        // ranges finished or failed so far
  std::uint64_t outstanding = 0;  // ready + leased
  bool exhausted = false;        // every range is done; only merges may be left
  bool draining = false;         // the engine drains, or its outcome is settled, for whatever reason
};

class supervisor {
 public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  explicit supervisor(supervisor_settings s) : s_(s) {}

  phase current() const { return phase_; }
  bool finished() const { return phase_ >= phase::finishing; }
  bool has_engine() const { return phase_ >= phase::launching; }

  // Life-cycle steps the daemon reaches. started_running: `done` ranges were restored (not progress).
  void job_acquired() { advance(phase::preparing); }
  void engine_created(std::uint64_t restored_done) {
    advance(phase::launching);
    last_done_ = restored_done;
  }
  void stubs_launched() { advance(phase::running); }

  decision stop_signal(std::string_view signal_name, time_point now);
  decision walltime_reached(time_point now);
  decision hard_stop_due();
  decision tick(const progress& p, time_point now);
  decision no_stub_left(const progress& p);
  decision engine_running(bool running);  // the engine's outcome after any event: finish once settled
  decision checkpoint_failed(bool engine_running);

  // Checkpoint pacing. request: when to write the checkpoint asked for (nullopt: one is already due,
  // or the final one is written). written: after any checkpoint, with what it cost.
  std::optional<time_point> checkpoint_requested();
  void checkpoint_written(time_point started, time_point ended);
  bool checkpoint_due() const { return checkpoint_due_; }
  // Entering finishing: no checkpoint after the final one.
  void finishing() { advance(phase::finishing); }
  void final_checkpoint_written() { final_written_ = true; }
  bool checkpoints_closed() const { return final_written_; }
  void done() { phase_ = phase::done; }

  int stop_signals() const { return stop_signals_; }
  const std::optional<time_point>& hard_stop_at() const { return hard_stop_at_; }

 private:
  void advance(phase p) {
    if (p > phase_) phase_ = p;
  }
  decision start_drain(std::string why, std::optional<time_point> hard_stop_at, std::string hard_stop_why);

  supervisor_settings s_;
  phase phase_ = phase::awaiting_job;
  int stop_signals_ = 0;
  std::optional<time_point> hard_stop_at_;
  std::string hard_stop_why_;
  std::uint64_t last_done_ = 0;
  std::optional<time_point> last_progress_;
  bool checkpoint_due_ = false;
  bool final_written_ = false;
  time_point last_checkpoint_end_{};
  clock::duration last_checkpoint_cost_{};
};

// The exit code at the end of a run (README "Exit codes"): the report must be written; a complete run
// also needs its final checkpoint (Harvester reads the outputs from it) and every event merged.
struct end_of_run {
  bool report_written = false;
  bool final_checkpoint_written = false;
  bool complete = false;     // the engine's outcome: complete (else drained)
  bool all_merged = false;
};
int final_exit_code(const end_of_run& e);

}  // namespace rty::coordinator
