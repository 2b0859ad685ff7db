#pragma once
// Typed control-channel messages. Each has `type` (the value of its "type" key), to_json() (including
// "type") and from_json() which checks the type, every key's presence and kind, and — for challenge and
// hello — the protocol version, with an error naming the message, the key and what was expected.
#include "common/error.hpp"
#include "common/event_range.hpp"
#include "protocol/frame.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rty::protocol {

// The "type" of a decoded frame (the frame decoder already guarantees it is a string).
rty::result<std::string> message_type(const boost::json::object& message);

// Coordinator → stub, first frame on accept.
struct challenge {
  static constexpr std::string_view type = "challenge";
  std::uint32_t version = protocol::version;
  std::string nonce;
  boost::json::object to_json() const;
  static rty::result<challenge> from_json(const boost::json::object&);
};

// Stub → coordinator, first frame: the stub's identity, its own nonce for the coordinator to prove
// itself against, and its proof of the secret (protocol/handshake.hpp).
struct hello {
  static constexpr std::string_view type = "hello";
  std::uint32_t version = protocol::version;
  std::string node_id;
  std::string host;
  std::int64_t pid = 0;
  std::string nonce;
  std::string proof;
  boost::json::object to_json() const;
  static rty::result<hello> from_json(const boost::json::object&);
};

// Coordinator → stub after a valid hello: the coordinator's proof of the secret. Every frame after it,
// both ways, carries a MAC under the session's keys (protocol/frame.hpp).
struct accepted {
  static constexpr std::string_view type = "accepted";
  std::string proof;
  boost::json::object to_json() const;
  static rty::result<accepted> from_json(const boost::json::object&);
};

// Coordinator → stub, the first authenticated frame.
struct welcome {
  static constexpr std::string_view type = "welcome";
  int node_index = 0;
  boost::json::object job;       // the job exactly as pilot receives it on this node
  boost::json::object settings;  // free-form per-node settings
  boost::json::object to_json() const;
  static rty::result<welcome> from_json(const boost::json::object&);
};

