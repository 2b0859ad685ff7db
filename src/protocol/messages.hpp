#pragma once
// Typed control-channel messages. Each has `type` (the value of its "type" key), to_json() (including
// "type") and from_json() which checks the type, every key's presence and kind, and — for challenge and
// hello — the protocol version, with an error naming the message, the key and what was expected.
#include "common/event_range.hpp"
#include "protocol/frame.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rty::protocol {

template <class T>
using parse_result = boost::system::result<T, std::string>;

// The "type" of a decoded frame (the frame decoder already guarantees it is a string).
boost::system::result<std::string, std::string> message_type(const boost::json::object& message);

// Coordinator → stub, first frame on accept.
struct challenge {
  static constexpr std::string_view type = "challenge";
  std::uint32_t version = protocol::version;
  std::string nonce;
  boost::json::object to_json() const;
  static parse_result<challenge> from_json(const boost::json::object&);
};

// Stub → coordinator, first frame. proof = auth_proof(secret, nonce, node_id).
struct hello {
  static constexpr std::string_view type = "hello";
  std::uint32_t version = protocol::version;
  std::string node_id;
  std::string host;
  std::int64_t pid = 0;
  std::string proof;
  boost::json::object to_json() const;
  static parse_result<hello> from_json(const boost::json::object&);
};

// Coordinator → stub after a valid hello.
struct welcome {
  static constexpr std::string_view type = "welcome";
  int node_index = 0;
  boost::json::object job;       // the job exactly as pilot receives it on this node
  boost::json::object settings;  // free-form per-node settings
  boost::json::object to_json() const;
  static parse_result<welcome> from_json(const boost::json::object&);
};

// Both ways.
struct heartbeat {
  static constexpr std::string_view type = "heartbeat";
  boost::json::object to_json() const;
  static parse_result<heartbeat> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's getEventRanges.
struct ranges_request {
  static constexpr std::string_view type = "ranges_request";
  std::uint64_t request_id = 0;
  int n_ranges = 0;
  boost::json::object to_json() const;
  static parse_result<ranges_request> from_json(const boost::json::object&);
};

// Coordinator → stub. no_more: the job has no ranges left for anyone (pilot gets [] from now on).
struct ranges_reply {
  static constexpr std::string_view type = "ranges_reply";
  std::uint64_t request_id = 0;
  std::vector<rty::event_range> ranges;
  bool no_more = false;
  boost::json::object to_json() const;
  static parse_result<ranges_reply> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot went away before the reply; the coordinator takes the ranges back.
struct ranges_cancel {
  static constexpr std::string_view type = "ranges_cancel";
  std::uint64_t request_id = 0;
  boost::json::object to_json() const;
  static parse_result<ranges_cancel> from_json(const boost::json::object&);
};

// Stub → coordinator: ranges received but not delivered to pilot.
struct ranges_return {
  static constexpr std::string_view type = "ranges_return";
  std::vector<std::string> ranges;  // eventRangeIDs
  boost::json::object to_json() const;
  static parse_result<ranges_return> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's updateEventRanges, normalised.
struct ranges_update {
  static constexpr std::string_view type = "ranges_update";
  std::vector<rty::range_update> updates;
  boost::json::object to_json() const;
  static parse_result<ranges_update> from_json(const boost::json::object&);
};

// Stub → coordinator: pilot's updateJob (for the log and status).
struct job_update {
  static constexpr std::string_view type = "job_update";
  std::string state;
  boost::json::object fields;
  boost::json::object to_json() const;
  static parse_result<job_update> from_json(const boost::json::object&);
};

// Stub → coordinator: the payload ended (or could not start: code != 0, reason says why).
struct pilot_exit {
  static constexpr std::string_view type = "pilot_exit";
  int code = 0;
  int signal = 0;
  std::string reason;
  boost::json::object to_json() const;
  static parse_result<pilot_exit> from_json(const boost::json::object&);
};

// Coordinator → stub. drain=true: write the kill file and let pilot finish; false: kill pilot and exit.
struct stop {
  static constexpr std::string_view type = "stop";
  std::string reason;
  bool drain = false;
  boost::json::object to_json() const;
  static parse_result<stop> from_json(const boost::json::object&);
};

// Both ways, then the sender closes the connection.
struct error {
  static constexpr std::string_view type = "error";
  std::string message;
  boost::json::object to_json() const;
  static parse_result<error> from_json(const boost::json::object&);
};

// Frame a typed message.
template <class Message>
std::string encode(const Message& m) {
  return encode_frame(m.to_json());
}

// Channel representation of the shared vocabulary (pilot's five keys for ranges).
boost::json::object to_json(const rty::event_range& r);
parse_result<rty::event_range> event_range_from_json(const boost::json::value& v);
boost::json::object to_json(const rty::range_update& u);
parse_result<rty::range_update> range_update_from_json(const boost::json::value& v);

}  // namespace rty::protocol
