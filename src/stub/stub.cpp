// raythena-stub: the node program. It connects back to raythenad, proves it knows the run's secret,
// receives the job and its settings, serves pilot3's PanDA look-alike HTTP API on 127.0.0.1, forwards
// every request over the channel, runs pilot, and dies with its channel. It keeps no bookkeeping.
//
// One io_context, one thread: the channel reader, the HTTP sessions, the timers and SIGCHLD all run as
// coroutines on it, so the state below needs no locks.
#include "stub/stub.hpp"
#include "merge/merge_command.hpp"
#include "stub/merge_guard.hpp"
#include "stub/node_files.hpp"
#include "stub/peer_uid.hpp"
#include "stub/pilot_supervisor.hpp"
#include "stub/ranges_broker.hpp"
#include "stub/update_filter.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <linux/close_range.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "net/admission.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "net/channel.hpp"
#include "net/spawn.hpp"
#include "pilot/job_patch.hpp"
#include "pilot/reply.hpp"
#include "pilot/request.hpp"
#include "protocol/auth.hpp"
#include "protocol/messages.hpp"
#include "protocol/handshake.hpp"

namespace rty::stub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace fs = std::filesystem;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// A getEventRanges request waiting for the coordinator's answer (its state is in the ranges_broker).
struct pending_ranges {
  pending_ranges(asio::any_io_executor ex, asio::steady_timer::time_point deadline) : wake(ex, deadline) {}
  asio::steady_timer wake;   // fires at the deadline; cancelled when the wait ends otherwise
  bool client_gone = false;  // pilot closed its connection while waiting
  bool answered = false;     // the wait is over; the client watcher must stop
};

class stub : public std::enable_shared_from_this<stub>, private pilot_actions {
 public:
  stub(asio::io_context& io, options opts) : io_(io), opts_(std::move(opts)), heartbeat_timer_(io), grace_timer_(io),
                                               kill_timer_(io), signals_(io, SIGCHLD, SIGTERM, SIGINT) {}

  void start() { asio::co_spawn(io_, run(), net::log_exceptions(component(), "stub", [self = shared_from_this()] { self->supervisor_.finish(1); })); }
  int exit_code() const { return exit_code_; }

 private:
  std::string component() const { return "Stub[" + opts_.node_id + "]"; }

  awaitable<void> run() {
    auto self = shared_from_this();
    watch_signals();
    if (!co_await connect_and_authenticate()) {
      supervisor_.finish(1);
      co_return;
    }
    if (!setup_node()) co_return;
    asio::co_spawn(io_, read_channel(), net::log_exceptions(component(), "control channel", [self = shared_from_this()] { self->supervisor_.finish(1); }));
    asio::co_spawn(io_, heartbeats(), net::log_exceptions(component(), "heartbeats", [self = shared_from_this()] { self->supervisor_.finish(1); }));
    asio::co_spawn(io_, accept_http(), net::log_exceptions(component(), "pilot port", [self = shared_from_this()] { self->supervisor_.finish(1); }));
    if (!launch_pilot()) co_return;
    arm_kill_timer();
  }

  // --- channel -------------------------------------------------------------------------------------

  // A coordinator under a flood of unauthenticated connections may cut ours before the handshake is
  // through (net/admission.hpp): that is worth a few more tries. An explicit refusal is not.
  awaitable<bool> connect_and_authenticate() {
    tcp::resolver resolver(io_);
    auto [rec, results] = co_await resolver.async_resolve(opts_.host, std::to_string(opts_.port), as_tuple_awaitable);
    if (rec) {
      RTY_LOG(critical, component()) << "cannot resolve coordinator address '" << opts_.host << "': " << rec.message();
      co_return false;
    }
    constexpr int handshakes = 20;
    for (int attempt = 1;; ++attempt) {
      std::string cut;
      auto outcome = co_await handshake(results, cut);
      if (outcome != handshake_result::cut) co_return outcome == handshake_result::ok;
      if (attempt == handshakes) {
        RTY_LOG(critical, component()) << "coordinator " << opts_.host << ":" << opts_.port << " cut the connection "
                                       << handshakes << " times before the handshake was through: " << cut;
        co_return false;
      }
      RTY_LOG(warning, component()) << "coordinator cut the connection during the handshake (" << cut
                                    << "); trying again";
      asio::steady_timer t(io_, std::chrono::milliseconds(100 * std::min(attempt, 10)));
      co_await t.async_wait(as_tuple_awaitable);
    }
  }

  enum class handshake_result { ok, failed, cut };

