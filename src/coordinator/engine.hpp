#pragma once
// The coordinator's logic, without sockets or processes: nodes join, ask for ranges, report results
// and leave; merges start and end; the run drains and completes. The I/O shell (daemon.cpp) turns
// socket and process events into calls here and carries out what the engine asks through engine_io.
// Tests drive it directly with a recording engine_io.
#include <sys/types.h>

#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bookkeeping/bookkeeper.hpp"
#include "common/job_spec.hpp"
#include "common/process.hpp"
#include "coordinator/dispatch.hpp"
#include "coordinator/walltime_policy.hpp"
#include "merge/merge_command.hpp"
#include "merge/merge_placement.hpp"
#include "merge/merge_scheduler.hpp"
#include "protocol/messages.hpp"

namespace rty::coordinator {

using conn_id = std::uint64_t;

// What the engine asks of its I/O shell.
class engine_io {
 public:
  virtual ~engine_io() = default;
  virtual void send(conn_id to, const boost::json::object& message) = 0;
  virtual void close(conn_id node, const std::string& reason) = 0;
  // Prepare the work dir and start the merge process; false (with the reason logged) when it could not start.
  virtual bool start_merge(const merge::merge_command& command) = 0;
  // Prepare the work dir (on the shared filesystem) and send the node a merge_run for `command`
  // (ray.remotemerges); false (with the reason logged) when the work dir could not be prepared.
  virtual bool start_remote_merge(conn_id node, const merge::merge_command& command) {
    (void)node;
    (void)command;
    return false;
  }
  // A merge result (success or final failure) was recorded: persist the checkpoint soon (coalesced with
  // other results), so that a crash rarely repeats a finished merge; after a success the per-range
  // inputs may go once that checkpoint is written.
  virtual void merge_recorded(const rty::merge_task& task, bool succeeded) = 0;
  // A node reported range results (after the bookkeeper recorded them); with Harvester as the event
  // source they go on to Harvester's event-status dump.
  virtual void ranges_reported(const std::vector<rty::range_update>& updates) { (void)updates; }
};

// A stub's node id becomes a directory name (W/<PandaID>/<node id>): 1-255 bytes of letters, digits
// and . _ - : @ +, not starting with '.' or '-' (issue 13: no "/", "..", control characters, hidden or
// option-like names). Host names, SLURMD_NODENAME, "local-<i>" and "host-<n>" all pass.
bool valid_node_id(std::string_view id);

struct engine_settings {
  std::string workdir;        // W: node directories go to W/<PandaID>/<node id>
  std::string task_dir;       // O
  std::string endpoint;       // Harvester endpoint (absolute input paths)
  int corepernode = 0;        // cap on ranges per request (0: no cap)
  int expected_nodes = 1;     // for --jobNumber
  int merge_max_processes = 1;
  int merge_retries = 2;
  std::chrono::steady_clock::duration merge_retry_delay{};  // ray.mergeretrydelay (merge_scheduler.hpp)
  merge::merge_settings merge;
  bool remote_merges = true;  // ray.remotemerges: merges also on idle nodes (merge_placement.hpp)
  bool tail_share = true;     // ray.tailshare: the last ranges shared out (dispatch.hpp tail_share)
  boost::json::object node_settings;  // sent to every stub in welcome.settings (actor_dir/node specifics added)
  restart_policy restarts;            // payload.pilotrestarts
  walltime_settings walltime;         // ray.walltimeaware, ray.walltimemargin (walltime_policy.hpp)
  // The kill time (walltime - payload.pilotkilltime) on the engine's clock; nullopt: no walltime limit.
  std::optional<std::chrono::steady_clock::time_point> kill_at;
  // The engine's only clock (restart backoff); tests pass a fake one.
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
};

struct node_info {
  conn_id conn = 0;
  std::uint32_t index = 0;
  std::string node_id;
  std::string host;
  std::string peer;
  std::string pilot_state = "starting";
  bool pilot_ended = false;   // no pilot runs on the node now (the stub waits for work or the end)
  bool pilot_starting = false;  // a new pilot was asked for and has not asked for ranges yet
  bool let_go = false;          // told to end: the job has no range left for a new pilot
  bool drain_sent = false;      // told to drain
  int pilot_attempt = 1;      // pilots started on this node
  int restarts_without_progress = 0;  // restarts since a range of this node last finished
  std::chrono::steady_clock::time_point pilot_ended_at{};
  std::uint64_t last_request_size = 0;  // pilot's nRanges (its core count)
  std::chrono::steady_clock::time_point joined{};
  std::uint64_t ranges_served = 0;
  std::uint64_t ranges_finished = 0;
  // When each range the node holds was leased, and whether a free worker started it at once (the
  // duration samples of walltime_policy.hpp).
  struct lease_time {
    std::chrono::steady_clock::time_point at;
    bool at_once = true;
  };
  std::unordered_map<std::string, lease_time> leased_at;
  // Workers of this node's pilot that were answered [] (pilot3 ends a worker on "No more events").
  std::uint64_t workers_ended = 0;
  bool no_merges = false;  // a merge could not run here (refused, not started, a site fault): none is sent again
  bool held_back = false;  // its last request was answered [] because no range could finish in time
  std::string last_error;  // the node's last problem (a pilot that ended abnormally, an error it reported)
  // What pilot's update_worker_node said about the node (text already made safe by status_text);
  // nullopt until pilot (>= 3.10) reports it.
  std::optional<protocol::worker_node> worker_node;
};

// A one-line cause for /status: control characters escaped, at most 200 bytes.
std::string status_error_text(std::string_view text);
// Text from pilot for /status: control characters escaped (log::escape), at most max_bytes, cut on a
// UTF-8 character boundary with "..." marking the cut.
std::string status_text(std::string_view text, std::size_t max_bytes);
inline constexpr std::size_t worker_node_text_max = 256;

struct engine_status {
  bookkeeping::counts ranges;
  std::size_t nodes_connected = 0;
  std::size_t merges_running = 0;
  std::size_t merges_pending = 0;
  std::size_t merges_done = 0;
  std::size_t merges_failed = 0;
  std::size_t merges_remote_running = 0;  // of merges_running, on idle nodes
  std::size_t merges_remote_started = 0;  // over the run
  std::size_t requests_waiting = 0;
  std::size_t pilots_idle = 0;  // nodes whose pilot ended, waiting for work or the end
  std::uint64_t pilot_restarts = 0;
  bool draining = false;
  // Walltime-aware dispatch (walltime_policy.hpp).
  std::optional<double> range_estimate_s;    // the job's p90 lease -> finish of ranges started at once; nullopt: none yet
  std::optional<double> range_queued_estimate_s;  // the same over every range (cache waits included)
  std::optional<double> projected_end_in_s;  // when the last range handed out should be finished, from now
  std::uint64_t ranges_held_back = 0;        // ready ranges kept for the next run (once holding back began)
  std::uint64_t requests_held_back = 0;      // requests answered [] because no range could finish in time
};

enum class run_outcome { running, complete, drained };

class engine {
 public:
  engine(engine_settings settings, const rty::job_spec& job, bookkeeping::bookkeeper& book, engine_io& io);

