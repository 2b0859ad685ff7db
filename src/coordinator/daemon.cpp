// The coordinator's I/O shell: one io_context on one thread owns the run. It gets the job from
// Harvester, listens for stubs, launches them, turns channel frames, child exits, signals and timers
// into engine calls, writes the checkpoint, and finishes the run (renames, final report).
// Its parts: stub_server (the stubs' port and channels), status_server (/status, /metrics),
// child_processes (merges and stubs), range_feed (Harvester's event feed), task_setup and run_setup
// (what a run derives from its configuration and task directory). The decisions are taken by the
// supervisor and the engine; this file only carries them out.
#include "coordinator/daemon.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "common/file_util.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "common/task_lock.hpp"
#include "coordinator/children.hpp"
#include "coordinator/engine.hpp"
#include "coordinator/finalize.hpp"
#include "coordinator/progress_log.hpp"
#include "coordinator/range_feed.hpp"
#include "coordinator/run_lines.hpp"
#include "coordinator/run_setup.hpp"
#include "coordinator/status_report.hpp"
#include "coordinator/status_server.hpp"
#include "coordinator/stub_server.hpp"
#include "coordinator/supervisor.hpp"
#include "coordinator/task_setup.hpp"
#include "harvester/messenger.hpp"
#include "launch/launcher.hpp"
#include "net/spawn.hpp"
#include "rty/version.hpp"

namespace rty::coordinator {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using namespace std::chrono_literals;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr const char* log_name = "Driver";

class daemon final : public engine_io, public stub_events, public std::enable_shared_from_this<daemon> {
 public:
  daemon(asio::io_context& io, const config::settings& cfg)
      : io_(io), cfg_(cfg), signals_(io, SIGCHLD, SIGTERM, SIGINT), status_timer_(io),
        checkpoint_timer_(io), heartbeat_timer_(io), walltime_timer_(io), hard_stop_timer_(io), harvester_timer_(io),
        progress_timer_(io), dump_timer_(io), rate_timer_(io), watchdog_timer_(io),
        stubs_(std::make_shared<stub_server>(
            io, *this, stub_server_settings{cfg.ray.heartbeattimeout, coordinator::heartbeat_interval(cfg)})),
        status_(std::make_shared<status_server>(io, [this] { return make_status_input(); })) {
    signals_.add(SIGUSR1);
  }

  int exit_code() const { return exit_code_; }
  // Files handed to the file worker are all removed before the process ends.
  void finish_file_work() { file_worker_.join(); }
  // Read before the engine exists: the kill time goes to every stub in its welcome.
  void read_time_monitor() { kill_at_epoch_ = read_kill_deadline(cfg_); }

  void start() {
    asio::co_spawn(io_, main(), [self = shared_from_this()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        RTY_LOG(critical, log_name) << "internal error: " << ex.what();
      }
      if (self->launcher_) self->launcher_->stop_all();
      self->fail(exit_runtime_error, "stopping after the internal error");
    });
  }

  // --- engine_io -----------------------------------------------------------------------------------

  void send(conn_id to, const boost::json::object& message) override { stubs_->send(to, message); }
  void close(conn_id node, const std::string& reason) override { stubs_->close_after_flush(node, reason); }
  bool start_merge(const merge::merge_command& command) override { return children_.start_merge(command); }
  bool start_remote_merge(conn_id node, const merge::merge_command& command) override {
    // The node sees the same shared filesystem: the work dir is prepared here, as for a local merge.
    if (!prepare_merge_dir(command)) return false;
    protocol::merge_run run;
    run.output_name = command.output_name;
    run.attempt = command.attempt;
    run.argv = command.argv;
    run.work_dir = command.work_dir;
    run.log_path = command.log_path;
    stubs_->send(node, run.to_json());
    return true;
  }

  void ranges_reported(const std::vector<rty::range_update>& updates) override {
    if (harvester_source()) messenger_->queue_update(job_->panda_id, status_only(updates));
  }

  void merge_recorded(const rty::merge_task& task, bool succeeded) override {
    // The per-range files of a merged group may go once a checkpoint records the merge (until then a
    // crash merges the group again, from them); Raythena's cleaner thread did this every 60 s by name.
    if (succeeded)
      for (auto& in : task.inputs) unlink_after_checkpoint_.push_back(in.path);
    request_checkpoint("merge result");
  }

  // --- stub_events ---------------------------------------------------------------------------------

