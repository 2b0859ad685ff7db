// The coordinator's I/O shell: one io_context on one thread owns the run. It gets the job from
// Harvester, listens for stubs, launches them, turns channel frames, child exits, signals and timers
// into engine calls, writes the checkpoint, and finishes the run (renames, final report).
// This is the only Asio translation unit of raythenad besides the stub's.
#include "coordinator/daemon.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "common/admission.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "common/sd_notify.hpp"
#include "config/address.hpp"
#include "coordinator/channel_io.hpp"
#include "coordinator/engine.hpp"
#include "coordinator/finalize.hpp"
#include "coordinator/status_client.hpp"
#include "coordinator/status_report.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/ini.hpp"
#include "harvester/messenger.hpp"
#include "launch/launcher.hpp"
#include "pilot/job_patch.hpp"
#include "pilot/reply.hpp"
#include "pilot/request.hpp"
#include "pilot/payload_script.hpp"
#include "pilot/time_monitor.hpp"
#include "protocol/auth.hpp"
#include "protocol/messages.hpp"
#include "rty/version.hpp"

namespace rty::coordinator {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using asio::awaitable;
using asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr const char* log_name = "Driver";

// This host's address that other nodes can reach: the first non-loopback IPv4 interface address.
std::string reachable_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "127.0.0.1";
  std::string found;
  for (auto* a = list; a; a = a->ifa_next) {
    if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP)) continue;
    char buf[NI_MAXHOST];
    if (::getnameinfo(a->ifa_addr, sizeof(sockaddr_in), buf, sizeof buf, nullptr, 0, NI_NUMERICHOST) == 0) {
      found = buf;
      break;
    }
  }
  ::freeifaddrs(list);
  return found.empty() ? "127.0.0.1" : found;
}

std::string self_executable_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

class daemon final : public engine_io, public std::enable_shared_from_this<daemon> {
 public:
  daemon(asio::io_context& io, const config::settings& cfg)
      : io_(io), cfg_(cfg), signals_(io, SIGCHLD, SIGTERM, SIGINT), usr1_(io, SIGUSR1), status_timer_(io),
        checkpoint_timer_(io), heartbeat_timer_(io), walltime_timer_(io), hard_stop_timer_(io), harvester_timer_(io),
        progress_timer_(io), dump_timer_(io), rate_timer_(io), watchdog_timer_(io) {}

  int exit_code() const { return exit_code_; }

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

  void send(conn_id to, const boost::json::object& message) override {
    auto it = connections_.find(to);
    if (it == connections_.end()) return;
    it->second.channel->send(message);
    it->second.last_tx = std::chrono::steady_clock::now();
  }

  void close(conn_id node, const std::string& reason) override {
    auto it = connections_.find(node);
    if (it == connections_.end()) return;
    RTY_LOG(info, log_name) << "closing channel to " << it->second.channel->peer() << ": " << reason;
    it->second.channel->close_after_flush();
  }

  bool start_merge(const merge::merge_command& command) override {
    std::string what;
    if (auto ec = merge::prepare_work_dir(command, &what)) {
      RTY_LOG(error, log_name) << "merge " << command.output_name << ": cannot prepare " << command.work_dir << ": "
                               << what;
      return false;
    }
    process::spawn_options o;
    o.argv = command.argv;
    o.cwd = command.work_dir;
    o.stdout_path = command.log_path;
    o.stderr_path = "=stdout";
    o.new_process_group = true;
    std::string err;
    auto pid = process::spawn(o, err);
    if (!pid) {
      RTY_LOG(error, log_name) << "merge " << command.output_name << ": " << err;
      return false;
    }
    merge_pids_[*pid] = command.output_name;
    return true;
  }

  void ranges_reported(const std::vector<rty::range_update>& updates) override {
    if (!harvester_source()) return;
    // Status only: an entry with a path would make Harvester stage out the per-range file, but the
    // outputs are merged on site and reach Harvester through state.json's merged map.
    std::vector<rty::range_update> status_only;
    status_only.reserve(updates.size());
    for (const auto& u : updates) {
      rty::range_update e;
      e.range_id = u.range_id;
      e.status = u.status;
      e.error_code = u.error_code;
      status_only.push_back(std::move(e));
    }
    messenger_->queue_update(job_->panda_id, status_only);
  }

  void merge_recorded(const rty::merge_task& task, bool succeeded) override {
    // The per-range files of a merged group may go once a checkpoint records the merge (until then a
    // crash merges the group again, from them); Raythena's cleaner thread did this every 60 s by name.
    if (succeeded)
      for (auto& in : task.inputs) unlink_after_checkpoint_.push_back(in.path);
    request_checkpoint("merge result");
  }

 private:
  // Merge results come dozens a second on a large allocation, and each checkpoint rewrites the whole
  // state.json (a second for millions of ranges): they are coalesced, so that checkpoints take at most
  // a tenth of the event loop's time, and are at least a second apart. A lone merge result is written
  // at once.
  void request_checkpoint(const char* why) {
    if (checkpoint_due_ || !book_ || final_checkpoint_written_) return;
    checkpoint_due_ = true;
    const auto spacing = std::max<std::chrono::steady_clock::duration>(1s, 9 * last_checkpoint_cost_);
    coalesce_timer_.expires_at(last_checkpoint_end_ + spacing);
    coalesce_timer_.async_wait([self = shared_from_this(), why](boost::system::error_code ec) {
      if (ec || !self->checkpoint_due_) return;
      self->save_checkpoint(why);
    });
  }

 private:
  struct connection {
    std::shared_ptr<net::channel> channel;
    std::chrono::steady_clock::time_point last_rx;
    bool joined = false;
    std::chrono::steady_clock::time_point last_tx{};  // any frame counts as a heartbeat for the stub
  };

  // --- the run -------------------------------------------------------------------------------------