  // A stub proved it knows the secret. Sends its welcome.
  void node_joined(conn_id conn, const protocol::hello& hello, const std::string& peer);
  // Any later message from that stub.
  void message(conn_id conn, const boost::json::object& message);
  // EOF, socket error or heartbeat silence: its leases go back to ready and are re-dispatched.
  void node_lost(conn_id conn, const std::string& why);

  void merge_exited(const std::string& output_name, const process::exit_status& status);

  // New ranges became leasable (Harvester supplied some, or said there are no more): serve waiters.
  void ranges_supplied() { pump(); }
  // Periodic (about once a second): pilots whose restart backoff is over are started.
  void tick() { pump(); }

  // Stop handing out ranges (walltime, SIGTERM, no nodes left): pilots get "no more", stubs are told
  // to drain; merges that are complete still run.
  void drain(const std::string& why);
  // The task directory takes no more writes (the checkpoint failed): no merge starts any more, and a
  // merge that fails now is not held against its group (its output could not be written either); the
  // groups stay finished-but-unmerged for the next run.
  void hold_merges(const std::string& why);
  // Stop every node: pilots still running get `grace` to end by themselves (0: stopped at once: a
  // second signal, a hard deadline).
  void stop_nodes(const std::string& why, std::chrono::seconds grace = std::chrono::seconds(0));

