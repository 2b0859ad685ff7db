#include "coordinator/status_report.hpp"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <utility>

namespace rty::coordinator {
namespace {

double seconds_between(std::chrono::system_clock::time_point from, std::chrono::system_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

double epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Shortest round-trip text; Prometheus spells the specials +Inf, -Inf and NaN.
std::string number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string number(std::uint64_t v) { return std::to_string(v); }

// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
std::string escape(std::string_view text, bool quote) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && quote)
      out += "\\\"";
    else
      out += c;
  }
  return out;
}

using labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// One metric family at a time: HELP and TYPE, then its samples, so families never interleave.
class exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    name_ = name;
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape(help, false);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  void sample(const std::string& value, labels l = {}) {
    out_ += name_;
    if (l.size()) {
      out_ += '{';
      bool first = true;
      for (const auto& [k, v] : l) {
        if (!first) out_ += ',';
        first = false;
        out_ += k;
        out_ += "=\"";
        out_ += escape(v, true);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string name_;
};

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

http_answer text_answer(int status, std::string body) {
  return http_answer{.status = status, .content_type = "text/plain; charset=utf-8", .body = std::move(body), .allow = {}};
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

}  // namespace

node_report make_node_report(const node_info& node, std::uint64_t ranges_held, std::optional<double> heartbeat_age_s,
                             bool draining) {
  node_report r;
  r.node_id = node.node_id;
  r.host = node.host;
  r.state = node.pilot_ended ? "pilot ended" : draining ? "draining" : "running";
  r.pilot_state = node.pilot_state;
  r.heartbeat_age_s = heartbeat_age_s;
  r.ranges_held = ranges_held;
  r.ranges_served = node.ranges_served;
  r.ranges_finished = node.ranges_finished;
  r.last_error = node.last_error;
  r.worker_node = node.worker_node;
  return r;
}

std::string last_errors_text(const std::map<conn_id, node_info>& nodes, const std::map<std::string, std::string>& merges,
                             std::size_t max) {
  std::string out;
  std::size_t shown = 0, more = 0;
  auto add = [&](const std::string& what) {
    if (shown >= max) {
      ++more;
      return;
    }
    if (shown++) out += "; ";
    out += what;
  };
  for (const auto& [conn, n] : nodes)
    if (!n.last_error.empty()) add("node " + n.node_id + ": " + n.last_error);
  for (const auto& [output, error] : merges) add("merge " + output + ": " + error);
  if (more) out += "; and " + std::to_string(more) + " more";
  return out;
}

std::string run_state(const status_input& in) {
  if (!in.state.empty()) return in.state;
  return in.engine.draining ? "draining" : "running";
}

std::uint64_t ranges_done(const engine_status& s) { return s.ranges.finished + s.ranges.failed; }

std::optional<double> eta_seconds(const status_input& in) {
  std::uint64_t done = ranges_done(in.engine);
  if (done >= in.engine.ranges.total) return 0.0;
  double rate = in.events_per_s_last_minute > 0 ? in.events_per_s_last_minute : in.events_per_s_since_start;
  if (!(rate > 0)) return std::nullopt;
  return static_cast<double>(in.engine.ranges.total - done) / rate;
}

std::optional<double> walltime_left_seconds(const status_input& in) {
  if (!in.walltime_deadline) return std::nullopt;
  return std::max(0.0, seconds_between(in.now, *in.walltime_deadline));
}

namespace {
// Walltime-aware dispatch (walltime_policy.hpp): the range-duration estimates, when the ranges handed
// out should be done, and what is kept for the next run.
boost::json::object dispatch_json(const status_input& in) {
  namespace json = boost::json;
  const auto& s = in.engine;
  auto or_null = [](const std::optional<double>& v) { return v ? json::value(*v) : json::value(nullptr); };
  json::object w;
  w["range_estimate_s"] = or_null(s.range_estimate_s);
  w["range_queued_estimate_s"] = or_null(s.range_queued_estimate_s);
  w["projected_end"] = s.projected_end_in_s ? json::value(epoch_seconds(in.now) + *s.projected_end_in_s)
                                            : json::value(nullptr);
  w["ranges_held_back"] = s.ranges_held_back;
  w["requests_held_back"] = s.requests_held_back;
  return w;
}
}  // namespace

boost::json::object status_json(const status_input& in) {
  namespace json = boost::json;
  const auto& s = in.engine;
  json::object o;
  o["version"] = in.version;
  o["job"] = json::object{{"id", in.job_id}, {"task_id", in.task_id}};
  o["state"] = run_state(in);
  o["time"] = epoch_seconds(in.now);
  o["started"] = epoch_seconds(in.started);
  o["uptime_s"] = std::max(0.0, seconds_between(in.started, in.now));
  if (auto w = walltime_left_seconds(in))
    o["walltime_left_s"] = *w;
  else
    o["walltime_left_s"] = nullptr;
  o["ranges"] = json::object{{"total", s.ranges.total},       {"ready", s.ranges.ready},
                             {"leased", s.ranges.leased},     {"finished", s.ranges.finished},
                             {"failed", s.ranges.failed},     {"done", ranges_done(s)}};
  o["events"] = json::object{{"merged", s.ranges.merged_events}, {"failed", s.ranges.failed_events}};
  o["rate"] = json::object{{"events_per_s_last_minute", in.events_per_s_last_minute},
                           {"events_per_s_since_start", in.events_per_s_since_start}};
  if (auto eta = eta_seconds(in))
    o["eta_s"] = *eta;
  else
    o["eta_s"] = nullptr;
  json::array merge_errors;
  for (const auto& [output, error] : in.merge_errors) merge_errors.emplace_back(json::object{{"output", output}, {"last_error", error}});
  o["merges"] = json::object{{"running", s.merges_running},
                             {"pending", s.merges_pending},
                             {"done", s.merges_done},
                             {"failed", s.merges_failed},
                             {"remote_running", s.merges_remote_running},
                             {"remote_started", s.merges_remote_started},
                             {"errors", std::move(merge_errors)}};
  o["nodes_connected"] = s.nodes_connected;
  o["requests_waiting"] = s.requests_waiting;
  o["draining"] = s.draining;
  o["dispatch"] = dispatch_json(in);
  json::array nodes;
  nodes.reserve(in.nodes.size());
  for (const auto& n : in.nodes) {
    json::object j{{"node_id", n.node_id},         {"host", n.host},
                   {"state", n.state},             {"pilot_state", n.pilot_state},
                   {"ranges_held", n.ranges_held}, {"ranges_served", n.ranges_served},
                   {"ranges_finished", n.ranges_finished}};
    if (n.heartbeat_age_s)
      j["heartbeat_age_s"] = *n.heartbeat_age_s;
    else
      j["heartbeat_age_s"] = nullptr;
    if (n.last_error.empty())
      j["last_error"] = nullptr;
    else
      j["last_error"] = n.last_error;
    if (n.worker_node) {
      // pilot's update_worker_node; the engine already bounded and escaped the text (status_text).
      auto count = [](const std::optional<std::int64_t>& v) { return v ? json::value(*v) : json::value(nullptr); };
      const auto& w = *n.worker_node;
      j["worker_node"] = json::object{{"host_name", w.host_name},
                                      {"logical_cpus", count(w.logical_cpus)},
                                      {"memory_mb", count(w.memory_mb)},
                                      {"local_disk_gb", count(w.local_disk_gb)},
                                      {"cpu_model", w.cpu_model}};
    } else {
      j["worker_node"] = nullptr;
    }
    nodes.emplace_back(std::move(j));
  }
  o["nodes"] = std::move(nodes);
  return o;
}

std::string metrics_text(const status_input& in) {
  const auto& s = in.engine;
  exposition m;
  m.family("raythenad_build_info", "gauge", "Always 1; the version label says which raythenad runs.");
  m.sample("1", {{"version", in.version}});
  if (!in.job_id.empty()) {
    m.family("raythenad_job_info", "gauge", "Always 1; labels name the PanDA job and task being processed.");
    m.sample("1", {{"job_id", in.job_id}, {"task_id", in.task_id}});
  }
  m.family("raythenad_start_time_seconds", "gauge", "Start of this coordinator process, seconds since the epoch.");
  m.sample(number(epoch_seconds(in.started)));
  m.family("raythenad_draining", "gauge", "1 once no more event ranges are handed out (walltime, signal, no nodes).");
  m.sample(s.draining ? "1" : "0");
  m.family("raythenad_job_event_ranges", "gauge", "Event ranges in the job.");
  m.sample(number(s.ranges.total));
  m.family("raythenad_event_ranges", "gauge", "Event ranges of the job by state.");
  m.sample(number(s.ranges.ready), {{"state", "ready"}});
  m.sample(number(s.ranges.leased), {{"state", "leased"}});
  m.sample(number(s.ranges.finished), {{"state", "finished"}});
  m.sample(number(s.ranges.failed), {{"state", "failed"}});
  m.family("raythenad_event_ranges_processed_total", "counter",
           "Event ranges finished or failed (including those restored from a checkpoint).");
  m.sample(number(ranges_done(s)));
  m.family("raythenad_events_merged_total", "counter", "Events in merged outputs.");
  m.sample(number(s.ranges.merged_events));
  m.family("raythenad_events_failed_total", "counter", "Events that failed for good (their merge group failed).");
  m.sample(number(s.ranges.failed_events));
  m.family("raythenad_merges", "gauge", "Merge transforms running, and merge groups ready to merge but waiting.");
  m.sample(number(std::uint64_t(s.merges_running)), {{"state", "running"}});
  m.sample(number(std::uint64_t(s.merges_pending)), {{"state", "pending"}});
  m.family("raythenad_merges_finished_total", "counter", "Merges finished, by result (failure: retries exhausted).");
  m.sample(number(std::uint64_t(s.merges_done)), {{"result", "success"}});
  m.sample(number(std::uint64_t(s.merges_failed)), {{"result", "failure"}});
  m.family("raythenad_merges_remote_started_total", "counter",
           "Merges started on idle nodes through their stubs (ray.remotemerges), retries included.");
  m.sample(number(std::uint64_t(s.merges_remote_started)));
  m.family("raythenad_nodes_connected", "gauge", "Stubs connected to the coordinator.");
  m.sample(number(std::uint64_t(s.nodes_connected)));
  m.family("raythenad_range_requests_waiting", "gauge", "Pilot requests for event ranges held until ranges are free.");
  m.sample(number(std::uint64_t(s.requests_waiting)));
  if (auto w = walltime_left_seconds(in)) {
    m.family("raythenad_walltime_left_seconds", "gauge", "Seconds until the walltime kill time (absent: no limit).");
    m.sample(number(*w));
  }
  if (s.range_estimate_s) {
    m.family("raythenad_range_duration_estimate_seconds", "gauge",
             "p90 of recent lease-to-finish times of event ranges a free pilot worker started at once "
             "(walltime-aware dispatch).");
    m.sample(number(*s.range_estimate_s));
  }
  if (s.projected_end_in_s) {
    m.family("raythenad_projected_end_time_seconds", "gauge",
             "When the event ranges handed out should be finished, seconds since the epoch.");
    m.sample(number(epoch_seconds(in.now) + *s.projected_end_in_s));
  }
  m.family("raythenad_event_ranges_held_back", "gauge",
           "Ready event ranges kept for the next run because they could not finish before the kill time.");
  m.sample(number(s.ranges_held_back));
  m.family("raythenad_range_requests_held_back_total", "counter",
           "Pilot requests answered [] because no range could finish before the kill time.");
  m.sample(number(s.requests_held_back));
  if (auto eta = eta_seconds(in)) {
    m.family("raythenad_eta_seconds", "gauge",
             "Estimated seconds until every event range is processed, at the last minute's rate.");
    m.sample(number(*eta));
  }
  if (!in.nodes.empty()) {
    m.family("raythenad_node_event_ranges_held", "gauge", "Event ranges leased to a node now.");
    for (const auto& n : in.nodes) m.sample(number(n.ranges_held), {{"node_id", n.node_id}, {"host", n.host}});
    m.family("raythenad_node_event_ranges_finished_total", "counter",
             "Event ranges a node reported finished since it connected.");
    for (const auto& n : in.nodes) m.sample(number(n.ranges_finished), {{"node_id", n.node_id}, {"host", n.host}});
    m.family("raythenad_node_heartbeat_age_seconds", "gauge", "Seconds since the last message from a node.");
    for (const auto& n : in.nodes)
      if (n.heartbeat_age_s) m.sample(number(*n.heartbeat_age_s), {{"node_id", n.node_id}, {"host", n.host}});
  }
  return m.take();
}

// --- rate_meter ------------------------------------------------------------------------------------

rate_meter::rate_meter(clock::duration window, clock::duration resolution) : window_(window), resolution_(resolution) {}

void rate_meter::start(clock::time_point t, std::uint64_t done) {
  start_ = point{t, done};
  samples_.assign(1, *start_);
}

void rate_meter::sample(clock::time_point t, std::uint64_t done) {
  if (!start_) {
    start(t, done);
    return;
  }
  point p{t, done};
  if (samples_.size() >= 2 && t - samples_[samples_.size() - 2].t < resolution_)
    samples_.back() = p;
  else
    samples_.push_back(p);
  // Keep the newest sample at or before the window's start: the rate then spans the whole window.
  while (samples_.size() > 2 && samples_[1].t <= t - window_) samples_.pop_front();
}

namespace {
double rate_between(std::uint64_t from_done, rate_meter::clock::time_point from_t, std::uint64_t to_done,
                    rate_meter::clock::time_point to_t) {
  double secs = std::chrono::duration<double>(to_t - from_t).count();
  if (!(secs > 0)) return 0;
  return static_cast<double>(to_done - std::min(to_done, from_done)) / secs;
}
}  // namespace

double rate_meter::window_rate() const {
  if (samples_.size() < 2) return 0;
  return rate_between(samples_.front().done, samples_.front().t, samples_.back().done, samples_.back().t);
}

double rate_meter::overall_rate() const {
  if (!start_ || samples_.empty()) return 0;
  return rate_between(start_->done, start_->t, samples_.back().done, samples_.back().t);
}

std::string status_url_for(std::string_view bound_address, unsigned port, std::string_view host_name) {
  const bool v6 = bound_address.find(':') != std::string_view::npos;
  const bool wildcard = bound_address == "0.0.0.0" || bound_address == "::" || bound_address.empty();
  std::string host;
  if (wildcard) {
    bool plain = !host_name.empty() && host_name.size() <= 253 && host_name.front() != '-' &&
                 host_name.front() != '.' &&
                 std::all_of(host_name.begin(), host_name.end(), [](char c) {
                   return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                          c == '.';
                 });
    host = plain ? std::string(host_name) : v6 ? "[::1]" : "127.0.0.1";
  } else {
    host = v6 ? "[" + std::string(bound_address) + "]" : std::string(bound_address);
  }
  return "http://" + host + ":" + std::to_string(port);
}

// --- HTTP ------------------------------------------------------------------------------------------

bool request_head_complete(std::string_view received) {
  return received.find("\r\n\r\n") != std::string_view::npos || received.find("\n\n") != std::string_view::npos;
}

http_answer route_status_request(std::string_view method, std::string_view target, const status_input& in) {
  if (auto q = target.find_first_of("?#"); q != std::string_view::npos) target = target.substr(0, q);
  bool known = target == "/status" || target == "/metrics" || target == "/";
  if (!known) return text_answer(404, "not found: " + std::string(target) + " (try /status or /metrics)\n");
  if (method != "GET" && method != "HEAD") {
    auto a = text_answer(405, "method " + std::string(method) + " not allowed: use GET\n");
    a.allow = "GET, HEAD";
    return a;
  }
  if (target == "/status")
    return http_answer{.status = 200,
                       .content_type = "application/json",
                       .body = boost::json::serialize(status_json(in)) + "\n",
                       .allow = {}};
  if (target == "/metrics")
    return http_answer{
        .status = 200, .content_type = std::string(metrics_content_type), .body = metrics_text(in), .allow = {}};
  return text_answer(200, "raythenad " + in.version + ": GET /status (JSON), GET /metrics (Prometheus)\n");
}

std::string http_response_bytes(const http_answer& a, bool head_only) {
  std::string out = "HTTP/1.0 " + std::to_string(a.status) + " " + std::string(reason_phrase(a.status)) + "\r\n";
  out += "Content-Type: " + a.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(a.body.size()) + "\r\n";
  if (!a.allow.empty()) out += "Allow: " + a.allow + "\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  if (!head_only) out += a.body;
  return out;
}

std::string answer_http_request(std::string_view head, const status_input& in) {
  auto eol = head.find('\n');
  if (eol == std::string_view::npos) {
    if (head.size() >= max_request_head) return http_response_bytes(text_answer(431, "request head too large\n"));
    return http_response_bytes(text_answer(400, "incomplete request line\n"));
  }
  if (!request_head_complete(head) && head.size() >= max_request_head)
    return http_response_bytes(text_answer(431, "request head too large\n"));
  std::string_view line = head.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return http_response_bytes(text_answer(400, "malformed request line\n"));
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  bool ok = !method.empty() && std::all_of(method.begin(), method.end(), is_token_char) && !target.empty() &&
            target.front() == '/' && target.find(' ') == std::string_view::npos && version.starts_with("HTTP/1.");
  if (!ok) return http_response_bytes(text_answer(400, "malformed request line\n"));
  return http_response_bytes(route_status_request(method, target, in), method == "HEAD");
}

}  // namespace rty::coordinator