  awaitable<void> main() {
    auto self = shared_from_this();
    RTY_LOG(info, log_name) << "raythenad " << rty::version << " starting; workdir " << cfg_.ray.workdir;
    watch_signals();
    watch_usr1();
    start_status_endpoint();
    arm_watchdog();
    notifier_.ready("waiting for the job from Harvester");
    if (!co_await acquire_job()) co_return;
    if (!prepare_task()) co_return;
    if (!start_listening()) co_return;
    engine_ = std::make_unique<engine>(make_engine_settings(), *job_, *book_, *this);
    rate_.start(std::chrono::steady_clock::now(), ranges_done(engine_->status()));
    last_done_ = ranges_done(engine_->status());  // restored ranges are not progress of this run
    notifier_.status("running job " + job_->panda_id);
    if (engine_->outcome() == run_outcome::complete) {
      RTY_LOG(info, log_name) << "every event of this job is already merged (resumed run): finishing";
      finish_run();
      co_return;
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
    if (!launch_stubs()) co_return;
    if (harvester_source()) {
      asio::co_spawn(io_, feed_ranges(), asio::detached);
      arm_periodic(dump_timer_, 1s, [this] { flush_dumps(false); });
    }
    arm_periodic(status_timer_, cfg_.ray.statusinterval, [this] { log_status(); });
    arm_periodic(rate_timer_, 1s, [this] {
      sample_rate();
      check_inactivity();
    });
    if (::isatty(STDOUT_FILENO)) arm_periodic(progress_timer_, 1s, [this] { show_progress(); });
    arm_periodic(checkpoint_timer_, cfg_.ray.checkpointinterval, [this] { save_checkpoint("periodic"); });
    arm_periodic(heartbeat_timer_, std::chrono::milliseconds(heartbeat_interval()) / heartbeat_slices,
                 [this] { heartbeat_tick(); });
    arm_walltime();
    check_done();
  }

  awaitable<bool> acquire_job() {
    std::string endpoint = cfg_.harvester.endpoint.value_or(cfg_.ray.workdir);
    std::string conf = cfg_.harvester.harvesterconf.value_or("");
    auto ini = harvester::ini_file::load(conf);
    if (!ini) {
      fail(exit_harvester_error, "cannot read Harvester's config " + ini.error().file + ":" +
                                     std::to_string(ini.error().line) + ": " + ini.error().message);
      co_return false;
    }
    auto files = harvester::resolve_messenger_files(*ini, endpoint);
    if (!files) {
      fail(exit_harvester_error, "Harvester config " + conf + ": " + files.error());
      co_return false;
    }
    if (auto qd = harvester::queuedata_path(*ini, cfg_.payload.pandaqueue.value_or(""))) {
      auto q = harvester::load_queuedata(*qd);
      if (q) queuedata_ = *q;
      else RTY_LOG(warning, log_name) << "queuedata: " << q.error();
    }
    harvester::messenger_options mo;
    mo.job_timeout = cfg_.harvester.timeout;
    messenger_.emplace(*files, mo);
    for (;;) {
      auto result = messenger_->poll_job(harvester::clock::now());
      if (auto* ready = std::get_if<harvester::job_ready>(&result)) {
        job_ = std::move(ready->job);
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
      if (ec || stopping_) {
        fail(exit_incomplete, "stopped while waiting for the job from Harvester");
        co_return false;
      }
    }
  }

  bool prepare_task() {
    std::string base = cfg_.ray.taskprogressbasedir.value_or(cfg_.ray.workdir);
    task_dir_ = file::join(base, job_->task_id);
    std::error_code ec;
    for (auto dir : {task_dir_, task_dir_ + "/final", task_dir_ + "/job-reports"}) {
      fs::create_directories(dir, ec);
      if (ec) {
        fail(exit_runtime_error, "cannot create the task directory " + dir + ": " + ec.message());
        return false;
      }
    }
    std::string endpoint = cfg_.harvester.endpoint.value_or(cfg_.ray.workdir);
    std::string what;
    if (harvester::write_task_workdir_path(endpoint, task_dir_, &what))
      RTY_LOG(error, log_name) << "cannot write task_workdir_path.txt: " << what;

    bookkeeping::options bo;
    bo.endpoint = endpoint;
    bo.max_attempts = cfg_.ray.maxrangeattempts;
    bo.task_dir = task_dir_;
    bo.external_ranges = harvester_source();
    if (auto problem = bookkeeping::bookkeeper::check_job(*job_)) {
      fail(exit_harvester_error, "job " + job_->panda_id + " cannot be processed: " + *problem);
      return false;
    }
    book_ = std::make_unique<bookkeeping::bookkeeper>(*job_, bo);

    auto log = merge::commit_log::load(task_dir_ + "/commit_log");
    if (!log) {
      fail(exit_runtime_error, log.error());
      return false;
    }
    commit_log_.emplace(std::move(*log));
    auto cp = bookkeeping::load_checkpoint(checkpoint_path());
    if (!cp) {
      // Never start over silently: the recorded events would be simulated twice.
      fail(exit_runtime_error, cp.error() + " (fix or move it away to start this task from scratch)");
      return false;
    }
    if (*cp) {
      book_->restore(**cp, commit_log_->renamed());
      for (auto& p : book_->restore_problems()) RTY_LOG(warning, log_name) << "checkpoint: " << p;
      auto c = book_->get_counts();
      RTY_LOG(info, log_name) << "resumed from " << checkpoint_path() << ": " << c.finished << " finished, "
                              << c.failed << " failed, " << c.merged_events << " merged of " << c.total << " events";
    }

    return true;
  }

  std::string checkpoint_path() const { return task_dir_ + "/state.json"; }

  bool harvester_source() const { return cfg_.harvester.eventsource == config::event_source::harvester; }

  // harvester.eventsource = harvester: ranges come from Harvester's event feed (harvester-messenger
  // spec §3.2). A request is kept outstanding while fewer than one batch per node is leasable, so that
  // pilots rarely wait on Harvester's minutes-long answers.
  awaitable<void> feed_ranges() {
    auto self = shared_from_this();
    const int nodes = std::max(1, node_count());
    const auto batch = static_cast<std::uint64_t>(cfg_.resources.corepernode) * static_cast<std::uint64_t>(nodes);
    const int ask = cfg_.resources.corepernode * nodes * std::max(1, cfg_.ray.cachesizefactor);
    RTY_LOG(info, log_name) << "event ranges come from Harvester, " << ask << " per request";
    while (!finished_ && book_->awaiting_supply() > 0) {
      auto now = harvester::clock::now();
      if (book_->leasable() < batch) {
        auto req = messenger_->request_ranges(job_->panda_id, ask, job_->task_id, job_->jobset_id, now);
        if (!req) RTY_LOG(error, log_name) << "event range request: " << req.error();
      }
      auto result = messenger_->poll_ranges(now);
      std::chrono::milliseconds delay{0};
      if (auto* got = std::get_if<harvester::ranges_ready>(&result)) {
        if (got->ranges.empty()) {
          auto groups = book_->source_exhausted();
          RTY_LOG(info, log_name) << "Harvester has no more event ranges for job " << job_->panda_id
                                  << (groups ? "; " + std::to_string(groups) +
                                                   " output(s) it never completed here are reported as not merged"
                                             : std::string());
        } else {
          std::vector<std::string> problems;
          auto added = book_->supply(got->ranges, &problems);
          for (auto& p : problems) RTY_LOG(warning, log_name) << "Harvester ranges: " << p;
          RTY_LOG(info, log_name) << "Harvester supplied " << added << " event range(s) (" << got->archived_as << ")";
        }
        engine_->ranges_supplied();
        check_done();
      } else if (auto* failed = std::get_if<harvester::failed>(&result)) {
        RTY_LOG(critical, log_name) << "event ranges from Harvester: " << failed->message
                                    << "; treating it as the end of the event feed";
        book_->source_exhausted();
        engine_->ranges_supplied();
        check_done();
        co_return;
      } else {
        delay = std::min<std::chrono::milliseconds>(std::get<harvester::waiting>(result).delay, 1000ms);
      }
      if (delay.count() == 0) delay = 50ms;
      harvester_timer_.expires_after(delay);
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

  bool start_listening() {
    std::string address = cfg_.ray.headip.value_or("");
    if (address.empty())
      address = (launcher_name() == "local") ? std::string("127.0.0.1") : reachable_address();
    boost::system::error_code ec;
    auto ip = asio::ip::make_address(address, ec);
    if (ec) {
      tcp::resolver resolver(io_);
      auto results = resolver.resolve(address, "0", ec);
      if (ec || results.empty()) {
        fail(exit_runtime_error, "ray.headip '" + address + "' is neither an address nor a resolvable name");
        return false;
      }
      ip = results.begin()->endpoint().address();
    }
    acceptor_.emplace(io_);
    tcp::endpoint ep(ip, 0);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      fail(exit_runtime_error, "cannot listen on " + address + ": " + ec.message());
      return false;
    }
    auto local = acceptor_->local_endpoint();
    listen_address_ = (local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string()) +
                      ":" + std::to_string(local.port());
    secret_ = protocol::make_secret();
    secret_file_ = file::join(cfg_.ray.workdir, ".raythenad-secret");
    std::string what;
    const mode_t old_mask = ::umask(0077);  // the secret file is never readable by others, not for an instant
    auto wec = file::write_atomic(secret_file_, secret_ + "\n", &what);
    ::umask(old_mask);
    if (wec) {
      fail(exit_runtime_error, "cannot write the run's secret: " + what);
      return false;
    }
    ::chmod(secret_file_.c_str(), 0600);
    RTY_LOG(info, log_name) << "listening for stubs on " << listen_address_;
    return true;
  }

  std::string launcher_name() const {
    switch (cfg_.ray.launcher) {
      case config::launcher_kind::local: return "local";
      case config::launcher_kind::srun: return "srun";
      case config::launcher_kind::ssh: return "ssh";
      case config::launcher_kind::automatic: break;
    }
    return launch::resolve_launcher_name("auto");
  }

  int node_count() const {
    auto name = launcher_name();
    if (name == "local") return std::max(1, cfg_.ray.nodes.value_or(cfg_.ray.localnodes));
    if (name == "ssh") return static_cast<int>(cfg_.ray.sshhosts.size());
    launch::launch_request r;
    r.nodes = cfg_.ray.nodes.value_or(0);
    return launch::srun_node_count(r);
  }

  bool launch_stubs() {
    launch::launch_request r;
    r.stub_executable = cfg_.ray.stubexecutable.empty() ? self_executable_dir() + "/raythena-stub" : cfg_.ray.stubexecutable;
    r.coordinator = listen_address_;
    r.secret = secret_;
    r.secret_file = secret_file_;
    r.log_dir = file::join(file::join(cfg_.ray.workdir, job_->panda_id), "stub-logs");
    r.nodes = node_count();
    r.debug = log::enabled(log::level::debug);
    r.ssh_hosts = cfg_.ray.sshhosts;
    r.ssh_key = cfg_.ray.sshkey.value_or("");
    r.ssh_known_hosts = cfg_.ray.sshknownhosts;
    r.ssh_accept_new = cfg_.ray.sshacceptnew;
    try {
      launcher_ = launch::make_launcher(launcher_name());
    } catch (const std::exception& e) {
      fail(exit_runtime_error, e.what());
      return false;
    }
    auto result = launcher_->launch(r);
    for (auto& f : result.failures) RTY_LOG(error, log_name) << "launch: " << f;
    for (auto& p : result.processes) {
      RTY_LOG(info, log_name) << "started " << p.what << (p.pid > 0 ? " (pid " + std::to_string(p.pid) + ")" : "")
                              << ", log " << p.log_path;
      if (p.pid > 0) stub_pids_[p.pid] = p;
    }
    if (result.processes.empty()) {
      fail(exit_runtime_error, "no stub could be started with the " + launcher_->name() + " launcher");
      return false;
    }
    return true;
  }

  engine_settings make_engine_settings() {
    engine_settings s;
    s.workdir = cfg_.ray.workdir;
    s.task_dir = task_dir_;
    s.endpoint = cfg_.harvester.endpoint.value_or(cfg_.ray.workdir);
    s.corepernode = cfg_.resources.corepernode;
    s.expected_nodes = std::max(1, node_count());
    s.merge_max_processes = cfg_.ray.mergemaxprocesses;
    s.merge_retries = cfg_.ray.mergeretries;
    s.merge.task_dir = task_dir_;
    s.merge.containerengine = cfg_.payload.containerengine.value_or("none");
    if (queuedata_ && !queuedata_->container_type.empty() && !cfg_.payload.runs_merge_without_container() &&
        queuedata_->container_type != s.merge.containerengine) {
      RTY_LOG(info, log_name) << "queuedata container_type '" << queuedata_->container_type
                              << "' replaces payload.containerengine '" << s.merge.containerengine << "'";
      s.merge.containerengine = queuedata_->container_type;
    }
    s.merge.containerextraargs = cfg_.payload.containerextraargs.value_or("");
    s.merge.containerextrasetup = cfg_.payload.containerextrasetup.value_or("");
    if (queuedata_) s.merge.container_options = queuedata_->container_options;

    pilot::payload_options po;
    po.extrasetup = cfg_.payload.extrasetup.value_or("");
    po.extrapostpayload = cfg_.payload.extrapostpayload.value_or("");
    po.pilotwrapper = cfg_.payload.pilotwrapper;
    po.pilotdir = cfg_.payload.pilotdir;
    po.pandaqueue = cfg_.payload.pandaqueue.value_or("");
    po.prod_source_label = job_->prod_source_label;
    po.hpcresource = cfg_.payload.hpcresource.value_or("");
    po.logfilename = cfg_.payload.logfilename;
    auto& ns = s.node_settings;
    ns["payload_script"] = pilot::build_payload_script(po);
    // Several stubs on one host cannot share a port: the local launcher always uses free ports, and
    // serverport 0 asks for the same elsewhere (e.g. Slurm emulating several nodes on one host).
    ns["server_port"] = launcher_name() == "local" ? 0 : cfg_.payload.serverport;
    ns["kill_file"] = cfg_.payload.pilotkillfile;
    ns["kill_at"] = kill_at_epoch_;
    ns["heartbeat_interval"] = heartbeat_interval().count();
    ns["heartbeat_timeout"] = cfg_.ray.heartbeattimeout.count();
    ns["grace"] = cfg_.ray.stubgrace.count();
    if (cfg_.logging.workerlogfile && !cfg_.logging.workerlogfile->empty())
      ns["worker_log"] = fs::path(*cfg_.logging.workerlogfile).filename().string();
    if (const char* pc = std::getenv("HARVESTER_PILOT_CONFIG")) ns["pilot_config"] = pc;
    return s;
  }

  std::chrono::seconds heartbeat_interval() const {
    return std::max<std::chrono::seconds>(1s, cfg_.ray.heartbeattimeout / 4);
  }

  // --- stubs ---------------------------------------------------------------------------------------

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    asio::steady_timer pause(io_);
    while (acceptor_ && acceptor_->is_open()) {
      auto [ec, socket] = co_await acceptor_->async_accept(as_tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        // Out of file descriptors: a flood of connections, or a limit too low for the node count.
        if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
          RTY_LOG(warning, log_name) << "accept: " << ec.message()
                                     << (net::out_of_descriptors(ec) ? " (cutting the oldest unauthenticated connection)"
                                                                     : "")
                                     << v.note();
        co_await net::after_accept_error(ec, unproven_, pause);
        continue;
      }
      asio::co_spawn(io_, session(std::move(socket)), asio::detached);
    }
  }

  static std::size_t unproven_limit() {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 65536;
    return static_cast<std::size_t>(std::clamp<rlim_t>(rl.rlim_cur / 2, 16, 65536));
  }

  awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    conn_id id = ++next_conn_;
    auto ch = std::make_shared<net::channel>(std::move(socket), protocol::default_max_frame);
    // Until it proves the secret, a connection may be cut to make room (see common/admission.hpp).
    auto was_cut = std::make_shared<bool>(false);
    unproven_.admit(id, [this, was_cut, weak = std::weak_ptr<net::channel>(ch)] {
      auto c = weak.lock();
      if (!c) return;
      *was_cut = true;
      if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
        RTY_LOG(warning, log_name) << "cut unauthenticated connection from " << c->peer() << ": "
                                   << unproven_.size() + 1 << " connections waiting to authenticate (limit "
                                   << unproven_.limit() << ")" << v.note();
      c->close();
    });
    // A peer gets a few seconds to prove itself, and nothing it sends before that is acted upon.
    auto auth_timer = std::make_shared<asio::steady_timer>(io_, std::min<std::chrono::seconds>(10s, cfg_.ray.heartbeattimeout));
    auth_timer->async_wait([ch](boost::system::error_code ec) {
      if (!ec) ch->close();
    });
    protocol::challenge challenge;
    challenge.nonce = protocol::make_nonce();
    ch->send(challenge.to_json());
    auto first = co_await ch->receive();
    auth_timer->cancel();
    unproven_.settle(id);
    std::string refusal;
    std::optional<protocol::hello> hello;
    if (!first) {
      refusal = first.error();
    } else if (auto h = protocol::hello::from_json(*first); !h) {
      refusal = h.error();
    } else if (!protocol::verify_proof(secret_, challenge.nonce, h->node_id, h->proof)) {
      refusal = "wrong proof of the run's secret for node '" + h->node_id + "'";
    } else {
      hello = std::move(*h);
    }
    if (!hello) {
      if (*was_cut) co_return;  // logged when it was cut
      if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
        RTY_LOG(warning, log_name) << "refused connection from " << ch->peer() << ": " << refusal
                                   << v.note();
      protocol::error e;
      e.message = "authentication failed";
      ch->send(e.to_json());
      ch->close_after_flush();
      co_return;
    }
    if (finished_) {
      ch->close();
      co_return;
    }
    connections_[id] = connection{ch, std::chrono::steady_clock::now(), true};
    engine_->node_joined(id, *hello, ch->peer());
    check_done();
    for (;;) {
      auto msg = co_await ch->receive();
      // Once the run is finished (report and final checkpoint written) nothing may change the book.
      if (finished_) co_return;
      if (!msg) {
        if (connections_.erase(id) && engine_) engine_->node_lost(id, msg.error());
        drain_if_no_stub_left();
        check_done();
        co_return;
      }
      auto it = connections_.find(id);
      if (it == connections_.end()) co_return;
      it->second.last_rx = std::chrono::steady_clock::now();
      engine_->message(id, *msg);
      check_done();
    }
  }

  // Each tick visits one slice of the connections, so each is visited once per heartbeat interval:
  // 10,000 heartbeat frames in one handler held every request behind them for tens of ms. A stub that
  // got any frame within the interval needs no heartbeat (it watches for any traffic).
  void heartbeat_tick() {
    static const std::string frame = protocol::encode_frame(protocol::heartbeat{}.to_json());
    auto now = std::chrono::steady_clock::now();
    std::vector<conn_id> silent;
    const std::size_t slice = (connections_.size() + heartbeat_slices - 1) / heartbeat_slices;
    auto it = connections_.lower_bound(heartbeat_cursor_);
    for (std::size_t n = 0; n < slice; ++n, ++it) {
      if (it == connections_.end()) it = connections_.begin();
      auto& [id, c] = *it;
      if (now - c.last_rx > cfg_.ray.heartbeattimeout) {
        silent.push_back(id);
      } else if (now - c.last_tx >= heartbeat_interval()) {
        c.channel->send_raw(frame);
        c.last_tx = now;
      }
    }
    heartbeat_cursor_ = it == connections_.end() ? 0 : it->first;
    for (auto id : silent) {
      auto it = connections_.find(id);
      it->second.channel->close();
      connections_.erase(it);
      engine_->node_lost(id, "no heartbeat for " + std::to_string(cfg_.ray.heartbeattimeout.count()) + " s");
    }
    drain_if_no_stub_left();
    check_done();
  }

  // --- processes and signals -----------------------------------------------------------------------

  void watch_signals() {
    signals_.async_wait([self = shared_from_this()](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGCHLD)
        self->reap_children();
      else
        self->on_stop_signal(sig);
      self->watch_signals();
    });
  }

