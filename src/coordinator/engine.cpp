#include "coordinator/engine.hpp"

#include <algorithm>
#include <filesystem>
#include <limits>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "merge/merge_report.hpp"
#include "pilot/job_patch.hpp"
#include "pilot/reply.hpp"
#include "pilot/request.hpp"

namespace rty::coordinator {
namespace {
constexpr const char* log_name = "Driver";
}

engine::engine(engine_settings settings, const rty::job_spec& job, bookkeeping::bookkeeper& book, engine_io& io)
    : settings_(std::move(settings)),
      job_(job),
      book_(book),
      io_(io),
      // The placement keeps each place (this node, every idle node) at ray.mergemaxprocesses; the
      // scheduler only orders and retries.
      merges_(std::numeric_limits<int>::max(), std::max(0, settings_.merge_retries), settings_.merge_retry_delay),
      placement_(std::max(1, settings_.merge_max_processes), settings_.remote_merges),
      estimate_(settings_.walltime) {
  // Merges whose inputs were all recorded before a restart can start at once.
  pump();
}

bool valid_node_id(std::string_view id) {
  if (id.empty() || id.size() > 255 || id.front() == '.' || id.front() == '-') return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-' || c == ':' || c == '@' || c == '+';
    if (!ok) return false;
  }
  return true;
}

void engine::node_joined(conn_id conn, const protocol::hello& hello, const std::string& peer) {
  if (!valid_node_id(hello.node_id)) {
    // It knows the secret, but its id would name a directory outside the work dir (or a strange one).
    RTY_LOG(error, log_name) << "stub from " << peer << " has a malformed node id '" << log::escape(hello.node_id, 300)
                             << "': refused";
    protocol::error e;
    e.message = "malformed node id: use letters, digits and . _ - : @ + only";
    io_.send(conn, e.to_json());
    io_.close(conn, "malformed node id");
    return;
  }
  node_info node;
  node.conn = conn;
  node.index = next_index_++;
  node.node_id = hello.node_id;
  node.host = hello.host;
  node.peer = peer;
  node.joined = std::chrono::steady_clock::now();
  for (auto& [c, other] : nodes_) {
    if (other.node_id == hello.node_id)
      RTY_LOG(warning, log_name) << "node id " << hello.node_id << " is already connected from " << other.peer
                                 << "; the new stub from " << peer << " works in the same directory";
  }

  protocol::welcome welcome;
  welcome.node_index = static_cast<int>(node.index);
  welcome.job = pilot::patch_job_for_node(job_.raw, settings_.endpoint, static_cast<int>(node.index),
                                          std::max(1, settings_.expected_nodes), job_.attempt_nr,
                                          job_.events_per_input);
  welcome.settings = settings_.node_settings;
  welcome.settings["actor_dir"] =
      rty::file::join(rty::file::join(settings_.workdir, job_.panda_id), hello.node_id);
  welcome.settings["task_dir"] = settings_.task_dir;
  io_.send(conn, welcome.to_json());
  RTY_LOG(info, log_name) << "node " << hello.node_id << " joined from " << peer << " (host "
                          << log::escape(hello.host, 255) << ", pid "
                          << hello.pid << ") as node " << node.index;
  nodes_.emplace(conn, std::move(node));
  if (draining_) {
    protocol::stop stop;
    stop.reason = "the run is draining";
    stop.drain = true;
    nodes_.at(conn).drain_sent = true;
    io_.send(conn, stop.to_json());
  }
}

void engine::message(conn_id conn, const boost::json::object& message) {
  auto it = nodes_.find(conn);
  if (it == nodes_.end()) return;
  node_info& node = it->second;
  auto decoded = protocol::decode_stub_message(message);
  if (!decoded) {
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": " << log::escape(decoded.error().message(), 300) << " ignored";
    return;
  }
  std::visit([&](const auto& m) { on(node, m); }, *decoded);
}