  bool accepting_stubs() const override { return !sup_.finished(); }
  void stub_joined(conn_id id, const protocol::hello& hello, const std::string& peer) override {
    engine_->node_joined(id, hello, peer);
  }
  void stub_message(conn_id id, const boost::json::object& message) override { engine_->message(id, message); }
  void stub_lost(conn_id id, const std::string& reason) override {
    if (engine_) engine_->node_lost(id, reason);
  }
  void stubs_settled() override {
    drain_if_no_stub_left();
    check_done();
  }

 private:
  // Merge results come dozens a second on a large allocation, and each checkpoint rewrites the whole
  // state.json (a second for millions of ranges): they are coalesced, so that checkpoints take at most
  // a tenth of the event loop's time, and are at least a second apart. A lone merge result is written
  // at once.
  void request_checkpoint(const char* why) {
    if (!book_) return;
    auto when = sup_.checkpoint_requested();
    if (!when) return;
    coalesce_timer_.expires_at(*when);
    coalesce_timer_.async_wait([self = shared_from_this(), why](boost::system::error_code ec) {
      if (ec || !self->sup_.checkpoint_due()) return;
      self->save_checkpoint(why);
    });
  }

  // Carries out what the supervisor decided, in the order of its fields.
  void apply(const decision& d) {
    if (d.log_warning) RTY_LOG(warning, log_name) << *d.log_warning;
    if (d.checkpoint) save_checkpoint(d.checkpoint->c_str());
    if (d.hold_merges && engine_) engine_->hold_merges("the checkpoint cannot be written");
    if (d.drain && engine_) {
      notifier_.stopping("draining: " + *d.drain);
      engine_->drain(*d.drain);
    }
    if (d.hard_stop_at) {
      hard_stop_timer_.expires_at(*d.hard_stop_at);
      hard_stop_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        if (!ec) self->apply(self->sup_.hard_stop_due());
      });
    }
    if (d.stop_now) hard_stop(*d.stop_now);
    if (d.abort) {
      harvester_timer_.cancel();
      fail(exit_incomplete, *d.abort);
    }
    if (d.finish) finish_run();
    if (d.drain || d.checkpoint) check_done();
  }

  progress engine_progress() const {
    if (!engine_) return {};
    return run_progress(engine_->status(), book_->exhausted(),
                        engine_->draining() || engine_->outcome() != run_outcome::running);
  }

  // --- the run -------------------------------------------------------------------------------------

  awaitable<void> main() {
    auto self = shared_from_this();
    RTY_LOG(info, log_name) << "raythenad " << rty::version << " starting; workdir " << cfg_.ray.workdir;
    watch_signals();
    status_->start(cfg_.ray.statusaddress, cfg_.ray.workdir);
    arm_watchdog();
    notifier_.ready("waiting for the job from Harvester");
    if (!co_await acquire_job()) co_return;
    if (!prepare_task()) co_return;
    if (auto listening = stubs_->listen(stub_listen_address(cfg_), cfg_.ray.workdir); !listening) {
      fail(exit_runtime_error, listening.error().message());
      co_return;
    }
    engine_ = std::make_unique<engine>(make_engine_settings(cfg_, *job_, queuedata_, task_dir_, kill_at_epoch_), *job_,
                                       *book_, *this);
    rate_.start(std::chrono::steady_clock::now(), ranges_done(engine_->status()));
    sup_.engine_created(ranges_done(engine_->status()));  // restored ranges are not progress of this run
    notifier_.status("running job " + job_->panda_id);
    if (engine_->outcome() == run_outcome::complete) {
      // Nothing is left to do, which is not the same as everything merged: say which it is.
      const auto left = describe_nothing_left(book_->get_counts());
      if (auto l = left.all_merged ? log::level::info : log::level::warning; log::enabled(l))
        log::record(l, log_name) << left.line;
      finish_run();
      co_return;
    }
    stubs_->start_accepting();
    if (!launch_stubs()) co_return;
    sup_.stubs_launched();
    if (harvester_source()) {
      asio::co_spawn(io_, feed_ranges(), net::log_exceptions(log_name, "Harvester range feed"));
      arm_periodic(dump_timer_, 1s, [this] { flush_dumps(false); });
    }
    arm_periodic(status_timer_, cfg_.ray.statusinterval, [this] { log_status(); });
    arm_periodic(rate_timer_, 1s, [this] {
      sample_rate();
      // progress_log decides what the minute progress line and the drain lines say, and when.
      if (engine_ && progress_log_.due(std::chrono::system_clock::now(), engine_->draining()))
        for (auto& line : progress_log_.update(progress_of(make_status_input(), engine_->drain_reason(),
                                                           cfg_.payload.pilotkilltime),
                                               std::chrono::system_clock::now()))
          RTY_LOG(info, log_name) << line;
      apply(sup_.tick(engine_progress(), std::chrono::steady_clock::now()));
      if (engine_ && !sup_.finished()) {
        engine_->tick();  // pilot restarts whose backoff is over
        check_done();
      }
    });
    if (::isatty(STDOUT_FILENO)) arm_periodic(progress_timer_, 1s, [this] { show_progress(); });
    arm_periodic(checkpoint_timer_, cfg_.ray.checkpointinterval, [this] { save_checkpoint("periodic"); });
    arm_periodic(heartbeat_timer_, std::chrono::milliseconds(heartbeat_interval(cfg_)) / stub_server::heartbeat_slices,
                 [this] { stubs_->heartbeat_tick(); });
    arm_walltime();
    check_done();
  }

  awaitable<bool> acquire_job() {
    if (auto problem = open_harvester(cfg_, messenger_, queuedata_, queue_messenger_)) {
      fail(exit_harvester_error, *problem);
      co_return false;
    }
    start_worker_heartbeat(messenger_->files().heartbeat);
    for (;;) {
      auto result = messenger_->poll_job(harvester::clock::now());
      if (auto* ready = std::get_if<harvester::job_ready>(&result)) {
        job_ = std::move(ready->job);
        sup_.job_acquired();
        RTY_LOG(info, log_name) << "got job " << job_->panda_id << " (task " << job_->task_id << ", "
                                << job_->in_files.size() << " input file(s) x " << job_->events_per_input
                                << " events) from " << ready->path;
        co_return true;
      }
      if (auto* failed = std::get_if<harvester::failed>(&result)) {
        fail(exit_harvester_error, failed->message);
        co_return false;
      }
      auto& w = std::get<harvester::waiting>(result);
      harvester_timer_.expires_after(w.delay);
      auto [ec] = co_await harvester_timer_.async_wait(as_tuple_awaitable);
      if (ec) co_return false;  // cancelled: a stop signal ended the run (supervisor: abort)
    }
  }

  bool prepare_task() {
    open_task_result task;
    auto opened = open_task(cfg_, *job_, task_lock_, task);
    task_dir_ = task.dir;
    book_ = std::move(task.book);
    commit_log_ = std::move(task.commit_log);
    if (!opened) fail(opened.error().code().value(), opened.error().message());
    return bool(opened);
  }

  std::string checkpoint_path() const { return coordinator::checkpoint_path(task_dir_); }

  bool harvester_source() const { return cfg_.harvester.eventsource == config::event_source::harvester; }

  // harvester.eventsource = harvester: ranges come from Harvester's event feed (range_feed.hpp).
  awaitable<void> feed_ranges() {
    auto self = shared_from_this();
    const auto sizes = range_feed_sizes(cfg_.resources.corepernode, node_count(cfg_), cfg_.ray.cachesizefactor);
    RTY_LOG(info, log_name) << "event ranges come from Harvester, " << sizes.ask << " per request";
    range_feed feed(*messenger_, *book_, *job_, sizes);
    while (!sup_.finished() && feed.active()) {
      auto step = feed.step(harvester::clock::now());
      if (step.supplied) {
        engine_->ranges_supplied();
        check_done();
      }
      if (step.ended) co_return;
      harvester_timer_.expires_after(step.delay);
      auto [ec] = co_await harvester_timer_.async_wait(as_tuple_awaitable);
      if (ec) co_return;
    }
  }

  // Range results go to Harvester's event-status dump at the messenger's pace (forced at the end).
  void flush_dumps(bool force) {
    if (!harvester_source() || !messenger_) return;
    auto r = messenger_->flush_updates(harvester::clock::now(), force);
    if (!r.error.empty()) RTY_LOG(error, log_name) << "event status dump: " << r.error;
  }

  bool launch_stubs() {
    auto r = make_launch_request(cfg_, *job_, stubs_->listen_address(), stubs_->secret(), stubs_->secret_file());
    launcher_ = launch::make_launcher(cfg_.ray.launcher);
    if (!children_.add_launched(launcher_->launch(r))) {
      fail(exit_runtime_error, "no stub could be started with the " + launcher_->name() + " launcher");
      return false;
    }
    return true;
  }

  // --- processes and signals -----------------------------------------------------------------------

  void watch_signals() {
    signals_.async_wait([self = shared_from_this()](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD)
        self->reap_children();
      else if (sig == SIGUSR1 && self->save_checkpoint("SIGUSR1") && self->book_)
        RTY_LOG(info, log_name) << "checkpoint written to " << self->checkpoint_path() << " (SIGUSR1)";
      else
        self->on_stop_signal(sig);
      self->watch_signals();
    });
  }

  void reap_children() {
    for (auto& exit : children_.reap())
      if (engine_ && !sup_.finished()) engine_->merge_exited(exit.output, exit.status);
    drain_if_no_stub_left();
    check_done();
  }

  // Nobody left to process ranges (local/srun children reaped, remote ssh stubs ended, none
  // connected): merge what is complete and stop; the next run resumes. Checked on SIGCHLD and on the
  // heartbeat tick, because remote stubs are not our children.
  void drain_if_no_stub_left() {
    if (!launcher_ || !engine_) return;
    if (children_.stubs_left() || !stubs_->empty() || launcher_->remote_alive() > 0) return;
    apply(sup_.no_stub_left(engine_progress()));
  }

  void on_stop_signal(int sig) { apply(sup_.stop_signal(::strsignal(sig), std::chrono::steady_clock::now())); }

  void hard_stop(const std::string& why) {
    if (sup_.finished()) return;
    RTY_LOG(warning, log_name) << "stopping now: " << why;
    if (!engine_) {
      fail(exit_incomplete, why);
      return;
    }
    engine_->stop_nodes(why);
    finish_run();
  }

  // At walltime - payload.pilotkilltime the supervisor drains the run.
  void arm_walltime() {
    if (kill_at_epoch_ <= 0) return;
    auto deadline = std::chrono::system_clock::time_point(std::chrono::seconds(kill_at_epoch_));
    auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - std::chrono::system_clock::now());
    walltime_timer_.expires_after(std::max<std::chrono::steady_clock::duration>(delay, 0s));
    walltime_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->apply(self->sup_.walltime_reached(std::chrono::steady_clock::now()));
    });
  }

  // --- periodic ------------------------------------------------------------------------------------

  template <class F>
  void arm_periodic(asio::steady_timer& timer, std::chrono::steady_clock::duration every, F f) {
    if (every <= 0s) return;
    timer.expires_after(every);
    timer.async_wait([self = shared_from_this(), &timer, every, f](boost::system::error_code ec) {
      if (ec || self->sup_.finished()) return;
      f();
      self->arm_periodic(timer, every, f);
    });
  }

  // Harvester's monitor kills a worker whose heartbeat file is older than the queue's worker_heartbeat.
  void start_worker_heartbeat(const std::string& path) {
    auto every = worker_heartbeat_every(queue_messenger_, cfg_.harvester.heartbeatinterval, path);
    auto beat = [this, path] {
      write_worker_heartbeat(path, to_string(sup_.current()), job_ ? &*job_ : nullptr, engine_.get());
    };
    if (every > 0s) beat(), arm_periodic(worker_heartbeat_timer_, every, beat);
  }

  // One set of numbers for the log line, the terminal's live line, /status and /metrics.
  void sample_rate() {
    if (engine_) rate_.sample(std::chrono::steady_clock::now(), ranges_done(engine_->status()));
  }

  void log_status() {
    if (auto n = stubs_->take_suppressed_refusals())
      RTY_LOG(warning, log_name) << n << " more connection(s) cut or refused on the stub port without a line each";
    sample_rate();
    auto line = status_log_line(engine_->status(), rate_.window_rate());
    if (auto errors = last_errors_text(engine_->nodes(), engine_->merge_errors()); !errors.empty())
      line += "; last errors: " + errors;
    RTY_LOG(info, log_name) << line;
    notifier_.status(line.substr(status_log_prefix));
  }

  // A one-line live display when stdout is a terminal (the log goes to stderr or a file).
  void show_progress() {
    sample_rate();
    const std::string text = progress_line(make_status_input());
    (void)!::write(STDOUT_FILENO, text.data(), text.size());
    progress_shown_ = true;
  }

  status_input make_status_input() {
    return status_of({to_string(sup_.current()), sup_.finished(), started_wall_, job_ ? &*job_ : nullptr,
                      engine_.get(), book_.get(), rate_.window_rate(), rate_.overall_rate(),
                      [this, now = std::chrono::steady_clock::now()](conn_id c) {
                        return stubs_->seconds_since_heard(c, now);
                      },
                      kill_at_epoch_});
  }

  void arm_watchdog() {
    auto every = notifier_.watchdog_ping_interval();
    if (!every) return;
    watchdog_timer_.expires_after(*every);
    watchdog_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->notifier_.watchdog();
      self->arm_watchdog();
    });
  }

  // True when state.json now holds the book (or there is nothing to write).
  bool save_checkpoint(const char* why, const std::map<std::string, std::string>& renamed = {}) {
    if (!book_ || sup_.checkpoints_closed()) return true;  // the final one (with renamed outputs) stands
    // Streamed, not built (a 10 M-range state.json is gigabytes as a document). After the final renames,
    // Harvester's post-processing must find the outputs under their names.
    auto emit = [&](bookkeeping::json_stream& out) { book_->write_snapshot(out, renamed, task_dir_ + "/final"); };
    const auto started = std::chrono::steady_clock::now();
    const auto saved = bookkeeping::save_checkpoint_streamed(checkpoint_path(), emit);
    sup_.checkpoint_written(started, std::chrono::steady_clock::now());
    if (!saved) {
      RTY_LOG(error, log_name) << "checkpoint (" << why << ") not written, the previous one is kept: " << saved.error();
      auto d = sup_.checkpoint_failed(engine_ && engine_->outcome() == run_outcome::running);
      // Applied after this call returns: the caller may be in the middle of a decision itself.
      asio::post(io_, [self = shared_from_this(), d] { self->apply(d); });
      return false;
    }
    RTY_LOG(debug, log_name) << "checkpoint written (" << why << ")";
    // A group can hold hundreds of thousands of files: removing them is no work for the event loop.
    if (!unlink_after_checkpoint_.empty())
      asio::post(file_worker_, [paths = std::exchange(unlink_after_checkpoint_, {})] {
        for (auto& path : paths) ::unlink(path.c_str());
      });
    return true;
  }

  // --- the end -------------------------------------------------------------------------------------

  void check_done() {
    if (!engine_) return;
    if (sup_.engine_running(engine_->outcome() == run_outcome::running).finish) finish_run();
  }

  void finish_run() {
    if (sup_.finished()) return;
    sup_.finishing();
    auto outcome = engine_->outcome();
    for (auto* t : {&status_timer_, &checkpoint_timer_, &coalesce_timer_, &heartbeat_timer_, &walltime_timer_,
                    &hard_stop_timer_, &progress_timer_, &dump_timer_, &harvester_timer_, &rate_timer_,
                    &worker_heartbeat_timer_})
      t->cancel();
    flush_dumps(true);
    log_status();
    if (progress_shown_) {
      show_progress();
      (void)!::write(STDOUT_FILENO, "\n", 1);
    }
    // The report is written in every case: after a drain (walltime, SIGTERM) it lists what is merged
    // so far, and Harvester's post-processing stages that out; the next batch job resumes the rest.
    finalize_result r = finalize_task(*job_, *book_, *commit_log_, task_dir_, messenger_->files());
    const bool recorded = save_checkpoint("final", r.renamed);
    sup_.final_checkpoint_written();
    // The report's exitCode is this exit code (write_final_report): they cannot disagree.
    exit_code_ = write_final_report(r, {false, recorded, outcome == run_outcome::complete, r.all_merged},
                                    messenger_->files());
    RTY_LOG(info, log_name) << r.summary;
    const auto end = describe_run_end(r, exit_code_, recorded, outcome == run_outcome::complete, checkpoint_path());
    if (!end.critical.empty()) RTY_LOG(critical, log_name) << end.critical;
    if (!end.warning.empty()) RTY_LOG(warning, log_name) << end.warning;
    // The report is out; pilots still winding down (each worker hears [] once more) may end by
    // themselves for a moment, so that their logs end cleanly. A drained run's pilots have had their
    // kill file and the drain period already.
    wind_down_ = outcome == run_outcome::complete ? pilot_wind_down : 0s;
    engine_->stop_nodes("the run is over", wind_down_);
    stubs_->close_all();
    stubs_->remove_secret_file();
    status_->stop();
    notifier_.stopping();
    wait_for_children(0);
  }

  // Stubs and merges get a few seconds to exit on their own before their process groups are signalled.
  void wait_for_children(int round) {
    children_.reap_quietly();
    switch (wind_down_round(round, !children_.empty(), wind_down_)) {
      case wind_down_action::kill_and_finish:
        children_.signal_all(SIGKILL);
        // Every event merged and no stub moves files any more: what is left of per-range outputs is
        // orphaned (a crash between a stub's move and its record) and would stay forever.
        finish_file_work();  // what the checkpoints released is gone first: the rest is orphaned
        if (exit_code_ == exit_success && job_)
          if (auto n = remove_range_leftovers(*job_, task_dir_))
            RTY_LOG(info, log_name) << "removed " << n << " per-range output(s) no checkpoint recorded (left by an "
                                    << "earlier, interrupted run) from " << task_dir_;
        sup_.done();
        io_.stop();
        return;
      case wind_down_action::terminate:
        if (launcher_) launcher_->stop_all();
        children_.signal_merges(SIGTERM);
        break;
      case wind_down_action::wait:
        break;
    }
    auto t = std::make_shared<asio::steady_timer>(io_, wind_down_round_length);
    t->async_wait([self = shared_from_this(), t, round](boost::system::error_code) { self->wait_for_children(round + 1); });
  }

  void fail(int code, const std::string& message) {
    RTY_LOG(critical, log_name) << message;
    exit_code_ = code;
    sup_.finishing();  // first: a checkpoint that fails now must not start a drain
    save_checkpoint("error");
    status_->stop();
    stubs_->remove_secret_file();
    children_.signal_merges(SIGTERM);
    notifier_.stopping(message);
    if (launcher_) launcher_->stop_all();
    io_.stop();
  }

  asio::io_context& io_;
  const config::settings& cfg_;
  asio::signal_set signals_;  // SIGCHLD, the stop signals, SIGUSR1 (a checkpoint now)
  asio::steady_timer status_timer_, checkpoint_timer_, heartbeat_timer_, walltime_timer_, hard_stop_timer_,
      harvester_timer_, progress_timer_, dump_timer_, rate_timer_, watchdog_timer_, worker_heartbeat_timer_{io_};
  std::shared_ptr<stub_server> stubs_;
  std::shared_ptr<status_server> status_;
  child_processes children_;
  std::optional<harvester::messenger> messenger_;
  std::optional<harvester::queuedata> queuedata_;
  std::optional<harvester::queue_messenger> queue_messenger_;  // the queue config's messenger section
  std::optional<rty::job_spec> job_;
  std::unique_ptr<bookkeeping::bookkeeper> book_;
  std::optional<merge::commit_log> commit_log_;
  file::task_lock task_lock_;
  std::unique_ptr<engine> engine_;
  std::unique_ptr<launch::launcher> launcher_;
  std::string task_dir_;
  std::int64_t kill_at_epoch_ = 0;
  supervisor sup_{supervisor_settings{cfg_.ray.timeoutinterval, cfg_.payload.pilotkilltime}};
  int exit_code_ = exit_runtime_error;
  // At the end of a complete run, how long pilots still running may take to end by themselves.
  static constexpr std::chrono::seconds pilot_wind_down{20};
  std::chrono::seconds wind_down_{0};
  bool progress_shown_ = false;
  rate_meter rate_;
  progress_log progress_log_;
  // Checkpoints: coalescing of merge results (request_checkpoint), files to remove once one is written.
  asio::steady_timer coalesce_timer_{io_};
  std::vector<std::string> unlink_after_checkpoint_;
  // The one thread besides the event loop: it only removes files it is handed, and shares no state.
  asio::thread_pool file_worker_{1};
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  // Created before any child is spawned: it takes NOTIFY_SOCKET & co. out of the environment.
  systemd::notifier notifier_ = systemd::notifier::from_environment();
};

}  // namespace

int run_daemon(const config::settings& settings) {
  ::signal(SIGPIPE, SIG_IGN);
  file::harden_umask();
  raise_open_files_limit();
  file::task_lock workdir_lock;
  if (auto code = open_workdir(settings, workdir_lock)) return *code;
  asio::io_context io(1);
  auto d = std::make_shared<daemon>(io, settings);
  d->read_time_monitor();
  d->start();
  io.run();
  d->finish_file_work();
  return d->exit_code();
}

}  // namespace rty::coordinator