  void watch_usr1() {
    usr1_.async_wait([self = shared_from_this()](boost::system::error_code ec, int) {
      if (ec) return;
      self->save_checkpoint("SIGUSR1");
      self->watch_usr1();
    });
  }

  void reap_children() {
    for (auto it = merge_pids_.begin(); it != merge_pids_.end();) {
      auto status = process::try_reap(it->first);
      if (!status) {
        ++it;
        continue;
      }
      std::string output = it->second;
      it = merge_pids_.erase(it);
      if (engine_ && !finished_) engine_->merge_exited(output, *status);
    }
    for (auto it = stub_pids_.begin(); it != stub_pids_.end();) {
      auto status = process::try_reap(it->first);
      if (!status) {
        ++it;
        continue;
      }
      bool ok = status->exited_normally() && status->code == 0;
      if (ok)
        RTY_LOG(info, log_name) << it->second.what << " exited";
      else
        RTY_LOG(error, log_name) << it->second.what << " ended: " << process::describe(*status) << " (log "
                                 << it->second.log_path << ")";
      it = stub_pids_.erase(it);
    }
    drain_if_no_stub_left();
    check_done();
  }

  // Nobody left to process ranges (local/srun children reaped, remote ssh stubs ended, none
  // connected): merge what is complete and stop; the next run resumes. Checked on SIGCHLD and on the
  // heartbeat tick, because remote stubs are not our children.
  void drain_if_no_stub_left() {
    if (!launcher_ || !engine_ || finished_ || engine_->draining()) return;
    if (book_->exhausted()) return;  // every range is done: the run only waits for its last merges
    if (!stub_pids_.empty() || !connections_.empty() || launcher_->remote_alive() > 0) return;
    if (engine_->outcome() != run_outcome::running) return;
    engine_->drain("no stub is running any more");
  }