  awaitable<handshake_result> handshake(const tcp::resolver::results_type& results, std::string& cut) {
    tcp::socket socket(io_);
    // The coordinator listens before it launches stubs, but allow for a slow network start.
    boost::system::error_code cec;
    for (int attempt = 0; attempt < 50; ++attempt) {
      std::tie(cec, std::ignore) = co_await asio::async_connect(socket, results, as_tuple_awaitable);
      if (!cec) break;
      asio::steady_timer t(io_, 200ms);
      co_await t.async_wait(as_tuple_awaitable);
    }
    if (cec) {
      RTY_LOG(critical, component()) << "cannot connect to coordinator " << opts_.host << ":" << opts_.port << ": "
                                     << cec.message();
      co_return handshake_result::failed;
    }
    channel_ = std::make_shared<net::channel>(std::move(socket), protocol::default_max_frame);
    auto first = co_await channel_->receive();
    if (!first) {
      cut = "closed before the challenge: " + first.error().message();
      co_return handshake_result::cut;
    }
    protocol::hello identity;
    identity.node_id = opts_.node_id;
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    identity.host = host;
    identity.pid = static_cast<std::int64_t>(::getpid());
    auto nonce = protocol::make_nonce();
    if (!nonce) {
      RTY_LOG(critical, component()) << "cannot authenticate to the coordinator: " << nonce.error();
      co_return handshake_result::failed;
    }
    protocol::stub_handshake handshake(opts_.secret, std::move(identity), std::move(*nonce));
    auto hello = handshake.on_challenge(*first);
    if (!hello) {
      RTY_LOG(critical, component()) << "bad challenge from coordinator " << channel_->peer() << ": " << log::escape(hello.error().message());
      co_return handshake_result::failed;
    }
    channel_->send(hello->to_json());
    auto second = co_await channel_->receive();
    if (!second) {
      cut = "closed before the coordinator proved itself: " + second.error().message();
      co_return handshake_result::cut;
    }
    // Nothing the peer sends is used before it has proven the run's secret: a process that listens on
    // the coordinator's address (raythenad gone, a spoofed headip) cannot start anything here.
    auto keys = handshake.on_accepted(*second);
    if (!keys) {
      RTY_LOG(critical, component()) << "coordinator " << channel_->peer() << ": " << log::escape(keys.error().message());
      co_return handshake_result::failed;
    }
    channel_->secure(keys->stub_to_coordinator, keys->coordinator_to_stub);
    auto third = co_await channel_->receive();
    if (!third) {
      cut = "closed before the welcome: " + third.error().message();
      co_return handshake_result::cut;
    }
    if (auto type = protocol::message_type(*third); type && *type == protocol::error::type) {
      auto err = protocol::error::from_json(*third);
      RTY_LOG(critical, component()) << "coordinator refused this stub: " << (err ? err->message : err.error().message());
      co_return handshake_result::failed;
    }
    auto welcome = protocol::welcome::from_json(*third);
    if (!welcome) {
      RTY_LOG(critical, component()) << "bad welcome from coordinator: " << welcome.error();
      co_return handshake_result::failed;
    }
    welcome_ = std::move(*welcome);
    last_rx_ = std::chrono::steady_clock::now();
    RTY_LOG(info, component()) << "connected to coordinator " << channel_->peer() << " as node " << welcome_.node_index;
    co_return handshake_result::ok;
  }

  awaitable<void> read_channel() {
    auto self = shared_from_this();
    for (;;) {
      auto msg = co_await channel_->receive();
      if (!msg) {
        channel_lost(msg.error().message());
        co_return;
      }
      last_rx_ = std::chrono::steady_clock::now();
      auto decoded = protocol::decode_coordinator_message(*msg);
      if (!decoded) {
        RTY_LOG(error, component()) << "ignoring a message from the coordinator: " << log::escape(decoded.error().message());
        continue;
      }
      std::visit([this](auto& m) { on(std::move(m)); }, *decoded);
    }
  }

  // One handler per message the coordinator may send (protocol::coordinator_message).
  void on(protocol::heartbeat) {}
  void on(protocol::ranges_reply reply) { deliver_ranges(std::move(reply)); }
  void on(protocol::start_pilot start) { restart_pilot(start); }
  void on(protocol::error err) { RTY_LOG(error, component()) << "coordinator error: " << log::escape(err.message); }

  // A merge on this idle node (ray.remotemerges; docs/channel-protocol.md). Only what the coordinator
  // sent over the authenticated channel runs, and only in a work directory under the task directory's
  // merge-tmp/ (issue 13): the output stays there until the coordinator renames it into final/.
  void on(protocol::merge_run run) {
    protocol::merge_result result;
    result.output_name = run.output_name;
    result.attempt = run.attempt;
    std::string refused;
    if (supervisor_.ended() || supervisor_.channel_gone())
      refused = "the stub is ending";
    else if (auto why = refuse_merge_run(task_dir_, run))
      refused = *why;
    if (refused.empty()) {
      auto pid = process::spawn(merge::merge_spawn_options(run.argv, run.work_dir, run.log_path));
      if (pid) {
        RTY_LOG(info, component()) << "merge " << log::escape(run.output_name, 300) << " (attempt " << run.attempt
                                   << ") started, pid " << *pid;
        merges_[*pid] = std::move(result);
        return;
      }
      refused = pid.error().message();
    }
    RTY_LOG(error, component()) << "merge " << log::escape(run.output_name, 300) << " not run: " << refused;
    result.started = false;
    result.code = -1;
    result.reason = refused;
    send(result.to_json());
  }

  void reap_merges() {
    for (auto it = merges_.begin(); it != merges_.end();) {
      auto status = process::try_reap(it->first);
      if (!status) {
        ++it;
        continue;
      }
      process::signal_group(it->first, SIGKILL);  // what the transform left in its group goes too
      auto result = std::move(it->second);
      it = merges_.erase(it);
      result.code = status->code;
      result.signal = status->signal;
      result.reason = process::describe(*status);
      RTY_LOG(info, component()) << "merge " << log::escape(result.output_name, 300) << " ended: " << result.reason;
      send(result.to_json());
    }
  }

  // Without its channel no result can reach the coordinator, which runs the merge elsewhere.
  void kill_merges(const std::string& why) {
    for (auto& [pid, m] : merges_) {
      RTY_LOG(warning, component()) << "killing merge " << log::escape(m.output_name, 300) << " (" << why << ")";
      process::signal_group(pid, SIGKILL);
    }
  }

  void on(protocol::stop stop) {
    RTY_LOG(info, component()) << "coordinator asks to stop (" << log::escape(stop.reason) << ")"
                               << (stop.drain ? ", draining" : "");
    supervisor_.stop(stop);
  }