  run_outcome outcome() const;
  engine_status status() const;
  const std::map<conn_id, node_info>& nodes() const { return nodes_; }
  bool draining() const { return draining_; }
  const std::string& drain_reason() const { return drain_reason_; }  // why drain() was called first
  // The last failure of each merge that failed and has not succeeded since (output name → cause).
  const std::map<std::string, std::string>& merge_errors() const { return merge_errors_; }

 private:
  // One handler per message a stub may send (protocol::stub_message).
  void on(node_info& node, const protocol::heartbeat&);
  void on(node_info& node, const protocol::ranges_request& request);
  void on(node_info& node, const protocol::ranges_update& update);
  void on(node_info& node, const protocol::ranges_cancel& cancel);
  void on(node_info& node, const protocol::ranges_return& back);
  void on(node_info& node, const protocol::job_update& update);
  void on(node_info& node, const protocol::worker_node& report);
  void on(node_info& node, const protocol::pilot_exit& exit);
  void on(node_info& node, const protocol::error& error);
  void on(node_info& node, const protocol::merge_result& result);
  void pump();
  void serve_pending();
  void start_merges();
  void merge_cannot_run(const std::string& output_name, const std::string& why);  // a site fault
  // A merge's process ended (locally or on a node): publish its output or count the failure.
  void conclude_merge(const std::string& output_name, const process::exit_status& status, bool remote);
  // Nodes that may run a merge now: pilot ended, no work left for them, not let go (ray.remotemerges).
  std::vector<std::uint64_t> merge_nodes() const;
  // A node whose pilot ended is kept while it runs merges or merges wait for a place.
  bool kept_for_merges(const node_info& node) const;
  void reply(conn_id conn, std::uint64_t request_id, std::vector<rty::event_range> ranges, bool no_more);
  dispatch_view view() const;
  // The workers of the pilots that may still ask (dispatch_view::asking_workers), summed over the nodes
  // at most once a second: a request costs O(1), not O(nodes), and the tail rule needs no exact count.
  std::uint64_t asking_workers() const;
  // Answers a request now unless the decision is to hold it; true when it was answered.
  bool answer(node_info& node, std::uint64_t request_id, std::int64_t n_ranges);
  void restart_idle_pilots();
  // Can a range handed to this node now finish before the kill time (walltime_policy.hpp)?
  bool fits_walltime(const node_info& node) const;
  void hold_back(node_info& node);
  std::uint64_t free_workers_of(const node_info& node) const;
  request_timing timing(const node_info& node, std::uint64_t free_workers) const;
  void forget_leases(node_info& node);
  void settle_idle_nodes();

  engine_settings settings_;
  const rty::job_spec& job_;
  bookkeeping::bookkeeper& book_;
  engine_io& io_;
  merge::merge_scheduler merges_;
  merge::merge_placement placement_;  // where each running merge runs (local or which node)
  // Running merges by output name: their commands (the task itself stays with merges_).
  std::map<std::string, merge::merge_command> running_merges_;
  std::string merges_held_;  // why merges are on hold; empty: they are not
  std::map<conn_id, node_info> nodes_;
  struct pending_request {
    conn_id conn;
    std::uint64_t request_id;
    int n_ranges;
  };
  std::deque<pending_request> pending_;
  std::uint32_t next_index_ = 0;
  std::uint64_t pilot_restarts_ = 0;
  bool draining_ = false;
  bool drain_deferred_ = false;  // some node was not told to drain yet: it runs merges (drain())
  duration_estimate estimate_;
  std::uint64_t requests_held_back_ = 0;
  bool holding_back_ = false;  // some request was held back: logged once
  std::string drain_reason_;
  std::map<std::string, std::string> merge_errors_;
  mutable std::uint64_t asking_workers_ = 0;
  mutable std::optional<std::chrono::steady_clock::time_point> asking_workers_at_;
};

}  // namespace rty::coordinator