void engine::on(node_info&, const protocol::heartbeat&) {}

void engine::on(node_info& node, const protocol::ranges_cancel& c) {
  std::erase_if(pending_, [&](const pending_request& p) { return p.conn == node.conn && p.request_id == c.request_id; });
  ++node.workers_ended;  // the stub answered that worker [] (its hold limit, or pilot gave up): it ends
}

void engine::on(node_info& node, const protocol::ranges_return& r) {
  ++node.workers_ended;  // pilot did not take the answer: to it the call failed, and that worker ends
  auto back = book_.return_ranges(node.index, r.ranges);
  for (auto& id : r.ranges) node.leased_at.erase(id);
  RTY_LOG(info, log_name) << "node " << node.node_id << " returned " << back << " undelivered range(s)";
  pump();
}

void engine::on(node_info& node, const protocol::job_update& u) {
  if (u.state != node.pilot_state)
    RTY_LOG(info, log_name) << "node " << node.node_id << ": pilot job state " << log::escape(u.state, 64);
  node.pilot_state = u.state;
}

void engine::on(node_info& node, const protocol::worker_node& w) {
  // From pilot: the numbers were range-checked by from_json; the text is made safe to show here.
  protocol::worker_node kept = w;
  kept.host_name = status_text(w.host_name, worker_node_text_max);
  kept.cpu_model = status_text(w.cpu_model, worker_node_text_max);
  auto n = [](const std::optional<std::int64_t>& v) { return v ? std::to_string(*v) : std::string("?"); };
  RTY_LOG(debug, log_name) << "node " << node.node_id << ": pilot reports host " << kept.host_name << ", "
                           << n(kept.logical_cpus) << " logical CPUs, " << n(kept.memory_mb) << " MB memory, "
                           << n(kept.local_disk_gb) << " GB local disk, CPU " << kept.cpu_model;
  node.worker_node = std::move(kept);
}

void engine::on(node_info& node, const protocol::pilot_exit& e) {
  node.pilot_ended = true;
  node.pilot_starting = false;
  node.pilot_ended_at = settings_.clock();
  node.pilot_state = "ended";
  std::size_t released = book_.release_node(node.index);
  forget_leases(node);
  if (e.code != 0 || e.signal != 0) {
    RTY_LOG(error, log_name) << "node " << node.node_id << ": pilot ended abnormally (" << log::escape(e.reason)
                             << "); " << released << " unfinished range(s) go back to other nodes";
    node.last_error = status_error_text("pilot ended abnormally (" + e.reason + ")");
  } else {
    RTY_LOG(info, log_name) << "node " << node.node_id << ": pilot ended"
                            << (released ? "; " + std::to_string(released) + " unfinished range(s) re-dispatched" : "");
  }
  std::erase_if(pending_, [&](const pending_request& p) { return p.conn == node.conn; });
  pump();
}

void engine::on(node_info& node, const protocol::error& e) {
  RTY_LOG(error, log_name) << "node " << node.node_id << " reports: " << log::escape(e.message);
  node.last_error = status_error_text(e.message);
}

std::string status_error_text(std::string_view text) {
  std::string line = log::escape(text);
  if (line.size() > 200) line = line.substr(0, 197) + "...";
  return line;
}