  awaitable<void> heartbeats() {
    auto self = shared_from_this();
    const auto interval = std::chrono::seconds(std::max<std::int64_t>(1, settings_int("heartbeat_interval", 10)));
    const auto timeout = std::chrono::seconds(std::max<std::int64_t>(2, settings_int("heartbeat_timeout", 60)));
    while (!supervisor_.ended() && channel_ && channel_->is_open()) {
      heartbeat_timer_.expires_after(interval);
      auto [ec] = co_await heartbeat_timer_.async_wait(as_tuple_awaitable);
      if (ec || supervisor_.ended() || !channel_->is_open()) co_return;
      if (std::chrono::steady_clock::now() - last_rx_ > timeout) {
        channel_->close();
        channel_lost("no message from the coordinator for " + std::to_string(timeout.count()) + " s");
        co_return;
      }
      channel_->send(protocol::heartbeat{}.to_json());
      if (auto n = http_refusals_.take_suppressed())
        RTY_LOG(warning, component()) << n << " more pilot-port connection(s) cut without a line each";
    }
  }

  void channel_lost(const std::string& why) {
    kill_merges("the channel to the coordinator is gone");
    if (supervisor_.channel_gone() || supervisor_.ended()) return;
    const auto grace = std::chrono::seconds(settings_int("grace", 30));
    if (supervisor_.released())
      RTY_LOG(info, component()) << "coordinator closed the channel after letting this node go";
    else
      RTY_LOG(error, component()) << "lost the coordinator (" << why << "); pilot is stopped in " << grace.count()
                                  << " s unless it ends first";
    supervisor_.channel_lost(grace, why);
  }