  void on_stop_signal(int sig) {
    if (finished_) return;  // already writing the end of the run
    ++stop_signals_;
    if (stop_signals_ == 1 && engine_) {
      RTY_LOG(warning, log_name) << "received " << ::strsignal(sig) << ": draining, checkpoint saved";
      notifier_.stopping(std::string("draining after ") + ::strsignal(sig));
      save_checkpoint("signal");
      engine_->drain(std::string("signal ") + ::strsignal(sig));
      // The short form of the walltime drain: pilots get a moment to report, then everything stops.
      stop_after_short_drain("drain period after the stop signal is over");
      check_done();
      return;
    }
    stopping_ = true;
    harvester_timer_.cancel();
    hard_stop(std::string("second stop signal (") + ::strsignal(sig) + ")");
  }

  void stop_after_short_drain(std::string why) {
    hard_stop_timer_.expires_after(std::min<std::chrono::seconds>(30s, cfg_.payload.pilotkilltime));
    hard_stop_timer_.async_wait([self = shared_from_this(), why = std::move(why)](boost::system::error_code ec) {
      if (!ec) self->hard_stop(why);
    });
  }

  // ray.timeoutinterval, Raythena's inactivity watchdog: once a range has finished, a run in which no
  // range finishes or fails for that long while some are still to do is stuck (pilots hung behind live
  // stubs, which heartbeats cannot see). It drains like a stop signal; the next run resumes.
  void check_inactivity() {
    const auto limit = cfg_.ray.timeoutinterval;
    if (limit.count() <= 0 || !engine_ || finished_ || engine_->draining()) return;
    const auto s = engine_->status();
    const auto done = ranges_done(s);
    const auto now = std::chrono::steady_clock::now();
    if (done != last_done_) {
      last_done_ = done;
      last_progress_ = now;
      return;
    }
    if (!last_progress_ || s.ranges.ready + s.ranges.leased == 0) return;
    if (now - *last_progress_ < limit) return;
    const std::string why = "no event range finished or failed for " + std::to_string(limit.count()) +
                            " s (ray.timeoutinterval)";
    RTY_LOG(error, log_name) << why << " while " << s.ranges.leased << " are leased: pilots look stuck";
    save_checkpoint("inactivity");
    engine_->drain(why);
    stop_after_short_drain("drain period after " + why + " is over");
    check_done();
  }