// Both ways.
struct heartbeat {
  static constexpr std::string_view type = "heartbeat";
  boost::json::object to_json() const;
  static rty::result<heartbeat> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's getEventRanges.
struct ranges_request {
  static constexpr std::string_view type = "ranges_request";
  std::uint64_t request_id = 0;
  int n_ranges = 0;
  boost::json::object to_json() const;
  static rty::result<ranges_request> from_json(const boost::json::object&);
};

// Coordinator → stub. no_more: the job has no ranges left for anyone (pilot gets [] from now on).
// An empty list without no_more means "nothing for you now" (only other nodes' leases could make more
// ready): pilot gets [] for this request, and the next one asks again.
struct ranges_reply {
  static constexpr std::string_view type = "ranges_reply";
  std::uint64_t request_id = 0;
  std::vector<rty::event_range> ranges;
  bool no_more = false;
  // `sp`: the memory resource of the object (a shared arena on the hot paths: one malloc, not ~40).
  boost::json::object to_json(boost::json::storage_ptr sp = {}) const;
  static rty::result<ranges_reply> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot went away before the reply; the coordinator takes the ranges back.
struct ranges_cancel {
  static constexpr std::string_view type = "ranges_cancel";
  std::uint64_t request_id = 0;
  boost::json::object to_json() const;
  static rty::result<ranges_cancel> from_json(const boost::json::object&);
};

// Stub → coordinator: ranges received but not delivered to pilot.
struct ranges_return {
  static constexpr std::string_view type = "ranges_return";
  std::vector<std::string> ranges;  // eventRangeIDs
  boost::json::object to_json() const;
  static rty::result<ranges_return> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's updateEventRanges, normalised.
struct ranges_update {
  static constexpr std::string_view type = "ranges_update";
  std::vector<rty::range_update> updates;
  boost::json::object to_json(boost::json::storage_ptr sp = {}) const;  // sp: as ranges_reply's
  static rty::result<ranges_update> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's updateJob (for the log and status).
struct job_update {
  static constexpr std::string_view type = "job_update";
  std::string state;
  boost::json::object fields;
  boost::json::object to_json() const;
  static rty::result<job_update> from_json(const boost::json::object&);
};

// Stub → coordinator: what pilot (>= 3.10) reported about the node in update_worker_node, once at start
// (pilot/util/workernode.py get_workernode_map), for /status. It comes from pilot, so nothing in it is
// trusted: a number is null when pilot did not send one or it is out of range (to_json writes null
// then, from_json refuses it), text is free-form and is bounded and escaped where it is shown.
struct worker_node {
  static constexpr std::string_view type = "worker_node";
  static constexpr std::int64_t max_logical_cpus = std::int64_t{1} << 20;
  static constexpr std::int64_t max_memory_mb = std::int64_t{1} << 40;   // 1 EiB
  static constexpr std::int64_t max_local_disk_gb = std::int64_t{1} << 40;
  std::string host_name;
  std::string cpu_model;
  std::optional<std::int64_t> logical_cpus;
  std::optional<std::int64_t> memory_mb;
  std::optional<std::int64_t> local_disk_gb;
  boost::json::object to_json() const;
  static rty::result<worker_node> from_json(const boost::json::object&);
};

// Stub → coordinator: the payload ended (or could not start: code != 0, reason says why).
struct pilot_exit {
  static constexpr std::string_view type = "pilot_exit";
  int code = 0;
  int signal = 0;
  std::string reason;
  boost::json::object to_json() const;
  static rty::result<pilot_exit> from_json(const boost::json::object&);
};

// Coordinator → stub: the node's pilot has ended and there is work it can take: start pilot again
// (payload.sh in a fresh attempt directory). attempt counts pilots on this node, the first being 1.
struct start_pilot {
  static constexpr std::string_view type = "start_pilot";
  int attempt = 2;
  std::string reason;
  boost::json::object to_json() const;
  static rty::result<start_pilot> from_json(const boost::json::object&);
};

// Coordinator → stub. drain=true: write the kill file and let pilot finish; false: stop pilot and exit,
// after giving a pilot that is still running grace_s seconds to end by itself (the job is complete and
// pilot winds down: each of its workers still asks once and hears []).
struct stop {
  static constexpr std::string_view type = "stop";
  std::string reason;
  bool drain = false;
  int grace_s = 0;
  boost::json::object to_json() const;
  static rty::result<stop> from_json(const boost::json::object&);
};

// Both ways, then the sender closes the connection.
struct error {
  static constexpr std::string_view type = "error";
  std::string message;
  boost::json::object to_json() const;
  static rty::result<error> from_json(const boost::json::object&);
};

// Coordinator → stub (version 3): run one merge transform on this node, whose pilot has ended
// (ray.remotemerges). The coordinator has prepared work_dir on the shared filesystem (the input list and
// scripts in it); the stub runs argv there with stdout and stderr to log_path, in a process group of
// its own that dies with the stub (parent-death signal) or with the channel, and answers merge_result.
// The stub runs only a work_dir that lies under <task_dir>/merge-tmp/ (task_dir from welcome) and a
// log_path inside it; the transform writes its output in work_dir, and only the coordinator renames it
// into final/, after a successful merge_result.
struct merge_run {
  static constexpr std::string_view type = "merge_run";
  std::string output_name;
  int attempt = 1;
  std::vector<std::string> argv;
  std::string work_dir;
  std::string log_path;
  boost::json::object to_json() const;
  static rty::result<merge_run> from_json(const boost::json::object&);
};

// Stub → coordinator (version 3): how the merge_run for output_name/attempt ended. code/signal as
// pilot_exit; started=false when it could not start at all (reason says why: a path refused, spawn
// failed).
struct merge_result {
  static constexpr std::string_view type = "merge_result";
  std::string output_name;
  int attempt = 1;
  bool started = true;
  int code = 0;
  int signal = 0;
  std::string reason;
  boost::json::object to_json() const;
  static rty::result<merge_result> from_json(const boost::json::object&);
};

// What each side may receive once the handshake is done, decoded by the "type" key into one of the
// typed messages (the receiver dispatches with std::visit). An error names an unknown type, or the
// type's own from_json error.
using stub_message =
    std::variant<heartbeat, ranges_request, ranges_update, ranges_cancel, ranges_return, job_update, worker_node,
                 pilot_exit, error, merge_result>;
using coordinator_message = std::variant<heartbeat, ranges_reply, stop, start_pilot, error, merge_run>;
rty::result<stub_message> decode_stub_message(const boost::json::object& message);
rty::result<coordinator_message> decode_coordinator_message(const boost::json::object& message);

// Frame a typed message.
template <class Message>
std::string encode(const Message& m) {
  return encode_frame(m.to_json());
}

// A counted arena for one message built on a hot path: freed with the last value that uses it.
inline boost::json::storage_ptr message_arena(std::size_t initial = 4096) {
  return boost::json::make_shared_resource<boost::json::monotonic_resource>(initial);
}

// Channel representation of the shared vocabulary (pilot's five keys for ranges).
boost::json::object to_json(const rty::event_range& r, boost::json::storage_ptr sp = {});
rty::result<rty::event_range> event_range_from_json(const boost::json::value& v);
boost::json::object to_json(const rty::range_update& u, boost::json::storage_ptr sp = {});
rty::result<rty::range_update> range_update_from_json(const boost::json::value& v);

}  // namespace rty::protocol