  void arm_grace(std::chrono::seconds grace, const std::string&) override {
    grace_timer_.expires_after(grace);
    grace_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->supervisor_.terminate("channel gone for longer than the grace period");
    });
  }

  // A frame past the coordinator's limit would make it drop this node as broken (issue 13): such a
  // message is not sent, and the caller tells pilot.
  bool send(const boost::json::object& msg) {
    if (!channel_ || !channel_->is_open()) return false;
    std::size_t size = 0;
    if (!channel_->send_within(msg, protocol::default_max_frame, size)) {
      auto type = protocol::message_type(msg);
      RTY_LOG(error, component()) << "a " << (type ? *type : std::string("?")) << " message of " << size
                                  << " bytes exceeds the channel's frame limit of " << protocol::default_max_frame
                                  << " bytes: not sent";
      return false;
    }
    return true;
  }

  // --- node setup and pilot ------------------------------------------------------------------------

  std::int64_t settings_int(std::string_view key, std::int64_t fallback) const {
    auto v = rty::json::get_int(welcome_.settings, key);
    return v ? *v : fallback;
  }
  std::string settings_string(std::string_view key) const {
    auto v = rty::json::get_string(welcome_.settings, key);
    return v ? *v : std::string();
  }

  bool setup_node() {
    actor_dir_ = settings_string("actor_dir");
    pilot_home_ = actor_dir_;  // the first pilot runs in the node directory itself, as under Raythena
    task_dir_ = settings_string("task_dir");
    std::error_code ec;
    fs::create_directories(actor_dir_, ec);
    if (ec) return launch_failed("cannot create the node directory '" + actor_dir_ + "': " + ec.message());
    fs::create_directories(task_dir_, ec);
    if (ec) return launch_failed("cannot create the task directory '" + task_dir_ + "': " + ec.message());
    // Outputs are renamed into it relative to this descriptor (no walk of its path per range); should
    // it fail to open, move_output uses the path.
    task_fd_ = ::open(task_dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    // logging.workerlogfile: from here on this node's log goes to a file in its own directory, next to
    // pilot's (Raythena's worker log); what came before is in the launcher's capture.
    if (auto name = settings_string("worker_log"); !name.empty()) {
      const std::string path = actor_dir_ + "/" + name;
      RTY_LOG(info, component()) << "logging to " << path << " (logging.workerlogfile)";
      if (auto r = rty::log::set_file(path); !r)
        RTY_LOG(warning, component()) << "cannot log to " << path << ": " << r.error();
    }

    auto port = static_cast<unsigned short>(settings_int("server_port", 8080));
    boost::system::error_code bec;
    tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    acceptor_.emplace(io_);
    acceptor_->open(endpoint.protocol(), bec);
    if (!bec) acceptor_->set_option(tcp::acceptor::reuse_address(true), bec);
    if (!bec) acceptor_->bind(endpoint, bec);
    if (!bec) acceptor_->listen(asio::socket_base::max_listen_connections, bec);
    if (bec)
      return launch_failed("cannot serve pilot on 127.0.0.1:" + std::to_string(port) + ": " + bec.message());
    server_port_ = acceptor_->local_endpoint().port();
    RTY_LOG(info, component()) << "serving pilot on http://127.0.0.1:" << server_port_;

    // pilot finds us only through [Pilot] pandaserver in $HARVESTER_PILOT_CONFIG. On a real node the
    // port is the configured one and the file is used as it is; when the port is not the configured
    // one (several stubs on one host), pilot gets a copy with only pandaserver rewritten.
    std::string url = "http://127.0.0.1:" + std::to_string(server_port_);
    const char* env_cfg = std::getenv("HARVESTER_PILOT_CONFIG");
    std::string cfg_path = env_cfg ? env_cfg : settings_string("pilot_config");
    // pilot gives up on a request after [Pilot] http_maxtime (curl --max-time): every wait for the
    // coordinator ends well before that.
    if (!cfg_path.empty())
      if (auto text = file::read_all(cfg_path)) broker_ = ranges_broker(hold_limit(pilot_http_maxtime(*text)));
    RTY_LOG(info, component()) << "a getEventRanges waits at most "
                               << std::chrono::duration_cast<std::chrono::seconds>(broker_.max_wait()).count()
                               << " s for the coordinator (half of pilot's http_maxtime)";
    if (port == 0 || cfg_path.empty()) {
      std::string original;
      if (!cfg_path.empty()) {
        auto text = file::read_all(cfg_path);
        if (!text) return launch_failed("cannot read the pilot config: " + text.error().message());
        original = *text;
      }
      std::string copy = (fs::path(actor_dir_) / "pilot_default.cfg").string();
      if (auto r = file::write_atomic(copy, rewrite_pandaserver(original, url)); !r)
        return launch_failed("cannot write the pilot config copy: " + r.error().message());
      pilot_env_["HARVESTER_PILOT_CONFIG"] = copy;
    } else if (!env_cfg) {
      // Stubs started over SSH do not inherit the batch environment: pilot gets the coordinator's path.
      pilot_env_["HARVESTER_PILOT_CONFIG"] = cfg_path;
    }
    return true;
  }

  // A later pilot on this node (the coordinator has work and this node's pilot ended): payload.sh runs
  // again in a fresh attempt directory under the node directory, so that nothing of the last pilot's
  // (its job directory, logs, a kill file) is in the new one's way.
  void restart_pilot(const protocol::start_pilot& start) {
    if (auto why = supervisor_.refuse_attempt()) {
      RTY_LOG(warning, component()) << "coordinator asks for pilot attempt " << start.attempt << " while " << *why
                                    << ": ignored";
      return;
    }
    pilot_home_ = (fs::path(actor_dir_) / ("attempt-" + std::to_string(start.attempt))).string();
    std::error_code ec;
    fs::create_directories(pilot_home_, ec);
    RTY_LOG(info, component()) << "starting pilot attempt " << start.attempt << " in " << pilot_home_ << " ("
                               << start.reason << ")";
    if (ec) {
      report_launch_failure("cannot create '" + pilot_home_ + "': " + ec.message());
      return;
    }
    broker_.pilot_started();
    if (!launch_pilot()) return;
  }

  bool launch_pilot() {
    // The node directory is the same for every run of the job: a kill file left by the previous run
    // (walltime, drain) would make the resumed pilot stop before its first range.
    std::error_code kec;
    if (fs::remove(kill_file_path(), kec))
      RTY_LOG(info, component()) << "removed the previous run's kill file " << kill_file_path();
    std::string script = (fs::path(pilot_home_) / "payload.sh").string();
    if (auto r = file::write_atomic(script, settings_string("payload_script")); !r)
      return launch_failed(r.error().message());
    ::chmod(script.c_str(), 0755);
    process::spawn_options o;
    o.argv = {"/bin/bash", script};
    o.cwd = pilot_home_;
    o.env_set = pilot_env_;
    o.new_process_group = true;
    // Every descriptor open now (channel, pilot's listening socket, whatever the launcher left open)
    // stays out of pilot: a pilot holding the channel hides this stub's death from the coordinator,
    // and one holding the listening socket makes its own requests hang in the backlog once we are gone.
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    auto pid = process::spawn(o);
    if (!pid) return launch_failed(pid.error().message());
    pilot_pid_ = *pid;
    supervisor_.pilot_started();
    RTY_LOG(info, component()) << "pilot started (pid " << pilot_pid_ << ", " << script << ")";
    start_pilot_guard();
    return true;
  }

  // A stub killed by SIGKILL (or the OOM killer) cannot stop its pilot, which would then run on with
  // no server. A small forked guard in pilot's process group notices the stub's death (EOF on a pipe
  // only the stub writes to) and kills the group. Being in that group, it goes whenever the group is
  // killed in the normal way (reap_pilot, terminate_pilot); it keeps the group id in use, so the id
  // it signals can never belong to someone else.
  void start_pilot_guard() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      RTY_LOG(warning, component()) << "no pilot guard (pipe: " << std::strerror(errno) << ")";
      return;
    }
    const pid_t group = pilot_pid_;
    const unsigned grace = pilot_supervisor::guard_grace(settings_int("grace", 30));
    pid_t guard = ::fork();
    if (guard == 0) {
      // The child of a process with threads (the resolver's): async-signal-safe calls only.
      ::setpgid(0, group);
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) ::sigaction(sig, &ignore, nullptr);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      if (fds[0] > 3) ::close_range(3, static_cast<unsigned>(fds[0]) - 1, 0);
      ::close_range(static_cast<unsigned>(fds[0]) + 1, ~0U, 0);
      char c;
      ssize_t n;
      while ((n = ::read(fds[0], &c, 1)) < 0 && errno == EINTR) {
      }
      if (n == 0) {  // the stub is gone: pilot has no server any more
        ::kill(-group, SIGTERM);
        unsigned left = grace;
        while (left > 0) left = ::sleep(left);
        ::kill(-group, SIGKILL);  // the guard goes with it
      }
      ::_exit(0);
    }
    ::close(fds[0]);
    if (guard < 0) {
      ::close(fds[1]);
      RTY_LOG(warning, component()) << "no pilot guard (fork: " << std::strerror(errno) << ")";
      return;
    }
    guard_pid_ = guard;
    guard_fd_ = fds[1];  // never written: its only job is to close when this process dies
  }

  bool launch_failed(const std::string& why) {
    report_launch_failure(why);
    supervisor_.launch_failed();  // the coordinator counts a later attempt against payload.pilotrestarts
    return false;
  }

  void report_launch_failure(const std::string& why) {
    RTY_LOG(critical, component()) << "payload launch failed: " << why;
    protocol::pilot_exit exit;
    exit.code = -1;
    exit.signal = 0;
    exit.reason = "launch failed: " + why;
    send(exit.to_json());
  }

  void arm_kill_timer() {
    auto delay = pilot_supervisor::kill_delay(settings_int("kill_at", 0), std::chrono::system_clock::now());
    if (!delay) return;
    kill_timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(*delay));
    kill_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->supervisor_.write_kill_file("walltime");
    });
  }

  std::string kill_file_path() const {
    std::string name = settings_string("kill_file");
    if (name.empty()) name = "pilot_kill_payload";
    return file::join(pilot_home_, name);  // pilot looks for it in PILOT_HOME, its working directory
  }

  void write_kill_file(const std::string& why) override {
    std::string path = kill_file_path();
    if (auto r = file::write_atomic(path, "KILL"); !r)
      RTY_LOG(error, component()) << "cannot write the kill file: " << r.error();
    else
      RTY_LOG(warning, component()) << "wrote " << path << " (" << why << "): pilot stops after its current ranges";
  }

  // The job is complete and pilot winds down: it may end by itself within `grace`, then it is stopped.
  void wind_down(std::chrono::seconds grace) override {
    RTY_LOG(info, component()) << "the run is over: pilot has " << grace.count() << " s to end by itself";
    kill_timer_.cancel();
    kill_timer_.expires_after(grace);
    kill_timer_.async_wait([self = shared_from_this(), grace](boost::system::error_code ec) {
      if (!ec) self->supervisor_.terminate("still running " + std::to_string(grace.count()) + " s after the run ended");
    });
  }

  void signal_pilot(const std::string& why) override {
    RTY_LOG(warning, component()) << "stopping pilot's process group (" << why << ")";
    process::signal_group(pilot_pid_, SIGTERM);
    auto t = std::make_shared<asio::steady_timer>(io_, 5s);
    t->async_wait([self = shared_from_this(), t](boost::system::error_code) {
      if (self->pilot_pid_ > 0) process::signal_group(self->pilot_pid_, SIGKILL);
    });
  }

  void watch_signals() {
    signals_.async_wait([self = shared_from_this()](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD) {
        self->reap_merges();
        self->reap_pilot();
      } else {
        RTY_LOG(warning, self->component()) << "signal " << sig << " received";
        self->supervisor_.terminate(std::string("signal ") + ::strsignal(sig));
      }
      if (!self->supervisor_.ended()) self->watch_signals();
    });
  }

  void reap_pilot() {
    if (pilot_pid_ <= 0) return;
    auto status = process::try_reap(pilot_pid_);
    if (!status) return;
    // Whatever the shell left behind in pilot's group goes too: no orphans on the node.
    process::signal_group(pilot_pid_, SIGKILL);
    pilot_pid_ = -1;
    if (guard_pid_ > 0) {
      process::try_reap(guard_pid_);  // killed with the group just now; a zombie at worst until we exit
      guard_pid_ = -1;
    }
    RTY_LOG(info, component()) << "pilot ended: " << process::describe(*status);
    protocol::pilot_exit exit;
    exit.code = status->code;
    exit.signal = status->signal;
    exit.reason = process::describe(*status);
    send(exit.to_json());
    // Unless the node stops, the stub stays: the coordinator starts a new pilot here when work
    // appears (start_pilot) or lets the node go (stop).
    supervisor_.pilot_exited();
    if (!supervisor_.ended())
      RTY_LOG(info, component()) << "no pilot on this node now; waiting for new work or the end of the run";
  }

  void finish(int code) override {
    exit_code_ = code;
    kill_merges("the stub ends");
    boost::system::error_code ec;
    if (acceptor_) acceptor_->close(ec);
    heartbeat_timer_.cancel();
    grace_timer_.cancel();
    kill_timer_.cancel();
    signals_.cancel();
    for (auto& [id, p] : pending_) p->wake.cancel();
    if (channel_) channel_->close_after_flush();
    // The last frames (pilot_exit) leave first; stop as soon as they are out, at most 2 s from now.
    stop_when_flushed(std::chrono::steady_clock::now() + 2s);
  }

  void stop_when_flushed(std::chrono::steady_clock::time_point deadline) {
    if (!channel_ || !channel_->is_open() || std::chrono::steady_clock::now() >= deadline) {
      io_.stop();
      return;
    }
    auto t = std::make_shared<asio::steady_timer>(io_, 5ms);
    t->async_wait([this, t, deadline](boost::system::error_code) { stop_when_flushed(deadline); });
  }

  // --- pilot HTTP ----------------------------------------------------------------------------------

  awaitable<void> accept_http() {
    auto self = shared_from_this();
    asio::steady_timer pause(io_);
    while (acceptor_ && acceptor_->is_open()) {
      tcp::endpoint client;
      auto [ec, socket] = co_await acceptor_->async_accept(client, as_tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        if (auto v = http_refusals_.event(std::chrono::steady_clock::now()); v.log)
          RTY_LOG(warning, component()) << "accept failed: " << ec.message() << v.note();
        co_await net::after_accept_error(ec, reading_, pause);  // cuts the oldest client still sending
        continue;
      }
      if (!from_this_uid(socket, client)) continue;  // closed as it goes out of scope
      asio::co_spawn(io_, http_session(std::move(socket)), net::log_exceptions(component(), "pilot HTTP session"));
    }
  }

  // Only this run's pilot may use the pilot port (issue 13): loopback is open to every uid on the node,
  // so a client whose socket another uid owns is cut before a byte of its request is read. pilot is
  // this stub's child and runs as its uid. When the kernel cannot tell, the client is cut too (failing
  // open would give the port to everyone). The lookup and its fallback: stub/peer_uid.hpp.
  // pilot3's curl opens a connection per request: the lookup takes two system calls (the client's
  // address comes with accept, ours is the listener's, the netlink socket stays open).
  bool from_this_uid(tcp::socket& socket, const tcp::endpoint& remote) {
    boost::system::error_code lec;
    if (!listen_endpoint_) listen_endpoint_ = acceptor_->local_endpoint(lec);
    const tcp::endpoint local = listen_endpoint_.value_or(tcp::endpoint{});
    rty::result<uid_t> uid = rty::fail("not IPv4");
    if (lec) {
      uid = rty::fail(lec.message());
    } else if (remote.protocol() == tcp::v4() && local.protocol() == tcp::v4()) {
      sockaddr_in peer{}, self{};
      std::memcpy(&peer, remote.data(), sizeof peer);
      std::memcpy(&self, local.data(), sizeof self);
      uid = find_peer_uid_(peer, self);
    }
    if (uid && *uid == euid_) return true;
    if (auto v = http_refusals_.event(std::chrono::steady_clock::now()); v.log) {
      if (uid)
        RTY_LOG(warning, component()) << "refused a pilot-port connection from " << remote.port() << " owned by uid "
                                      << *uid << ": only this run's pilot (uid " << euid_ << ") may connect"
                                      << v.note();
      else
        RTY_LOG(warning, component()) << "refused a pilot-port connection whose owner cannot be found out ("
                                      << uid.error() << ")" << v.note();
    }
    boost::system::error_code cec;
    socket.close(cec);
    return false;
  }

  awaitable<void> http_session(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    const auto max_body = static_cast<std::uint64_t>(settings_int("max_body", 16 * 1024 * 1024));
    for (;;) {
      const std::uint64_t id = ++http_reads_;
      http::request_parser<http::string_body> parser;
      parser.body_limit(max_body);
      // pilot sends a whole request at once: a client that trickles it (slowloris) or sits idle on a
      // kept-alive connection is cut after 30 s, and the oldest of too many such clients at once even
      // sooner, so they can neither pile up nor lock pilot out.
      stream.expires_after(30s);
      reading_.admit(id, [this, &stream] {
        if (auto v = http_refusals_.event(std::chrono::steady_clock::now()); v.log)
          RTY_LOG(warning, component()) << "cut a pilot-port connection that had not sent its request: "
                                        << reading_.limit() << " connections reading at once"
                                        << v.note();
        stream.socket().close();
      });
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, as_tuple_awaitable);
      reading_.settle(id);
      if (ec) {
        if (ec == http::error::body_limit) {
          RTY_LOG(error, component()) << "pilot request body larger than " << max_body << " bytes: refused";
          co_await write_reply(stream, 11, false, pilot::reply_status(500));
        } else if (ec == beast::error::timeout) {
          if (auto v = http_refusals_.event(std::chrono::steady_clock::now()); v.log)
            RTY_LOG(warning, component()) << "pilot-port client sent no complete request within 30 s: cut"
                                          << v.note();
        } else if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted) {
          RTY_LOG(debug, component()) << "pilot connection: " << ec.message();
        }
        co_return;
      }
      auto req = parser.release();
      stream.expires_never();
      std::vector<std::string> delivered;  // ranges in this answer: if pilot is gone, they go back
      std::string body = co_await handle(req, &delivered, &stream.socket());
      if (body.empty()) co_return;  // the client hung up while its request waited
      bool keep = req.keep_alive();
      if (!co_await write_reply(stream, req.version(), keep, std::move(body))) {
        if (!delivered.empty()) {
          RTY_LOG(warning, component()) << "pilot went away before its " << delivered.size()
                                        << " event range(s) could be delivered; they go back to the coordinator";
          broker_.not_delivered(delivered);
          protocol::ranges_return back;
          back.ranges = std::move(delivered);
          send(back.to_json());
        }
        co_return;
      }
      if (!keep) {
        boost::system::error_code sec;
        stream.socket().shutdown(tcp::socket::shutdown_send, sec);
        co_return;
      }
    }
  }

  awaitable<bool> write_reply(beast::tcp_stream& stream, unsigned version, bool keep, std::string body) {
    http::response<http::string_body> res{http::status::ok, version};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep);
    res.body() = std::move(body);
    res.prepare_payload();
    stream.expires_after(30s);
    auto [ec, n] = co_await http::async_write(stream, res, as_tuple_awaitable);
    co_return !ec;
  }

  // pilot >= 3.10 reports the node once at start; it only logs the answer (pilot.py send_workernode_map).
  std::string worker_node_reply(pilot::endpoint ep, std::string_view target, std::string_view content_type,
                                const std::string& body) {
    auto path = target.substr(0, target.find('?'));
    auto fields = pilot::decode_body(target, content_type, body);
    if (!fields) {
      RTY_LOG(error, component()) << log::escape(path) << ": undecodable body (" << log::escape(fields.error().message()) << ")";
      return pilot::reply_status(500);
    }
    if (ep == pilot::endpoint::update_worker_node) {
      worker_node_ = pilot::parse_worker_node(*fields);
      auto n = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("?"); };
      RTY_LOG(info, component()) << "pilot reports node " << log::escape(worker_node_->host_name, 128) << ": "
                                 << n(worker_node_->logical_cpus) << " logical CPUs, "
                                 << n(worker_node_->total_memory_mb) << " MB memory, "
                                 << n(worker_node_->local_disk_gb) << " GB local disk, CPU "
                                 << log::escape(worker_node_->cpu_model, 128);
      // For the coordinator's /status (issue 16). Pilot only logs our answer, so a channel that is
      // gone does not change it.
      protocol::worker_node report{worker_node_->host_name, worker_node_->cpu_model, worker_node_->logical_cpus,
                                   worker_node_->total_memory_mb, worker_node_->local_disk_gb};
      send(report.to_json());
    }
    return pilot::reply_api_success();
  }

  awaitable<std::string> handle(const http::request<http::string_body>& req, std::vector<std::string>* delivered,
                                tcp::socket* client) {
    std::string_view target(req.target().data(), req.target().size());
    auto ep = pilot::route(target);
    std::string_view content_type;
    if (auto it = req.find(http::field::content_type); it != req.end())
      content_type = std::string_view(it->value().data(), it->value().size());
    auto path = target.substr(0, target.find('?'));
    switch (ep) {
      case pilot::endpoint::get_job: {
        co_return pilot::reply_job(welcome_.job);
      }
      case pilot::endpoint::update_job:
      case pilot::endpoint::update_worker_pilot_status: {
        auto fields = pilot::decode_body(target, content_type, req.body());
        if (!fields) {
          RTY_LOG(error, component()) << log::escape(path) << ": undecodable body (" << log::escape(fields.error().message())
                                      << ")";
          co_return pilot::reply_status(500);
        }
        if (ep == pilot::endpoint::update_job) {
          fields->erase("xml");  // the final update's job report: not the coordinator's business
          fields->erase("metaData");
          // Every field goes on, but capped (issue 13): one oversized updateJob must not make a frame
          // the coordinator takes for a broken node.
          auto capped = pilot::cap_fields(*fields);
          protocol::job_update update;
          auto state = capped.kept.find("state");
          update.state = state == capped.kept.end() ? std::string() : state->second;
          for (auto& [k, v] : capped.kept) update.fields[k] = v;
          if (capped.cut || capped.dropped)
            RTY_LOG(warning, component()) << "updateJob: " << capped.cut << " field(s) cut to "
                                          << pilot::default_field_cap << " bytes, " << capped.dropped
                                          << " left out (over " << pilot::default_fields_total
                                          << " bytes in all, or a name too long); the rest is forwarded, pilot "
                                             "gets StatusCode 500";
          RTY_LOG(info, component()) << "pilot job state: " << log::escape(update.state, 64);
          if (!send(update.to_json())) co_return pilot::reply_status(500);
          // What was cut did not reach the coordinator: pilot hears an error (it carries on regardless,
          // docs/pilot-protocol.md), the node stays.
          if (capped.cut || capped.dropped) co_return pilot::reply_status(500);
        }
        co_return pilot::reply_status(0);
      }
      case pilot::endpoint::get_event_ranges:
        co_return co_await get_event_ranges(target, content_type, req.body(), delivered, client);
      case pilot::endpoint::update_event_ranges:
        co_return update_event_ranges(target, content_type, req.body());
      case pilot::endpoint::update_worker_node:
      case pilot::endpoint::update_worker_node_gpu:
        co_return worker_node_reply(ep, target, content_type, req.body());
      case pilot::endpoint::get_resource_types: {
        auto types = settings_string("resource_types");
        if (types.empty()) co_return pilot::reply_status(500);  // no payload.resourcetypesfile
        co_return types;
      }
      case pilot::endpoint::not_implemented:
      case pilot::endpoint::unknown:
        RTY_LOG(debug, component()) << "pilot asked for unsupported path " << log::escape(path);
        co_return pilot::reply_status(500);
    }
    co_return pilot::reply_status(500);
  }

  // While a getEventRanges waits for the coordinator, notice a pilot that hangs up (curl's 120 s limit,
  // pilot killed): the request is cancelled so that its ranges are never sent into a closed socket.
  awaitable<void> watch_client(tcp::socket* client, std::shared_ptr<pending_ranges> pending) {
    auto self = shared_from_this();
    auto [ec] = co_await client->async_wait(tcp::socket::wait_read, as_tuple_awaitable);
    if (ec || pending->answered) co_return;  // cancelled: the socket may be gone, touch nothing
    char byte;
    boost::system::error_code pec;
    auto n = client->receive(asio::buffer(&byte, 1), tcp::socket::message_peek, pec);
    if (n == 0 || pec) {
      pending->client_gone = true;
      pending->wake.cancel();
    }
  }

  awaitable<std::string> get_event_ranges(std::string_view target, std::string_view content_type, const std::string& body,
                                          std::vector<std::string>* delivered, tcp::socket* client) {
    auto fields = pilot::decode_body(target, content_type, body);
    if (!fields) {
      RTY_LOG(error, component()) << "getEventRanges: " << log::escape(fields.error().message());
      co_return pilot::reply_status(500);
    }
    auto request = pilot::parse_get_event_ranges(*fields);
    if (!request) {
      RTY_LOG(error, component()) << "getEventRanges: " << log::escape(request.error().message());
      co_return pilot::reply_status(500);
    }
    if (!pilot::panda_id_matches(welcome_.job, request->panda_id)) {
      auto panda_id = rty::json::get_string(welcome_.job, "PandaID");
      RTY_LOG(error, component()) << "getEventRanges for PandaID " << log::escape(request->panda_id, 64)
                                  << ", but this node runs "
                                  << (panda_id ? *panda_id : std::string("no job"));
      co_return pilot::reply_event_ranges(-1, {});
    }
    auto ask = broker_.pilot_asks(request->n_ranges, std::chrono::steady_clock::now());
    if (ask.answer_now) co_return pilot::reply_event_ranges(0, {});
    if (supervisor_.channel_gone()) {
      // Nothing can come while the coordinator is gone: the wait ends at its deadline with [].
      RTY_LOG(warning, component()) << "getEventRanges while the coordinator is unreachable";
    }
    const auto id = ask.request_id;
    auto pending = std::make_shared<pending_ranges>(io_.get_executor(), ask.deadline);
    pending_.emplace(id, pending);
    protocol::ranges_request rr;
    rr.request_id = id;
    rr.n_ranges = request->n_ranges;
    send(rr.to_json());
    asio::co_spawn(io_, watch_client(client, pending), net::log_exceptions(component(), "held getEventRanges"));
    auto [wec] = co_await pending->wake.async_wait(as_tuple_awaitable);
    pending->answered = true;
    boost::system::error_code cec;
    client->cancel(cec);  // ends the watcher
    pending_.erase(id);
    using wait_end = ranges_broker::wait_end;
    // Cancelled without the client gone: either the broker woke it (its reply is in) or finish() did.
    const wait_end why = pending->client_gone ? wait_end::client_gone
                         : !wec               ? wait_end::deadline
                         : supervisor_.ended() ? wait_end::shutdown
                                              : wait_end::woken;
    auto out = broker_.finish_wait(id, why);
    if (out.cancel) send(out.cancel->to_json());
    if (out.give_back) send(out.give_back->to_json());
    switch (out.what) {
      case ranges_broker::outcome::no_answer:
        RTY_LOG(warning, component()) << "pilot hung up while waiting for event ranges; its request is withdrawn";
        co_return std::string();  // no answer: the connection is closed
      case ranges_broker::outcome::empty:
        RTY_LOG(info, component()) << "no event range came within "
                                   << std::chrono::duration_cast<std::chrono::seconds>(broker_.max_wait()).count()
                                   << " s: pilot gets [] before its own time limit";
        co_return pilot::reply_event_ranges(0, {});
      case ranges_broker::outcome::server_error:
        co_return pilot::reply_status(500);  // shutting down
      case ranges_broker::outcome::ranges:
        break;
    }
    for (const auto& r : out.delivered) delivered->push_back(r.id);
    co_return pilot::reply_event_ranges(0, out.delivered);
  }

  void deliver_ranges(protocol::ranges_reply reply) {
    auto d = broker_.coordinator_replied(std::move(reply));
    if (!d.give_back.ranges.empty()) send(d.give_back.to_json());  // pilot gave up on that request
    for (auto id : d.woken) {
      if (auto it = pending_.find(id); it != pending_.end()) it->second->wake.cancel();
    }
  }

  std::string update_event_ranges(std::string_view target, std::string_view content_type, const std::string& body) {
    auto fields = pilot::decode_body(target, content_type, body);
    if (!fields) {
      RTY_LOG(error, component()) << "updateEventRanges: " << log::escape(fields.error().message());
      return pilot::reply_status(500);
    }
    auto updates = pilot::parse_update_event_ranges(*fields);
    if (!updates) {
      RTY_LOG(error, component()) << "updateEventRanges: " << log::escape(updates.error().message());
      return pilot::reply_status(500);
    }
    // Only ranges this stub handed to its pilot, each reported once (issue 13): range ids are
    // predictable, and a forged finish must not reach the coordinator (stub/update_filter.hpp).
    if (!output_guard_) output_guard_.emplace(actor_dir_);
    update_io io(*this);
    return pilot::reply_status(filter_updates(broker_, std::move(*updates), supervisor_.channel_gone(), io));
  }

  // What the update filter asks of the stub: move outputs, send, and the log lines.
  struct update_io final : update_sink {
    explicit update_io(stub& s) : s_(s), outputs_(*s.output_guard_) {}
    rty::result<std::string> store_output(const std::string& path) override {
      auto checked = outputs_.check(path);
      if (!checked) return checked;
      return move_output(*checked, outputs_.last(), s_.task_dir_, s_.task_fd_, s_.opts_.node_id);
    }
    bool forward(const protocol::ranges_update& update) override {
      return s_.send(update.to_json(protocol::message_arena()));
    }
    void unreachable() override {
      RTY_LOG(error, s_.component()) << "updateEventRanges while the coordinator is unreachable: refused";
    }
    void refused(const std::string& id) override {
      RTY_LOG(error, s_.component()) << "updateEventRanges for range " << log::escape(id, 200)
                                     << ", which this node's pilot was never given: refused";
    }
    void repeated(std::size_t n, const std::string& first) override {
      RTY_LOG(info, s_.component()) << "updateEventRanges repeats " << n << " report(s) already forwarded (first: "
                                    << log::escape(first, 200) << "): skipped";
    }
    void withheld(const std::string& id, const std::string& why) override {
      // The coordinator stops the run when it cannot write its checkpoint either.
      RTY_LOG(error, s_.component()) << "range " << log::escape(id, 200) << " finished but " << log::escape(why)
                                     << "; not reported, its output stays in the pilot directory";
    }
    void output_failed(const std::string& id, const std::string& why) override {
      RTY_LOG(error, s_.component()) << "range " << log::escape(id, 200) << " reported finished but "
                                     << log::escape(why) << "; reported as failed so that it is simulated again";
    }
    stub& s_;
    pilot_dir_guard::batch outputs_;
  };

  asio::io_context& io_;
  options opts_;
  std::shared_ptr<net::channel> channel_;
  std::optional<pilot_dir_guard> output_guard_;  // the node's pilot directory, resolved once
  peer_uid_finder find_peer_uid_;                // who is on the other end of a pilot-port connection
  const uid_t euid_ = ::geteuid();               // the only uid allowed on the pilot port
  std::optional<tcp::endpoint> listen_endpoint_;  // the pilot port (127.0.0.1:port), once listening
  // pilot-port connections still sending their request (pilot needs a handful at most).
  admission_queue reading_{64};
  log_throttle http_refusals_{10, std::chrono::minutes(1)};
  std::uint64_t http_reads_ = 0;
  protocol::welcome welcome_;
  std::optional<pilot::worker_node_report> worker_node_;  // what pilot's update_worker_node said
  std::optional<tcp::acceptor> acceptor_;
  asio::steady_timer heartbeat_timer_;
  asio::steady_timer grace_timer_;
  asio::steady_timer kill_timer_;
  asio::signal_set signals_;
  std::chrono::steady_clock::time_point last_rx_{};
  std::map<std::string, std::string> pilot_env_;
  std::map<std::uint64_t, std::shared_ptr<pending_ranges>> pending_;
  std::map<pid_t, protocol::merge_result> merges_;  // running merge_runs by pid (result filled on exit)
  ranges_broker broker_{hold_limit(std::nullopt)};
  std::string actor_dir_, task_dir_;
  int task_fd_ = -1;  // task_dir_ opened O_PATH once (kept for the stub's life, like the pilot directory's)
  std::string pilot_home_;  // the running (or last) pilot's directory: actor_dir_ or an attempt-<k> under it
  unsigned short server_port_ = 0;
  pid_t pilot_pid_ = -1;
  pid_t guard_pid_ = -1;
  int guard_fd_ = -1;
  pilot_supervisor supervisor_{*this};
  int exit_code_ = 0;
};

}  // namespace

int run(options opts) {
  // SIGCHLD/SIGTERM are handled on the loop; block them for the rest of the process so that the
  // signal_set sees them. SIGPIPE would kill us on a closed socket: ignore it.
  ::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  auto s = std::make_shared<stub>(io, std::move(opts));
  s->start();
  io.run();
  return s->exit_code();
}

}  // namespace rty::stub