  void hard_stop(const std::string& why) {
    if (finished_) return;
    RTY_LOG(warning, log_name) << "stopping now: " << why;
    if (!engine_) {
      fail(exit_incomplete, why);
      return;
    }
    engine_->stop_nodes(why);
    finish_run();
  }

  // --- walltime ------------------------------------------------------------------------------------

  void arm_walltime() {
    if (kill_at_epoch_ <= 0) return;
    auto deadline = std::chrono::system_clock::time_point(std::chrono::seconds(kill_at_epoch_));
    auto delay = std::chrono::duration_cast<std::chrono::steady_clock::duration>(deadline - std::chrono::system_clock::now());
    walltime_timer_.expires_after(std::max<std::chrono::steady_clock::duration>(delay, 0s));
    walltime_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->engine_->drain("walltime: less than payload.pilotkilltime left");
      self->notifier_.stopping("draining: walltime");
      // Leave half of the kill time for pilots to finish and merges to run, then stop for sure.
      // A stop signal may already have set an earlier hard stop: keep that one.
      auto when = std::chrono::steady_clock::now() + std::max<std::chrono::seconds>(5s, self->cfg_.payload.pilotkilltime / 2);
      if (self->stop_signals_ == 0 || when < self->hard_stop_timer_.expiry()) {
        self->hard_stop_timer_.expires_at(when);
        self->hard_stop_timer_.async_wait([self](boost::system::error_code ec2) {
          if (!ec2) self->hard_stop("walltime nearly over");
        });
      }
      self->check_done();
    });
  }

 public:
  // Files handed to the file worker are all removed before the process ends.
  void finish_file_work() { file_worker_.join(); }

  // Read before the engine exists: the kill time goes to every stub in its welcome.
  void read_time_monitor() {
    std::string path = file::join(cfg_.ray.workdir, cfg_.payload.timemonitorfile);
    std::string what;
    auto text = file::read_all(path, &what);
    if (!text) {
      RTY_LOG(info, log_name) << "no time-monitor file (" << what << "): no walltime limit";
      return;
    }
    auto tm = pilot::parse_time_monitor(*text);
    if (!tm) {
      RTY_LOG(warning, log_name) << "time-monitor file " << path << ": " << tm.error() << "; no walltime limit";
      return;
    }
    // The batch script writes the file right after the job starts: its mtime pins the start day.
    auto reference = std::chrono::system_clock::now();
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0)
      reference = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
    auto deadline = pilot::kill_deadline(*tm, reference, cfg_.payload.pilotkilltime);
    kill_at_epoch_ = std::chrono::duration_cast<std::chrono::seconds>(deadline.time_since_epoch()).count();
    auto left = std::chrono::duration_cast<std::chrono::seconds>(deadline - std::chrono::system_clock::now());
    RTY_LOG(info, log_name) << "walltime: ranges stop being handed out in " << left.count() << " s";
  }

 private:
  // --- periodic ------------------------------------------------------------------------------------

  template <class F>
  void arm_periodic(asio::steady_timer& timer, std::chrono::steady_clock::duration every, F f) {
    if (every <= 0s) return;
    timer.expires_after(every);
    timer.async_wait([self = shared_from_this(), &timer, every, f](boost::system::error_code ec) {
      if (ec || self->finished_) return;
      f();
      self->arm_periodic(timer, every, f);
    });
  }

  // One set of numbers for the log line, the terminal's live line, /status and /metrics.
  void sample_rate() {
    if (engine_) rate_.sample(std::chrono::steady_clock::now(), ranges_done(engine_->status()));
  }

  void log_status() {
    if (auto n = refusals_.take_suppressed())
      RTY_LOG(warning, log_name) << n << " more connection(s) cut or refused on the stub port without a line each";
    sample_rate();
    auto s = engine_->status();
    std::ostringstream line;
    line << "status: ranges ready " << s.ranges.ready << ", leased " << s.ranges.leased << ", finished "
         << s.ranges.finished << ", failed " << s.ranges.failed << " of " << s.ranges.total << "; nodes "
         << s.nodes_connected << "; merges running " << s.merges_running << ", done " << s.merges_done << ", failed "
         << s.merges_failed << "; " << static_cast<long>(rate_.window_rate()) << " events/s"
         << (s.draining ? "; draining" : "");
    RTY_LOG(info, log_name) << line.str();
    notifier_.status(line.str().substr(8));
  }

  // A one-line live display when stdout is a terminal (the log goes to stderr or a file).
  void show_progress() {
    sample_rate();
    auto in = make_status_input();
    auto& s = in.engine;
    auto done = ranges_done(s);
    double pct = s.ranges.total ? 100.0 * static_cast<double>(done) / static_cast<double>(s.ranges.total) : 100.0;
    std::ostringstream line;
    line << "\r\033[K[raythenad] " << done << "/" << s.ranges.total << " events (" << static_cast<int>(pct)
         << "%), " << s.ranges.failed << " failed, " << s.nodes_connected << " node(s), merges " << s.merges_done
         << " done/" << s.merges_running << " running, " << static_cast<long>(in.events_per_s_last_minute)
         << " events/s";
    if (auto eta = eta_seconds(in)) line << ", ETA " << static_cast<long>(*eta) << " s";
    if (s.draining) line << ", draining";
    std::string text = line.str();
    (void)!::write(STDOUT_FILENO, text.data(), text.size());
    progress_shown_ = true;
  }

  status_input make_status_input() {
    status_input in;
    in.version = rty::version;
    in.now = std::chrono::system_clock::now();
    in.started = started_wall_;
    if (job_) {
      in.job_id = job_->panda_id;
      in.task_id = job_->task_id;
    }
    if (!engine_) {
      in.state = "waiting for job";
      return in;
    }
    if (finished_) in.state = "finishing";
    in.engine = engine_->status();
    in.events_per_s_last_minute = rate_.window_rate();
    in.events_per_s_since_start = rate_.overall_rate();
    auto now = std::chrono::steady_clock::now();
    for (auto& [conn, node] : engine_->nodes()) {
      std::optional<double> age;
      if (auto c = connections_.find(conn); c != connections_.end())
        age = std::chrono::duration<double>(now - c->second.last_rx).count();
      in.nodes.push_back(make_node_report(node, book_->leased_to(node.index), age, engine_->draining()));
    }
    if (kill_at_epoch_ > 0)
      in.walltime_deadline = std::chrono::system_clock::time_point(std::chrono::seconds(kill_at_epoch_));
    return in;
  }

  // --- status endpoint: GET /status (JSON) and /metrics (Prometheus) on ray.statusaddress -------

  void start_status_endpoint() {
    const auto where = config::parse_listen_address(cfg_.ray.statusaddress);  // the loader checked the form
    if (!where || !where->enabled) {
      RTY_LOG(info, log_name) << "no status endpoint (ray.statusaddress " << cfg_.ray.statusaddress << ")";
      return;
    }
    boost::system::error_code ec;
    status_acceptor_.emplace(io_);
    tcp::endpoint ep(asio::ip::make_address(where->host, ec), static_cast<unsigned short>(where->port));
    if (!ec) status_acceptor_->open(ep.protocol(), ec);
    if (!ec) status_acceptor_->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) status_acceptor_->bind(ep, ec);
    if (!ec) status_acceptor_->listen(64, ec);
    if (ec) {
      // Monitoring is not worth losing a batch allocation over: the run goes on without it.
      RTY_LOG(warning, log_name) << "no status endpoint: cannot listen on ray.statusaddress "
                                 << cfg_.ray.statusaddress << ": " << ec.message();
      status_acceptor_.reset();
      return;
    }
    // A wildcard address is reachable from this host through loopback, which is what status.url is for.
    auto bound = status_acceptor_->local_endpoint();
    auto host = bound.address();
    if (host.is_unspecified())
      host = host.is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                          : asio::ip::address(asio::ip::address_v4::loopback());
    const std::string host_text = host.is_v6() ? "[" + host.to_string() + "]" : host.to_string();
    std::string url = "http://" + host_text + ":" + std::to_string(bound.port());
    status_url_file_ = file::join(cfg_.ray.workdir, status_url_file);
    std::string what;
    if (file::write_atomic(status_url_file_, url + "\n", &what)) {
      RTY_LOG(warning, log_name) << "status endpoint " << url << ": " << what;
      status_url_file_.clear();
    }
    RTY_LOG(info, log_name) << "status at " << url << "/status and /metrics (listening on "
                            << bound.address().to_string() << ", port " << bound.port()
                            << "; raythenad status --workdir " << cfg_.ray.workdir << ")";
    asio::co_spawn(io_, status_accept_loop(), asio::detached);
  }

  awaitable<void> status_accept_loop() {
    auto self = shared_from_this();
    asio::steady_timer pause(io_);
    while (status_acceptor_ && status_acceptor_->is_open()) {
      auto [ec, socket] = co_await status_acceptor_->async_accept(as_tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        co_await net::after_accept_error(ec, status_clients_, pause);
        continue;
      }
      asio::co_spawn(io_, status_session(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> status_session(tcp::socket socket) {
    auto self = shared_from_this();
    auto sock = std::make_shared<tcp::socket>(std::move(socket));
    auto deadline = std::make_shared<asio::steady_timer>(io_, 5s);  // slow or silent clients are cut off
    deadline->async_wait([sock](boost::system::error_code ec) {
      if (!ec) sock->close(ec);
    });
    // At most 32 clients at once (the endpoint may listen beyond loopback): past that the oldest goes.
    const std::uint64_t id = ++status_sessions_;
    status_clients_.admit(id, [weak = std::weak_ptr<tcp::socket>(sock)] {
      boost::system::error_code ignored;
      if (auto s = weak.lock()) s->close(ignored);
    });
    struct settle_on_exit {
      admission_queue& q;
      std::uint64_t id;
      ~settle_on_exit() { q.settle(id); }
    } settle{status_clients_, id};
    std::string head;
    std::array<char, 2048> buf{};
    while (!request_head_complete(head) && head.size() < max_request_head) {
      auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), as_tuple_awaitable);
      if (ec) co_return;
      head.append(buf.data(), n);
    }
    std::string answer = answer_http_request(head, make_status_input());
    co_await asio::async_write(*sock, asio::buffer(answer), as_tuple_awaitable);
    deadline->cancel();
    boost::system::error_code ec;
    sock->shutdown(tcp::socket::shutdown_both, ec);
    sock->close(ec);
  }

  void stop_status_endpoint() {
    boost::system::error_code ec;
    if (status_acceptor_) status_acceptor_->close(ec);
    if (!status_url_file_.empty()) ::unlink(status_url_file_.c_str());
    status_url_file_.clear();
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
    if (!book_ || final_checkpoint_written_) return true;  // the final one (with renamed outputs) stands
    std::string what;
    // Streamed, not built (a 10 M-range state.json is gigabytes as a document). After the final renames,
    // Harvester's post-processing must find the outputs under their names.
    auto emit = [&](bookkeeping::json_stream& out) { book_->write_snapshot(out, renamed, task_dir_ + "/final"); };
    const auto started = std::chrono::steady_clock::now();
    const auto failed = bookkeeping::save_checkpoint_streamed(checkpoint_path(), emit, &what);
    last_checkpoint_end_ = std::chrono::steady_clock::now();
    last_checkpoint_cost_ = last_checkpoint_end_ - started;
    checkpoint_due_ = false;  // whatever asked for one: this one covers it (or failed as it would)
    if (!failed) {
      // A group can hold hundreds of thousands of files: removing them is no work for the event loop.
      if (!unlink_after_checkpoint_.empty())
        asio::post(file_worker_, [paths = std::move(unlink_after_checkpoint_)] {
          for (auto& path : paths) ::unlink(path.c_str());
        });
      unlink_after_checkpoint_.clear();
    }
    if (failed) {
      RTY_LOG(error, log_name) << "checkpoint (" << why << ") not written, the previous one is kept: " << what;
      // Progress that cannot be recorded would be redone anyway (e.g. the task directory is full):
      // stop taking new work; the next run resumes from the previous checkpoint (exit incomplete).
      if (engine_ && !finished_) engine_->hold_merges("the checkpoint cannot be written");
      if (engine_ && !finished_ && engine_->outcome() == run_outcome::running) {
        engine_->drain("the checkpoint cannot be written");
        asio::post(io_, [self = shared_from_this()] { self->check_done(); });
      }
      return false;
    }
    RTY_LOG(debug, log_name) << "checkpoint written (" << why << ")";
    return true;
  }

  // --- the end -------------------------------------------------------------------------------------

  void check_done() {
    if (finished_ || !engine_) return;
    if (engine_->outcome() != run_outcome::running) finish_run();
  }

  void finish_run() {
    if (finished_) return;
    finished_ = true;
    auto outcome = engine_->outcome();
    boost::system::error_code ec;
    if (acceptor_) acceptor_->close(ec);
    for (auto* t : {&status_timer_, &checkpoint_timer_, &coalesce_timer_, &heartbeat_timer_, &walltime_timer_,
                    &hard_stop_timer_, &progress_timer_, &dump_timer_, &harvester_timer_, &rate_timer_})
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
    final_checkpoint_written_ = true;
    RTY_LOG(info, log_name) << r.summary;
    if (!r.report_written) {
      exit_code_ = exit_runtime_error;  // Harvester would see success and find no report
    } else if (!recorded && outcome == run_outcome::complete) {
      // Harvester's post-processing reads state.json for the outputs: an outdated one is no success,
      // and the per-range files it may still name must stay. (A drained run stays incomplete: the
      // next one resumes from the previous checkpoint.)
      exit_code_ = exit_runtime_error;
      RTY_LOG(critical, log_name) << "the final checkpoint " << checkpoint_path() << " could not be written";
    } else if (outcome == run_outcome::complete) {
      exit_code_ = r.all_merged ? exit_success : exit_events_failed;
    } else {
      exit_code_ = exit_incomplete;
      RTY_LOG(warning, log_name) << "run stopped before the job was complete; the checkpoint " << checkpoint_path()
                                 << " lets the next run resume";
    }
    engine_->stop_nodes("the run is over");
    for (auto& [id, c] : connections_) c.channel->close_after_flush();
    ::unlink(secret_file_.c_str());
    stop_status_endpoint();
    notifier_.stopping();
    wait_for_children(0);
  }

  // Stubs and merges get a few seconds to exit on their own before their process groups are signalled.
  void wait_for_children(int round) {
    for (auto it = stub_pids_.begin(); it != stub_pids_.end();)
      it = process::try_reap(it->first) ? stub_pids_.erase(it) : std::next(it);
    for (auto it = merge_pids_.begin(); it != merge_pids_.end();)
      it = process::try_reap(it->first) ? merge_pids_.erase(it) : std::next(it);
    if ((stub_pids_.empty() && merge_pids_.empty()) || round >= 100) {
      for (auto& [pid, p] : stub_pids_) process::signal_group(pid, SIGKILL);
      for (auto& [pid, p] : merge_pids_) process::signal_group(pid, SIGKILL);
      // Every event merged and no stub moves files any more: what is left of per-range outputs is
      // orphaned (a crash between a stub's move and its record) and would stay forever.
      finish_file_work();  // what the checkpoints released is gone first: the rest is orphaned
      if (exit_code_ == exit_success && job_)
        if (auto n = remove_range_leftovers(*job_, task_dir_))
          RTY_LOG(info, log_name) << "removed " << n << " per-range output(s) no checkpoint recorded (left by an "
                                  << "earlier, interrupted run) from " << task_dir_;
      io_.stop();
      return;
    }
    if (round == 50) {  // 5 s
      if (launcher_) launcher_->stop_all();
      for (auto& [pid, p] : merge_pids_) process::signal_group(pid, SIGTERM);
    }
    auto t = std::make_shared<asio::steady_timer>(io_, 100ms);
    t->async_wait([self = shared_from_this(), t, round](boost::system::error_code) { self->wait_for_children(round + 1); });
  }

  void fail(int code, const std::string& message) {
    RTY_LOG(critical, log_name) << message;
    exit_code_ = code;
    finished_ = true;  // first: a checkpoint that fails now must not start a drain
    save_checkpoint("error");
    stop_status_endpoint();
    if (!secret_file_.empty()) ::unlink(secret_file_.c_str());
    for (auto& [pid, output] : merge_pids_) process::signal_group(pid, SIGTERM);
    notifier_.stopping(message);
    if (launcher_) launcher_->stop_all();
    io_.stop();
  }

  asio::io_context& io_;
  const config::settings& cfg_;
  asio::signal_set signals_;
  asio::signal_set usr1_;
  asio::steady_timer status_timer_, checkpoint_timer_, heartbeat_timer_, walltime_timer_, hard_stop_timer_,
      harvester_timer_, progress_timer_, dump_timer_, rate_timer_, watchdog_timer_;
  std::optional<harvester::messenger> messenger_;
  std::optional<harvester::queuedata> queuedata_;
  std::optional<rty::job_spec> job_;
  std::unique_ptr<bookkeeping::bookkeeper> book_;
  std::optional<merge::commit_log> commit_log_;
  std::unique_ptr<engine> engine_;
  std::unique_ptr<launch::launcher> launcher_;
  std::optional<tcp::acceptor> acceptor_;
  std::map<conn_id, connection> connections_;
  // Connections not yet authenticated: at most half the open-files limit, so that a flood leaves the
  // run descriptors for its files, merges and real stubs.
  admission_queue unproven_{unproven_limit()};
  log_throttle refusals_{10, std::chrono::minutes(1)};
  std::map<pid_t, launch::started> stub_pids_;
  std::map<pid_t, std::string> merge_pids_;
  std::string task_dir_, listen_address_, secret_, secret_file_;
  std::int64_t kill_at_epoch_ = 0;
  conn_id next_conn_ = 0;
  conn_id heartbeat_cursor_ = 0;  // where the next heartbeat slice starts
  static constexpr int heartbeat_slices = 10;
  int stop_signals_ = 0;
  bool stopping_ = false;
  bool finished_ = false;
  int exit_code_ = exit_runtime_error;
  bool progress_shown_ = false;
  bool final_checkpoint_written_ = false;
  rate_meter rate_;
  // Checkpoints: coalescing of merge results (request_checkpoint), files to remove once one is written.
  asio::steady_timer coalesce_timer_{io_};
  bool checkpoint_due_ = false;
  std::chrono::steady_clock::time_point last_checkpoint_end_{};
  std::chrono::steady_clock::duration last_checkpoint_cost_{};
  std::vector<std::string> unlink_after_checkpoint_;
  // The one thread besides the event loop: it only removes files it is handed, and shares no state.
  asio::thread_pool file_worker_{1};
  std::uint64_t last_done_ = 0;  // ranges finished or failed at the last inactivity check
  std::optional<std::chrono::steady_clock::time_point> last_progress_;  // when that count last grew
  std::chrono::system_clock::time_point started_wall_ = std::chrono::system_clock::now();
  // Created before any child is spawned: it takes NOTIFY_SOCKET & co. out of the environment.
  systemd::notifier notifier_ = systemd::notifier::from_environment();
  std::optional<tcp::acceptor> status_acceptor_;
  admission_queue status_clients_{32};
  std::uint64_t status_sessions_ = 0;
  std::string status_url_file_;
};

}  // namespace

int run_daemon(const config::settings& settings) {
  ::signal(SIGPIPE, SIG_IGN);
  file::harden_umask();
  // One channel per node: a site's default soft limit (often 1024) would cap the run at about a
  // thousand nodes. Children keep the limit raythenad started with.
  std::string limit_error;
  if (auto raised = process::raise_open_files_limit(limit_error))
    RTY_LOG(info, log_name) << "open files limit raised from " << raised->before << " to " << raised->after
                            << " (children keep " << raised->before << ")";
  else if (!limit_error.empty())
    RTY_LOG(warning, log_name) << limit_error;
  std::error_code ec;
  fs::create_directories(settings.ray.workdir, ec);
  asio::io_context io(1);
  auto d = std::make_shared<daemon>(io, settings);
  d->read_time_monitor();
  d->start();
  io.run();
  d->finish_file_work();
  return d->exit_code();
}

}  // namespace rty::coordinator
