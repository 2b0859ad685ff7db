#include "coordinator/engine.hpp"

#include <algorithm>

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
      merges_(std::max(1, settings_.merge_max_processes), std::max(0, settings_.merge_retries)) {
  // Merges whose inputs were all recorded before a restart can start at once.
  pump();
}

void engine::node_joined(conn_id conn, const protocol::hello& hello, const std::string& peer) {
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
  RTY_LOG(info, log_name) << "node " << hello.node_id << " joined from " << peer << " (host " << hello.host << ", pid "
                          << hello.pid << ") as node " << node.index;
  nodes_.emplace(conn, std::move(node));
  if (draining_) {
    protocol::stop stop;
    stop.reason = "the run is draining";
    stop.drain = true;
    io_.send(conn, stop.to_json());
  }
}

void engine::message(conn_id conn, const boost::json::object& message) {
  auto it = nodes_.find(conn);
  if (it == nodes_.end()) return;
  node_info& node = it->second;
  auto type = protocol::message_type(message);
  if (!type) {
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": message without type ignored";
    return;
  }
  const std::string& t = *type;
  if (t == protocol::heartbeat::type) return;
  if (t == protocol::ranges_request::type) {
    auto r = protocol::ranges_request::from_json(message);
    if (!r) {
      RTY_LOG(error, log_name) << "node " << node.node_id << ": " << r.error();
      return;
    }
    on_ranges_request(node, *r);
  } else if (t == protocol::ranges_update::type) {
    auto u = protocol::ranges_update::from_json(message);
    if (!u) {
      RTY_LOG(error, log_name) << "node " << node.node_id << ": " << u.error();
      return;
    }
    on_ranges_update(node, *u);
  } else if (t == protocol::ranges_cancel::type) {
    auto c = protocol::ranges_cancel::from_json(message);
    if (!c) return;
    std::erase_if(pending_, [&](const pending_request& p) { return p.conn == conn && p.request_id == c->request_id; });
  } else if (t == protocol::ranges_return::type) {
    auto r = protocol::ranges_return::from_json(message);
    if (!r) return;
    auto back = book_.return_ranges(node.index, r->ranges);
    RTY_LOG(info, log_name) << "node " << node.node_id << " returned " << back << " undelivered range(s)";
    pump();
  } else if (t == protocol::job_update::type) {
    auto u = protocol::job_update::from_json(message);
    if (!u) return;
    if (u->state != node.pilot_state)
      RTY_LOG(info, log_name) << "node " << node.node_id << ": pilot job state " << u->state;
    node.pilot_state = u->state;
  } else if (t == protocol::pilot_exit::type) {
    auto e = protocol::pilot_exit::from_json(message);
    node.pilot_ended = true;
    node.pilot_state = "ended";
    std::size_t released = book_.release_node(node.index);
    if (e && (e->code != 0 || e->signal != 0))
      RTY_LOG(error, log_name) << "node " << node.node_id << ": pilot ended abnormally (" << e->reason << "); "
                               << released << " unfinished range(s) go back to other nodes";
    else
      RTY_LOG(info, log_name) << "node " << node.node_id << ": pilot ended"
                              << (released ? "; " + std::to_string(released) + " unfinished range(s) re-dispatched" : "");
    std::erase_if(pending_, [&](const pending_request& p) { return p.conn == conn; });
    pump();
  } else if (t == protocol::error::type) {
    auto e = protocol::error::from_json(message);
    RTY_LOG(error, log_name) << "node " << node.node_id << " reports: " << (e ? e->message : std::string("?"));
  } else {
    RTY_LOG(warning, log_name) << "node " << node.node_id << ": unexpected message '" << t << "' ignored";
  }
}

void engine::node_lost(conn_id conn, const std::string& why) {
  auto it = nodes_.find(conn);
  if (it == nodes_.end()) return;
  std::size_t released = book_.release_node(it->second.index);
  if (it->second.pilot_ended && released == 0)
    RTY_LOG(info, log_name) << "node " << it->second.node_id << " left (" << why << ")";
  else
    RTY_LOG(error, log_name) << "node " << it->second.node_id << " lost (" << why << "); " << released
                             << " range(s) it held go back to other nodes";
  std::erase_if(pending_, [&](const pending_request& p) { return p.conn == conn; });
  nodes_.erase(it);
  pump();
}

