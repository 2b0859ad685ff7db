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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bookkeeping/bookkeeper.hpp"
#include "common/job_spec.hpp"
#include "common/process.hpp"
#include "merge/merge_command.hpp"
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
  // A merge result (success or final failure) was recorded: persist the checkpoint soon (coalesced with
  // other results), so that a crash rarely repeats a finished merge; after a success the per-range
  // inputs may go once that checkpoint is written.
  virtual void merge_recorded(const rty::merge_task& task, bool succeeded) = 0;
  // A node reported range results (after the bookkeeper recorded them); with Harvester as the event
  // source they go on to Harvester's event-status dump.
  virtual void ranges_reported(const std::vector<rty::range_update>& updates) { (void)updates; }
};

struct engine_settings {
  std::string workdir;        // W: node directories go to W/<PandaID>/<node id>
  std::string task_dir;       // O
  std::string endpoint;       // Harvester endpoint (absolute input paths)
  int corepernode = 0;        // cap on ranges per request (0: no cap)
  int expected_nodes = 1;     // for --jobNumber
  int merge_max_processes = 1;
  int merge_retries = 2;
  merge::merge_settings merge;
  boost::json::object node_settings;  // sent to every stub in welcome.settings (actor_dir/node specifics added)
};

struct node_info {
  conn_id conn = 0;
  std::uint32_t index = 0;
  std::string node_id;
  std::string host;
  std::string peer;
  std::string pilot_state = "starting";
  bool pilot_ended = false;
  std::chrono::steady_clock::time_point joined{};
  std::uint64_t ranges_served = 0;
  std::uint64_t ranges_finished = 0;
};

struct engine_status {
  bookkeeping::counts ranges;
  std::size_t nodes_connected = 0;
  std::size_t merges_running = 0;
  std::size_t merges_pending = 0;
  std::size_t merges_done = 0;
  std::size_t merges_failed = 0;
  std::size_t requests_waiting = 0;
  bool draining = false;
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

  // Stop handing out ranges (walltime, SIGTERM, no nodes left): pilots get "no more", stubs are told
  // to drain; merges that are complete still run.
  void drain(const std::string& why);
  // The task directory takes no more writes (the checkpoint failed): no merge starts any more, and a
  // merge that fails now is not held against its group (its output could not be written either); the
  // groups stay finished-but-unmerged for the next run.
  void hold_merges(const std::string& why);
  // Kill everything now (second signal, hard deadline).
  void stop_nodes(const std::string& why);

  run_outcome outcome() const;
  engine_status status() const;
  const std::map<conn_id, node_info>& nodes() const { return nodes_; }
  bool draining() const { return draining_; }

 private:
  void on_ranges_request(node_info& node, const protocol::ranges_request& request);
  void on_ranges_update(node_info& node, const protocol::ranges_update& update);
  void pump();
  void serve_pending();
  void start_merges();
  void reply(conn_id conn, std::uint64_t request_id, std::vector<rty::event_range> ranges, bool no_more);
  bool no_more_ranges() const;

  engine_settings settings_;
  const rty::job_spec& job_;
  bookkeeping::bookkeeper& book_;
  engine_io& io_;
  merge::merge_scheduler merges_;
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
  bool draining_ = false;
};

}  // namespace rty::coordinator