std::string status_text(std::string_view text, std::size_t max_bytes) {
  std::string line = log::escape(text, text.size());
  if (line.size() <= max_bytes) return line;
  std::size_t cut = max_bytes < 3 ? 0 : max_bytes - 3;
  while (cut > 0 && (static_cast<unsigned char>(line[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
  return line.substr(0, cut) + "...";
}

void engine::node_lost(conn_id conn, const std::string& why) {
  auto it = nodes_.find(conn);
  if (it == nodes_.end()) return;
  std::size_t released = book_.release_node(it->second.index);
  estimate_.forget_node(it->second.index);
  if (it->second.pilot_ended && released == 0)
    RTY_LOG(info, log_name) << "node " << it->second.node_id << " left (" << why << ")";
  else
    RTY_LOG(error, log_name) << "node " << it->second.node_id << " lost (" << why << "); " << released
                             << " range(s) it held go back to other nodes";
  std::erase_if(pending_, [&](const pending_request& p) { return p.conn == conn; });
  // Its merges run again elsewhere, in a fresh work directory: whatever the lost one wrote is never
  // renamed into final/ (only a merge_result from the node a merge was sent to, for that attempt, is).
  for (auto& output : placement_.node_lost(conn)) {
    RTY_LOG(warning, log_name) << "merge " << output << " was running on node " << it->second.node_id
                               << ", which is lost: it runs again elsewhere";
    running_merges_.erase(output);
    merges_.requeue_lost(output);
  }
  nodes_.erase(it);
  pump();
}

void engine::on(node_info& node, const protocol::ranges_request& request) {
  node.pilot_starting = false;  // the node's pilot is up and asking
  node.last_request_size = static_cast<std::uint64_t>(std::max(0, request.n_ranges));
  if (!answer(node, request.request_id, request.n_ranges))
    pending_.push_back({node.conn, request.request_id, request.n_ranges});
}

dispatch_view engine::view() const {
  dispatch_view v;
  v.draining = draining_;
  v.exhausted = book_.exhausted();
  v.leasable = book_.leasable();
  v.awaiting_supply = book_.awaiting_supply();
  if (settings_.tail_share) v.asking_workers = asking_workers();
  return v;
}

std::uint64_t engine::asking_workers() const {
  const auto now = settings_.clock();
  if (!asking_workers_at_ || now - *asking_workers_at_ >= std::chrono::seconds(1)) {
    asking_workers_ = 0;
    for (const auto& [conn, node] : nodes_)
      if (!node.pilot_ended && !node.let_go && !node.held_back) asking_workers_ += node.last_request_size;
    asking_workers_at_ = now;
  }
  return asking_workers_;
}

bool engine::answer(node_info& node, std::uint64_t request_id, std::int64_t n_ranges) {
  const auto d = decide_dispatch(view(), n_ranges, settings_.corepernode);
  switch (d.kind) {
    case dispatch_kind::lease: {
      const std::uint64_t free_workers = free_workers_of(node);
      const std::uint64_t count = ranges_that_fit(settings_.walltime, settings_.kill_at, settings_.clock(),
                                                  timing(node, free_workers), d.count);
      if (count == 0) {
        // [] and "no more": pilot's workers end cleanly; the ranges stay ready for the next run.
        hold_back(node);
        reply(node.conn, request_id, {}, true);
        return true;
      }
      auto ranges = book_.lease(node.index, static_cast<std::size_t>(count));
      node.ranges_served += ranges.size();
      const auto now = settings_.clock();
      // pilot's cache is empty when it asks: the first free_workers ranges start at once, the rest wait.
      std::uint64_t k = 0;
      for (auto& r : ranges) node.leased_at[r.id] = {now, k++ < free_workers};
      node.held_back = false;
      reply(node.conn, request_id, std::move(ranges), false);
      return true;
    }
    case dispatch_kind::hold:
      return false;  // only Harvester's next ranges can answer it (or the stub's deadline)
    case dispatch_kind::empty:
      ++node.workers_ended;
      reply(node.conn, request_id, {}, false);
      return true;
    case dispatch_kind::no_more:
      ++node.workers_ended;
      reply(node.conn, request_id, {}, true);
      return true;
  }
  return true;
}

void engine::hold_back(node_info& node) {
  ++requests_held_back_;
  ++node.workers_ended;
  if (!holding_back_) {
    holding_back_ = true;
    auto e = estimate_.at_once_for_node(node.index);  // what ranges_that_fit judged by: at once, else any
    if (!e) e = estimate_.for_node(node.index);
    RTY_LOG(warning, log_name) << "walltime: holding ranges back from now on: a range takes about "
                               << static_cast<long>(std::chrono::duration<double>(
                                      e.value_or(std::chrono::steady_clock::duration::zero())).count())
                               << " s (p90) and cannot finish before the kill time with ray.walltimemargin "
                               << settings_.walltime.margin.count() << " s; " << book_.leasable()
                               << " ready range(s) stay for the next run";
  }
  if (!node.held_back)
    RTY_LOG(info, log_name) << "node " << node.node_id << ": no range can finish before the kill time; "
                            << "its pilot is told there are no more";
  node.held_back = true;
}

std::uint64_t engine::free_workers_of(const node_info& node) const {
  return free_workers(node.last_request_size, node.leased_at.size(), node.workers_ended);
}

request_timing engine::timing(const node_info& node, std::uint64_t free_workers) const {
  return {estimate_.for_node(node.index), estimate_.at_once_for_node(node.index), free_workers};
}

void engine::on(node_info& node, const protocol::ranges_update& update) {
  const bool was_exhausted = book_.exhausted();
  auto outcome = book_.apply_update(node.index, update.updates);
  if (!was_exhausted && book_.exhausted()) {
    const auto c = book_.get_counts();
    RTY_LOG(info, log_name) << "every event range is done (" << c.finished << " finished, " << c.failed
                            << " in failed groups); " << c.merges_pending << " merge(s) to go";
  }
  io_.ranges_reported(update.updates);
  const auto now = settings_.clock();
  for (auto& u : update.updates) {
    if (u.status == range_status::running) continue;
    auto it = node.leased_at.find(u.range_id);
    if (it == node.leased_at.end()) continue;  // not leased to this node (or reported before)
    if (u.status == range_status::finished) estimate_.record(node.index, now - it->second.at, it->second.at_once);
    node.leased_at.erase(it);
  }
  node.ranges_finished += outcome.finished;
  if (outcome.finished > 0) node.restarts_without_progress = 0;
  // Problem lines quote range ids and paths pilot sent: escaped, so none can forge a line (issue 13).
  for (auto& problem : outcome.problems)
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": " << log::escape(problem, 2048);
  if (outcome.failed)
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": " << outcome.failed << " range(s) failed ("
                               << outcome.retried << " will be retried)";
  pump();
}

void engine::reply(conn_id conn, std::uint64_t request_id, std::vector<rty::event_range> ranges, bool no_more) {
  protocol::ranges_reply r;
  r.request_id = request_id;
  r.ranges = std::move(ranges);
  r.no_more = no_more;
  io_.send(conn, r.to_json(protocol::message_arena()));
}

// Held requests in arrival order: each is answered as a new one would be, or keeps waiting.
void engine::serve_pending() {
  std::deque<pending_request> still;
  for (auto& p : pending_) {
    auto node = nodes_.find(p.conn);
    if (node == nodes_.end()) continue;
    if (!answer(node->second, p.request_id, p.n_ranges)) still.push_back(p);
  }
  pending_ = std::move(still);
}

// Work that appears after a node's pilot ended (a late failure, a lost node's leases, Harvester's
// late batch) is taken by a new pilot: nobody would ask for it otherwise.
void engine::restart_idle_pilots() {
  if (draining_ || settings_.restarts.max_without_progress <= 0) return;
  const std::uint64_t leasable = book_.leasable();
  if (leasable == 0) return;
  std::uint64_t starting = 0, per_node = 0;
  for (auto& [conn, node] : nodes_) {
    if (node.pilot_starting) ++starting;
    per_node = std::max(per_node, node.last_request_size);
  }
  if (per_node == 0) per_node = settings_.corepernode > 0 ? static_cast<std::uint64_t>(settings_.corepernode) : 1;
  if (settings_.corepernode > 0) per_node = std::min<std::uint64_t>(per_node, settings_.corepernode);
  std::uint64_t wanted = pilots_wanted(leasable, starting, per_node);
  if (wanted == 0) return;
  const auto now = settings_.clock();
  for (auto& [conn, node] : nodes_) {
    if (wanted == 0) break;
    if (!node.pilot_ended || !settings_.restarts.may_restart(node.restarts_without_progress, node.pilot_ended_at, now))
      continue;
    if (!fits_walltime(node)) continue;  // a new pilot would get no range either
    if (placement_.running_on(conn) > 0) continue;  // merging: its cores are taken
    node.pilot_ended = false;
    node.pilot_starting = true;
    node.pilot_state = "starting";
    ++node.pilot_attempt;
    node.workers_ended = 0;
    ++node.restarts_without_progress;
    ++pilot_restarts_;
    --wanted;
    protocol::start_pilot start;
    start.attempt = node.pilot_attempt;
    start.reason = std::to_string(leasable) + " range(s) ready and no pilot asking for them";
    RTY_LOG(info, log_name) << "node " << node.node_id << ": starting pilot attempt " << node.pilot_attempt << " ("
                            << start.reason << ")";
    io_.send(conn, start.to_json());
  }
}

// Nodes whose pilot ended are kept while work may still appear for them. Once the job has no range
// left, they are let go; when ranges are ready but no node may start a pilot any more, the run drains
// (exit 3): the next run takes them.
void engine::settle_idle_nodes() {
  if (nodes_.empty()) return;
  if (book_.exhausted()) {
    for (auto& [conn, node] : nodes_) {
      if (!node.pilot_ended || node.let_go || kept_for_merges(node)) continue;
      node.let_go = true;
      protocol::stop stop;
      stop.reason = "the job has no event range left";
      stop.drain = false;
      io_.send(conn, stop.to_json());
    }
    return;
  }
  if (draining_) {
    // Nodes kept from the drain for their merges go once those are done.
    if (!drain_deferred_) return;
    drain_deferred_ = false;
    for (auto& [conn, node] : nodes_) {
      if (node.drain_sent) continue;
      if (placement_.running_on(conn) > 0) {
        drain_deferred_ = true;
        continue;
      }
      node.drain_sent = true;
      protocol::stop stop;
      stop.reason = drain_reason_;
      stop.drain = true;
      io_.send(conn, stop.to_json());
    }
    return;
  }
  if (book_.leasable() == 0) return;
  bool walltime_bound = false;
  for (auto& [conn, node] : nodes_) {
    if (!node.pilot_ended) return;  // a pilot runs or starts: it may take the work
    if (!fits_walltime(node)) {
      walltime_bound = true;  // no range would finish in time: no new pilot, whatever its restarts
      continue;
    }
    if (!settings_.restarts.exhausted(node.restarts_without_progress))
      return;  // this node gets a new pilot after its backoff
  }
  if (walltime_bound) {
    // Ending now, not at the kill time, gives the allocation back: the ranges are in the checkpoint.
    drain("walltime: " + std::to_string(book_.leasable()) +
          " ready range(s) cannot finish before the kill time; they stay for the next run");
    return;
  }
  drain(std::to_string(book_.leasable()) + " range(s) ready but no node can run a pilot for them (" +
        (settings_.restarts.max_without_progress > 0
             ? "payload.pilotrestarts " + std::to_string(settings_.restarts.max_without_progress) +
                   " restarts in a row without progress used up"
             : std::string("payload.pilotrestarts is 0")) +
        ")");
}

// Would a new pilot on the node (every worker free) get a range?
bool engine::fits_walltime(const node_info& node) const {
  const std::uint64_t workers = std::max<std::uint64_t>(1, node.last_request_size);
  return ranges_that_fit(settings_.walltime, settings_.kill_at, settings_.clock(), timing(node, workers), workers) > 0;
}

void engine::forget_leases(node_info& node) { node.leased_at.clear(); }

std::vector<std::uint64_t> engine::merge_nodes() const {
  std::vector<std::uint64_t> idle;
  if (!settings_.remote_merges || draining_ || book_.leasable() > 0) return idle;  // work left: pilots take it
  for (auto& [conn, node] : nodes_)
    if (node.pilot_ended && !node.pilot_starting && !node.let_go && !node.no_merges) idle.push_back(conn);
  return idle;
}

bool engine::kept_for_merges(const node_info& node) const {
  if (!settings_.remote_merges) return false;
  if (placement_.running_on(node.conn) > 0) return true;
  return !node.no_merges && merges_held_.empty() && !draining_ && merges_.pending() > 0;
}

void engine::start_merges() {
  if (!merges_held_.empty()) return;
  for (auto& task : book_.take_ready_merges()) merges_.add(std::move(task));
  if (merges_.pending() == 0) return;
  const auto idle = merge_nodes();
  for (;;) {
    auto where = placement_.place(idle);
    if (!where) return;
    auto next = merges_.next_to_start(settings_.clock());
    if (!next) return;
    auto& [task, attempt] = *next;
    auto command = merge::build_merge_command(task, job_, settings_.merge, attempt);
    const node_info* node = where->local() ? nullptr : &nodes_.at(*where->node);
    RTY_LOG(info, log_name) << "merge " << task.output_name << " (attempt " << attempt << ", " << task.inputs.size()
                            << " range outputs) starting"
                            << (node ? " on node " + node->node_id : std::string());
    if (node ? io_.start_remote_merge(node->conn, command) : io_.start_merge(command)) {
      // The files are written and the process started: their contents (the input list, one line per
      // range, hundreds of thousands for a big group) need not wait in memory for the merge to end.
      std::vector<std::pair<std::string, std::string>>().swap(command.files);
      placement_.assign(task.output_name, *where);
      running_merges_.emplace(task.output_name, std::move(command));
    } else {
      // Could not even start (the transform is not there, its directory cannot be made): the site's
      // fault, like a setup script that is missing (merge_exited).
      merge_cannot_run(task.output_name, "it could not be started");
      return;
    }
  }
}

void engine::on(node_info& node, const protocol::merge_result& r) {
  auto where = placement_.where(r.output_name);
  auto cmd = running_merges_.find(r.output_name);
  if (!where || where->node != node.conn || cmd == running_merges_.end() || cmd->second.attempt != r.attempt) {
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": result for merge "
                               << log::escape(r.output_name, 300) << " attempt " << r.attempt
                               << ", which it was not running: ignored";
    return;
  }
  placement_.release(r.output_name);
  process::exit_status status;
  status.code = r.code;
  status.signal = r.signal;
  if (r.started)
    RTY_LOG(info, log_name) << "merge " << r.output_name << " ended on node " << node.node_id << " ("
                            << process::describe(status) << ")";
  std::string why = r.started ? std::string() : log::escape(r.reason, 300);
  if (r.started && status.exited_normally() && status.code != 0) {
    if (auto fault = merge::site_fault(status.code, merge::log_tail(cmd->second.log_path))) why = log::escape(*fault);
  }
  if (!why.empty()) {
    // The node cannot run merges (its stub refused, or the transform is not found there): this merge
    // runs elsewhere, uncounted, and the node gets no more. A fault of the whole site shows on the
    // coordinator's node too, and is handled there.
    RTY_LOG(warning, log_name) << "node " << node.node_id << " could not run merge " << r.output_name << " (" << why
                               << "): it runs elsewhere and this node gets no more merges";
    node.no_merges = true;
    running_merges_.erase(cmd);
    merges_.requeue_lost(r.output_name);
    pump();
    return;
  }
  conclude_merge(r.output_name, status, true);
}

// The site's fault (the transform or its setup cannot be found or run) fails no group: every merge
// would fail the same way. The merge goes back uncounted, merges are held and the run drains; the next
// run, on a fixed site, merges them. A merge already running when the first one said so only adds a line.
void engine::merge_cannot_run(const std::string& output_name, const std::string& why) {
  merges_.give_back(output_name);
  if (!merges_held_.empty()) {
    RTY_LOG(warning, log_name) << "merge " << output_name << " failed the same way (" << why
                               << "); given back for the next run";
    return;
  }
  RTY_LOG(critical, log_name) << "merge " << output_name << " cannot run on this site (" << why
                              << "): merges are held and the run drains (exit 3); fix the merge's environment "
                              << "(raythenad --validate checks it) and resume: nothing is lost";
  hold_merges("the merge transform cannot run on this site");
  drain("the merge transform cannot run on this site");
}

void engine::merge_exited(const std::string& output_name, const process::exit_status& status) {
  auto where = placement_.where(output_name);
  if (!where || !where->local()) return;  // not a local merge of this run
  placement_.release(output_name);
  conclude_merge(output_name, status, false);
}

void engine::conclude_merge(const std::string& output_name, const process::exit_status& status, bool remote) {
  auto it = running_merges_.find(output_name);
  if (it == running_merges_.end()) return;
  merge::merge_command command = std::move(it->second);
  running_merges_.erase(it);
  bool ok = status.exited_normally() && status.code == 0;
  std::string guid;
  if (ok) {
    auto g = merge::read_merge_guid(command.report_path);
    if (!g) {
      ok = false;
      RTY_LOG(error, log_name) << "merge " << output_name << " exited 0 but " << g.error();
    } else if (remote && (!merge::strictly_inside(command.work_dir, command.work_output_path) ||
                          !std::filesystem::is_regular_file(command.work_output_path))) {
      // The node said 0: the output must be in the work directory the coordinator made for it.
      ok = false;
      RTY_LOG(error, log_name) << "merge " << output_name << " exited 0 on its node but " << command.work_output_path
                               << " is not a file in " << command.work_dir;
    } else {
      guid = *g;
      // Only now does the output reach final/ (an orphaned merge never gets here, see merge_command.hpp).
      auto published = merge::publish_output(command);
      if (published) published = merge::keep_report(command);
      if (!published) {
        ok = false;
        RTY_LOG(error, log_name) << "merge " << output_name << ": " << published.error();
      }
    }
  }
  const std::string tail = ok ? std::string() : merge::log_tail(command.log_path);  // read once
  if (!ok) {
    if (auto fault = merge::site_fault(status.exited_normally() ? status.code : -1, tail)) {
      merge_cannot_run(output_name, log::escape(*fault));
      pump();
      return;
    }
  }
  rty::merge_task task;  // the scheduler hands it over on success (merge_recorded removes its files)
  auto result = merges_.finished(output_name, ok, ok ? &task : nullptr, settings_.clock());
  if (ok) {
    book_.merge_succeeded(output_name, command.output_path, guid);
    merge_errors_.erase(output_name);
    merge::remove_work_dir(command);
    io_.merge_recorded(task, true);
    RTY_LOG(info, log_name) << "merge " << output_name << " done (guid " << guid << ")";
  } else {
    RTY_LOG(error, log_name) << "merge " << output_name << " failed (" << process::describe(status) << "); log tail:\n"
                             << tail;
    {  // for /status: how it ended and the log's last line (bounded: at most 1000 merges remembered)
      std::string last = tail;
      while (!last.empty() && (last.back() == '\n' || last.back() == ' ')) last.pop_back();
      if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
      if (merge_errors_.size() < 1000 || merge_errors_.count(output_name))
        merge_errors_[output_name] =
            status_error_text(process::describe(status) + (last.empty() ? std::string() : ": " + last));
    }
    if (!merges_held_.empty()) {
      RTY_LOG(warning, log_name) << "merge " << output_name << " not counted as failed (merges are on hold: "
                                 << merges_held_ << "); the next run merges it";
    } else if (result == merge::merge_scheduler::outcome::retry) {
      RTY_LOG(warning, log_name) << "merge " << output_name << " is retried in "
                                 << std::chrono::duration_cast<std::chrono::seconds>(
                                        merges_.backoff(command.attempt)).count()
                                 << " s (ray.mergeretrydelay)";
    } else if (result == merge::merge_scheduler::outcome::failed) {
      RTY_LOG(error, log_name) << "merge " << output_name << " failed for good after its retries; its events are "
                               << "reported as failed";
      book_.merge_failed(output_name);
      io_.merge_recorded(merges_.failed_tasks().back(), false);
    }
  }
  pump();
}

void engine::pump() {
  start_merges();
  serve_pending();
  restart_idle_pilots();
  settle_idle_nodes();
}

void engine::drain(const std::string& why) {
  if (draining_) return;
  draining_ = true;
  drain_reason_ = why;
  RTY_LOG(warning, log_name) << "draining (" << why << "): no new ranges; pilots finish what they hold";
  protocol::stop stop;
  stop.reason = why;
  stop.drain = true;
  for (auto& [conn, node] : nodes_) {
    // An idle node running merges finishes them first (its stub would end at once): it is let go
    // when its last one reports (settle_idle_nodes).
    if (node.pilot_ended && placement_.running_on(conn) > 0) {
      drain_deferred_ = true;
      continue;
    }
    node.drain_sent = true;
    io_.send(conn, stop.to_json());
  }
  serve_pending();
}

void engine::hold_merges(const std::string& why) {
  if (!merges_held_.empty()) return;
  merges_held_ = why;
  RTY_LOG(warning, log_name) << "merges on hold (" << why << "): " << running_merges_.size()
                             << " running, none started any more";
}

void engine::stop_nodes(const std::string& why, std::chrono::seconds grace) {
  protocol::stop stop;
  stop.reason = why;
  stop.drain = false;
  stop.grace_s = static_cast<int>(grace.count());
  for (auto& [conn, node] : nodes_) io_.send(conn, stop.to_json());
}

run_outcome engine::outcome() const {
  if (book_.complete() && running_merges_.empty()) return run_outcome::complete;
  if (draining_ && nodes_.empty() && running_merges_.empty()) return run_outcome::drained;
  return run_outcome::running;
}

engine_status engine::status() const {
  engine_status s;
  s.ranges = book_.get_counts();
  s.nodes_connected = nodes_.size();
  s.merges_running = running_merges_.size();
  s.merges_pending = merges_.pending();
  s.merges_done = merges_.done();
  s.merges_failed = merges_.failed();
  s.merges_remote_running = placement_.remote_running();
  s.merges_remote_started = placement_.remote_started();
  s.requests_waiting = pending_.size();
  for (auto& [conn, node] : nodes_) s.pilots_idle += node.pilot_ended ? 1 : 0;
  s.pilot_restarts = pilot_restarts_;
  s.draining = draining_;
  if (auto e = estimate_.job_at_once()) s.range_estimate_s = std::chrono::duration<double>(*e).count();
  if (auto e = estimate_.job()) s.range_queued_estimate_s = std::chrono::duration<double>(*e).count();
  const auto now = settings_.clock();
  std::optional<std::chrono::steady_clock::time_point> end;
  for (auto& [conn, node] : nodes_) {
    const auto any = estimate_.for_node(node.index);
    const auto at_once = estimate_.at_once_for_node(node.index);
    for (const auto& [id, lease] : node.leased_at) {
      const auto e = lease.at_once && at_once ? at_once : any;
      if (!e) continue;
      if (!end || lease.at + *e > *end) end = lease.at + *e;
    }
  }
  if (end) s.projected_end_in_s = std::max(0.0, std::chrono::duration<double>(*end - now).count());
  s.requests_held_back = requests_held_back_;
  if (holding_back_) s.ranges_held_back = book_.leasable();
  return s;
}

}  // namespace rty::coordinator