void engine::on_ranges_request(node_info& node, const protocol::ranges_request& request) {
  int n = request.n_ranges;
  if (settings_.corepernode > 0) n = std::min(n, settings_.corepernode);
  if (n <= 0) {
    reply(node.conn, request.request_id, {}, no_more_ranges());
    return;
  }
  if (no_more_ranges()) {
    reply(node.conn, request.request_id, {}, true);
    return;
  }
  auto ranges = book_.lease(node.index, static_cast<std::size_t>(n));
  if (!ranges.empty()) {
    node.ranges_served += ranges.size();
    reply(node.conn, request.request_id, std::move(ranges), false);
    return;
  }
  // Nothing ready now, but ranges are leased elsewhere and may come back (node loss, retries):
  // hold the request; pilot waits on its long poll.
  pending_.push_back({node.conn, request.request_id, n});
}

void engine::on_ranges_update(node_info& node, const protocol::ranges_update& update) {
  auto outcome = book_.apply_update(node.index, update.updates);
  io_.ranges_reported(update.updates);
  node.ranges_finished += outcome.finished;
  for (auto& problem : outcome.problems) RTY_LOG(warning, log_name) << "node " << node.node_id << ": " << problem;
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
  io_.send(conn, r.to_json());
}

bool engine::no_more_ranges() const { return draining_ || book_.exhausted(); }

void engine::serve_pending() {
  while (!pending_.empty()) {
    auto& p = pending_.front();
    auto node = nodes_.find(p.conn);
    if (node == nodes_.end()) {
      pending_.pop_front();
      continue;
    }
    if (no_more_ranges()) {
      reply(p.conn, p.request_id, {}, true);
      pending_.pop_front();
      continue;
    }
    auto ranges = book_.lease(node->second.index, static_cast<std::size_t>(p.n_ranges));
    if (ranges.empty()) break;  // still nothing: the rest keep waiting too
    node->second.ranges_served += ranges.size();
    reply(p.conn, p.request_id, std::move(ranges), false);
    pending_.pop_front();
  }
}

void engine::start_merges() {
  if (!merges_held_.empty()) return;
  for (auto& task : book_.take_ready_merges()) merges_.add(std::move(task));
  while (auto next = merges_.next_to_start()) {
    auto& [task, attempt] = *next;
    auto command = merge::build_merge_command(task, job_, settings_.merge, attempt);
    RTY_LOG(info, log_name) << "merge " << task.output_name << " (attempt " << attempt << ", " << task.inputs.size()
                            << " range outputs) starting";
    if (io_.start_merge(command)) {
      // The files are written and the process started: their contents (the input list, one line per
      // range, hundreds of thousands for a big group) need not wait in memory for the merge to end.
      std::vector<std::pair<std::string, std::string>>().swap(command.files);
      running_merges_.emplace(task.output_name, std::move(command));
    } else {
      // Could not even start: counts as a failed attempt.
      auto result = merges_.finished(task.output_name, false);
      if (result == merge::merge_scheduler::outcome::failed) {
        book_.merge_failed(task.output_name);
        io_.merge_recorded(task, false);
      }
    }
  }
}

void engine::merge_exited(const std::string& output_name, const process::exit_status& status) {
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
    } else {
      guid = *g;
      std::string what;
      if (merge::keep_report(command, &what)) {
        ok = false;
        RTY_LOG(error, log_name) << "merge " << output_name << ": " << what;
      }
    }
  }
  rty::merge_task task;  // the scheduler hands it over on success (merge_recorded removes its files)
  auto result = merges_.finished(output_name, ok, ok ? &task : nullptr);
  if (ok) {
    book_.merge_succeeded(output_name, command.output_path, guid);
    merge::remove_work_dir(command);
    io_.merge_recorded(task, true);
    RTY_LOG(info, log_name) << "merge " << output_name << " done (guid " << guid << ")";
  } else {
    RTY_LOG(error, log_name) << "merge " << output_name << " failed (" << process::describe(status) << "); log tail:\n"
                             << merge::log_tail(command.log_path);
    if (!merges_held_.empty()) {
      RTY_LOG(warning, log_name) << "merge " << output_name << " not counted as failed (merges are on hold: "
                                 << merges_held_ << "); the next run merges it";
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
}

void engine::drain(const std::string& why) {
  if (draining_) return;
  draining_ = true;
  RTY_LOG(warning, log_name) << "draining (" << why << "): no new ranges; pilots finish what they hold";
  protocol::stop stop;
  stop.reason = why;
  stop.drain = true;
  for (auto& [conn, node] : nodes_) io_.send(conn, stop.to_json());
  serve_pending();
}

void engine::hold_merges(const std::string& why) {
  if (!merges_held_.empty()) return;
  merges_held_ = why;
  RTY_LOG(warning, log_name) << "merges on hold (" << why << "): " << running_merges_.size()
                             << " running, none started any more";
}

void engine::stop_nodes(const std::string& why) {
  protocol::stop stop;
  stop.reason = why;
  stop.drain = false;
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
  s.requests_waiting = pending_.size();
  s.draining = draining_;
  return s;
}

}  // namespace rty::coordinator
