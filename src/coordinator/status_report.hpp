#pragma once
// What GET /status and GET /metrics answer, built from one snapshot of the run (status_input) without
// any I/O, plus the tiny HTTP routing around them: the daemon reads a request head, calls
// answer_http_request() and writes the bytes back. The periodic log line, the terminal display and
// the endpoint should all take their numbers from the same status_input / rate_meter.
#include <boost/json/object.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coordinator/engine.hpp"

namespace rty::coordinator {

// <ray.workdir>/status.url: the endpoint's URL, one line, while the endpoint is up.
inline constexpr std::string_view status_url_file = "status.url";

// One connected node as the status shows it.
struct node_report {
  std::string node_id;
  std::string host;
  std::string state;        // "running", "pilot ended", "draining"
  std::string pilot_state;  // pilot's last job state ("starting", "running", ...; "ended" after exit)
  std::optional<double> heartbeat_age_s;  // seconds since the last frame from the node; nullopt: unknown
  std::uint64_t ranges_held = 0;          // leased to it now
  std::uint64_t ranges_served = 0;
  std::uint64_t ranges_finished = 0;
  std::string last_error;  // node_info::last_error; empty: none
  std::optional<protocol::worker_node> worker_node;  // node_info::worker_node: what pilot reported
};

// Fills a node_report from the engine's view of a node. `ranges_held` comes from
// bookkeeper::leased_to(node.index), the heartbeat age from the connection's last receive time.
node_report make_node_report(const node_info& node, std::uint64_t ranges_held, std::optional<double> heartbeat_age_s,
                             bool draining);

// Everything one status answer needs. Times are passed in so that the output is a pure function.
struct status_input {
  std::string version;  // rty::version
  std::string job_id;   // PandaID; empty while waiting for Harvester's job
  std::string task_id;
  // Empty: derived ("running", or "draining" when engine.draining). The daemon may say
  // "waiting for job" before the engine exists, or "finishing" while the final report is written.
  std::string state;
  engine_status engine;
  std::vector<node_report> nodes;
  double events_per_s_last_minute = 0;  // finished + failed event ranges per second (rate_meter)
  double events_per_s_since_start = 0;
  std::chrono::system_clock::time_point now{};
  std::chrono::system_clock::time_point started{};
  std::optional<std::chrono::system_clock::time_point> walltime_deadline;  // kill time; nullopt: no limit
  std::map<std::string, std::string> merge_errors;  // engine::merge_errors(): output → last failure
};

// For the periodic log line: "node nid001: pilot ended abnormally (...); merge OUT.2: exit code 1: ..."
// (at most `max` entries, nodes first, then "and N more"); empty when nothing failed.
std::string last_errors_text(const std::map<conn_id, node_info>& nodes, const std::map<std::string, std::string>& merges,
                             std::size_t max = 3);

std::string run_state(const status_input& in);
// Event ranges finished or failed (what "events" counts in rates and ETA).
std::uint64_t ranges_done(const engine_status& s);
// Seconds until every range is finished or failed at the last minute's rate (the overall rate when
// the last minute saw nothing); 0 when nothing is left; nullopt when no rate is known yet.
std::optional<double> eta_seconds(const status_input& in);
std::optional<double> walltime_left_seconds(const status_input& in);

// The JSON of GET /status (documented in docs/monitoring.md; `raythenad status` reads it).
boost::json::object status_json(const status_input& in);

// Prometheus text exposition format 0.0.4: "# HELP" and "# TYPE" per family, raythenad_ prefix,
// base units in names, _total on counters.
std::string metrics_text(const status_input& in);
inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// Events per second over a sliding window (default one minute) and since a start point. The daemon
// samples the done count (ranges_done) from a timer, e.g. every second; samples closer together than
// `resolution` replace each other, so memory stays bounded by window / resolution.
class rate_meter {
 public:
  using clock = std::chrono::steady_clock;
  explicit rate_meter(clock::duration window = std::chrono::minutes(1),
                      clock::duration resolution = std::chrono::seconds(1));
  // The run's starting point (after a resume: the count restored from the checkpoint).
  void start(clock::time_point t, std::uint64_t done);
  void sample(clock::time_point t, std::uint64_t done);
  // Over the last `window` (or since start while the run is younger); 0 without two samples.
  double window_rate() const;
  double overall_rate() const;  // since start(), up to the last sample

 private:
  struct point {
    clock::time_point t;
    std::uint64_t done;
  };
  clock::duration window_, resolution_;
  std::optional<point> start_;
  std::deque<point> samples_;
};

// The URL written to <workdir>/status.url, which `raythenad status` (often on a login node) reads:
// http://ADDRESS:PORT for a specific listen address (IPv6 in brackets), and for a wildcard (0.0.0.0,
// ::) http://HOSTNAME:PORT with this host's name, so that the URL works from another host too. A
// host name that is not a plain DNS name (letters, digits, '-', '.', at most 253 bytes) is not
// written into a URL: loopback is used then. `bound_address` is the address as Asio prints it.
std::string status_url_for(std::string_view bound_address, unsigned port, std::string_view host_name);

// --- HTTP, sans-I/O -------------------------------------------------------------------------------

struct http_answer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::string allow;  // the Allow header of a 405
};

inline constexpr std::size_t max_request_head = 8192;
// True once `received` holds a whole request head (ends with an empty line). The daemon reads until
// this holds or max_request_head bytes arrived (then answers 431 through answer_http_request).
bool request_head_complete(std::string_view received);

// GET or HEAD on /status, /metrics, / (a one-line index); 404 elsewhere, 405 for other methods.
// A query string is ignored.
http_answer route_status_request(std::string_view method, std::string_view target, const status_input& in);

// The whole HTTP/1.0 response (status line, Content-Type, Content-Length, Connection: close, body
// unless `head_only`).
std::string http_response_bytes(const http_answer& answer, bool head_only = false);

// Parses the request line of `head` (bytes read so far) and routes it: the bytes to write back, then
// close. Malformed requests get 400, an oversized head 431; never throws.
std::string answer_http_request(std::string_view head, const status_input& in);

}  // namespace rty::coordinator
