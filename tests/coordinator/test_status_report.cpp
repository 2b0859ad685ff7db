// GET /status JSON, GET /metrics in the Prometheus text format (checked line by line with a strict
// grammar), the sliding-window rate, ETA and the sans-I/O HTTP routing.
#define BOOST_TEST_MODULE status
#include <boost/test/unit_test.hpp>

#include <boost/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tools/status_client.hpp"
#include "coordinator/status_report.hpp"

namespace rty::coordinator {
namespace {

using namespace std::chrono_literals;
using sys = std::chrono::system_clock;

status_input sample_input() {
  status_input in;
  in.version = "0.9.0";
  in.job_id = "6000000001";
  in.task_id = "40000001";
  in.engine.ranges.total = 200;
  in.engine.ranges.ready = 50;
  in.engine.ranges.leased = 8;
  in.engine.ranges.finished = 140;
  in.engine.ranges.failed = 2;
  in.engine.ranges.merged_events = 125;
  in.engine.ranges.failed_events = 2;
  in.engine.nodes_connected = 2;
  in.engine.merges_running = 2;
  in.engine.merges_pending = 1;
  in.engine.merges_remote_started = 3;
  in.engine.merges_done = 5;
  in.engine.merges_failed = 1;
  in.engine.requests_waiting = 3;
  in.events_per_s_last_minute = 2.0;
  in.events_per_s_since_start = 1.0;
  in.started = sys::time_point(1'700'000'000s);
  in.now = in.started + 725s;
  in.walltime_deadline = in.now + 3600s;
  in.nodes.push_back(node_report{.node_id = "nid001", .host = "nid001.cluster", .state = "running",
                                 .pilot_state = "running", .heartbeat_age_s = 1.5, .ranges_held = 4,
                                 .ranges_served = 80, .ranges_finished = 76, .last_error = {},
                                 .worker_node = rty::protocol::worker_node{"nid001.cluster", "AMD EPYC 512 KB", 2,
                                                                           24105, std::nullopt}});
  in.nodes.push_back(node_report{.node_id = "nid\"002\\x\ny", .host = "h2", .state = "pilot ended",
                                 .pilot_state = "ended", .heartbeat_age_s = std::nullopt, .ranges_held = 0,
                                 .ranges_served = 66, .ranges_finished = 66, .last_error = {},
                                 .worker_node = std::nullopt});
  return in;
}

// --- a strict reader of the Prometheus text exposition format 0.0.4 ---------------------------------

struct metric_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct exposition {
  std::map<std::string, std::string> type;  // family → counter/gauge
  std::map<std::string, std::string> help;
  std::vector<metric_sample> samples;
};

std::string unescape_label(const std::string& v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char c = v[++i];
      out += c == 'n' ? '\n' : c;
    } else {
      out += v[i];
    }
  }
  return out;
}

// Fails the test case on the first line that is not exactly one of: HELP, TYPE, or a sample of the
// family whose TYPE came last (families contiguous, each declared once, HELP before TYPE).
exposition parse_exposition(const std::string& text) {
  static const std::string name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  static const std::string label_value = R"("(?:[^"\\\n]|\\[\\"n])*")";
  static const std::string label = "[a-zA-Z_][a-zA-Z0-9_]*=" + label_value;
  static const std::string value = R"((?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN))";
  static const std::regex help_re("# HELP (" + name + ") (.*)");
  static const std::regex type_re("# TYPE (" + name + ") (counter|gauge|histogram|summary|untyped)");
  static const std::regex sample_re("(" + name + ")(?:\\{(" + label + "(?:," + label + ")*)?\\})? (" + value + ")");
  static const std::regex label_re("([a-zA-Z_][a-zA-Z0-9_]*)=(" + label_value + ")");

  exposition e;
  BOOST_REQUIRE_MESSAGE(!text.empty() && text.back() == '\n', "exposition must end with a newline");
  std::istringstream in(text);
  std::string line, current, pending_help;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, help_re)) {
      BOOST_REQUIRE_MESSAGE(!e.help.count(m[1]), "line " << n << ": second HELP for " << m[1]);
      e.help[m[1]] = m[2];
      pending_help = m[1];
    } else if (std::regex_match(line, m, type_re)) {
      BOOST_REQUIRE_MESSAGE(!e.type.count(m[1]), "line " << n << ": family " << m[1] << " declared twice");
      BOOST_REQUIRE_MESSAGE(pending_help == m[1], "line " << n << ": TYPE of " << m[1] << " without its HELP first");
      e.type[m[1]] = m[2];
      current = m[1];
    } else if (std::regex_match(line, m, sample_re)) {
      BOOST_REQUIRE_MESSAGE(m[1] == current, "line " << n << ": sample of " << m[1] << " outside its family "
                                                     << current);
      metric_sample s;
      s.name = m[1];
      std::string labels = m[2];
      for (std::sregex_iterator it(labels.begin(), labels.end(), label_re), end; it != end; ++it) {
        std::string v = (*it)[2];
        BOOST_REQUIRE_MESSAGE(!s.labels.count((*it)[1]), "line " << n << ": label repeated");
        s.labels[(*it)[1]] = unescape_label(v.substr(1, v.size() - 2));
      }
      s.value = std::stod(m[3]);
      e.samples.push_back(std::move(s));
    } else {
      BOOST_FAIL("line " << n << " is not valid exposition format: '" << line << "'");
    }
  }
  return e;
}

const metric_sample* find(const exposition& e, const std::string& name, std::map<std::string, std::string> labels = {}) {
  for (const auto& s : e.samples) {
    bool match = s.name == name;
    for (const auto& [k, v] : labels)
      if (!s.labels.count(k) || s.labels.at(k) != v) match = false;
    if (match) return &s;
  }
  return nullptr;
}

}  // namespace

BOOST_AUTO_TEST_CASE(metrics_follow_the_exposition_format_and_naming_conventions) {
  auto text = metrics_text(sample_input());
  auto e = parse_exposition(text);
  BOOST_TEST(e.samples.size() > 20u);
  std::set<std::string> series;
  for (const auto& s : e.samples) {
    BOOST_TEST(s.name.rfind("raythenad_", 0) == 0, s.name);
    std::ostringstream key;
    key << s.name;
    for (const auto& [k, v] : s.labels) key << ',' << k << '=' << v;
    BOOST_TEST(series.insert(key.str()).second, "duplicate series " << key.str());
  }
  for (const auto& [family, type] : e.type) {
    bool total = family.size() > 6 && family.compare(family.size() - 6, 6, "_total") == 0;
    BOOST_TEST((type == "counter") == total, family << " is a " << type << ": _total is for counters only");
    BOOST_TEST(!e.help.at(family).empty());
  }
  // Units in names: times in seconds.
  BOOST_TEST(e.type.count("raythenad_walltime_left_seconds"));
  BOOST_TEST(e.type.count("raythenad_start_time_seconds"));
  BOOST_TEST(e.type.count("raythenad_node_heartbeat_age_seconds"));
}

BOOST_AUTO_TEST_CASE(metrics_carry_the_numbers) {
  auto e = parse_exposition(metrics_text(sample_input()));
  auto value = [&](const std::string& name, std::map<std::string, std::string> labels = {}) {
    auto s = find(e, name, labels);
    BOOST_REQUIRE_MESSAGE(s, "no sample " << name);
    return s->value;
  };
  BOOST_TEST(value("raythenad_build_info", {{"version", "0.9.0"}}) == 1);
  BOOST_TEST(value("raythenad_job_info", {{"job_id", "6000000001"}, {"task_id", "40000001"}}) == 1);
  BOOST_TEST(value("raythenad_job_event_ranges") == 200);
  BOOST_TEST(value("raythenad_event_ranges", {{"state", "ready"}}) == 50);
  BOOST_TEST(value("raythenad_event_ranges", {{"state", "leased"}}) == 8);
  BOOST_TEST(value("raythenad_event_ranges", {{"state", "finished"}}) == 140);
  BOOST_TEST(value("raythenad_event_ranges", {{"state", "failed"}}) == 2);
  BOOST_TEST(value("raythenad_event_ranges_processed_total") == 142);
  BOOST_TEST(value("raythenad_events_merged_total") == 125);
  BOOST_TEST(value("raythenad_events_failed_total") == 2);
  BOOST_TEST(value("raythenad_merges", {{"state", "running"}}) == 2);
  BOOST_TEST(value("raythenad_merges", {{"state", "pending"}}) == 1);
  BOOST_TEST(value("raythenad_merges_remote_started_total", {}) == 3);
  BOOST_TEST(value("raythenad_merges_finished_total", {{"result", "success"}}) == 5);
  BOOST_TEST(value("raythenad_merges_finished_total", {{"result", "failure"}}) == 1);
  BOOST_TEST(value("raythenad_nodes_connected") == 2);
  BOOST_TEST(value("raythenad_range_requests_waiting") == 3);
  BOOST_TEST(value("raythenad_draining") == 0);
  BOOST_TEST(value("raythenad_start_time_seconds") == 1.7e9);
  BOOST_TEST(value("raythenad_walltime_left_seconds") == 3600);
  BOOST_TEST(value("raythenad_eta_seconds") == 29);  // 58 left at 2/s
  BOOST_TEST(value("raythenad_node_event_ranges_held", {{"node_id", "nid001"}, {"host", "nid001.cluster"}}) == 4);
  BOOST_TEST(value("raythenad_node_heartbeat_age_seconds", {{"node_id", "nid001"}}) == 1.5);
  // Quotes, backslashes and newlines in label values are escaped and come back intact.
  BOOST_TEST(value("raythenad_node_event_ranges_finished_total", {{"node_id", "nid\"002\\x\ny"}}) == 66);
  // Unknown heartbeat age: no sample rather than a made-up value.
  BOOST_TEST(!find(e, "raythenad_node_heartbeat_age_seconds", {{"host", "h2"}}));
}

BOOST_AUTO_TEST_CASE(optional_metrics_are_left_out_when_unknown) {
  auto in = sample_input();
  in.job_id.clear();
  in.walltime_deadline.reset();
  in.events_per_s_last_minute = in.events_per_s_since_start = 0;
  in.nodes.clear();
  in.engine.draining = true;
  auto e = parse_exposition(metrics_text(in));
  BOOST_TEST(!e.type.count("raythenad_job_info"));
  BOOST_TEST(!e.type.count("raythenad_walltime_left_seconds"));
  BOOST_TEST(!e.type.count("raythenad_eta_seconds"));
  BOOST_TEST(!e.type.count("raythenad_node_event_ranges_held"));
  BOOST_TEST(find(e, "raythenad_draining")->value == 1);
}

BOOST_AUTO_TEST_CASE(walltime_aware_dispatch_is_shown_in_status_and_metrics) {
  auto in = sample_input();
  auto o = status_json(in);
  auto& d0 = o.at("dispatch").as_object();
  BOOST_TEST(d0.at("range_estimate_s").is_null());  // nothing finished yet: no estimate, no projected end
  BOOST_TEST(d0.at("range_queued_estimate_s").is_null());
  BOOST_TEST(d0.at("projected_end").is_null());
  BOOST_TEST(!parse_exposition(metrics_text(in)).type.count("raythenad_range_duration_estimate_seconds"));
  in.engine.range_estimate_s = 310.5;
  in.engine.range_queued_estimate_s = 520.25;
  in.engine.projected_end_in_s = 600;
  in.engine.ranges_held_back = 50;
  in.engine.requests_held_back = 7;
  o = status_json(in);
  auto& d = o.at("dispatch").as_object();
  BOOST_TEST(d.at("range_estimate_s").as_double() == 310.5);
  BOOST_TEST(d.at("range_queued_estimate_s").as_double() == 520.25);
  BOOST_TEST(d.at("projected_end").as_double() == 1'700'000'000.0 + 725 + 600);
  BOOST_TEST(d.at("ranges_held_back").as_uint64() == 50u);
  BOOST_TEST(d.at("requests_held_back").as_uint64() == 7u);
  auto e = parse_exposition(metrics_text(in));
  BOOST_TEST(find(e, "raythenad_range_duration_estimate_seconds")->value == 310.5);
  BOOST_TEST(find(e, "raythenad_projected_end_time_seconds")->value == 1'700'000'000.0 + 725 + 600);
  BOOST_TEST(find(e, "raythenad_event_ranges_held_back")->value == 50);
  BOOST_TEST(find(e, "raythenad_range_requests_held_back_total")->value == 7);
}

BOOST_AUTO_TEST_CASE(status_json_fields) {
  auto o = status_json(sample_input());
  // What `raythenad status` and the README rely on.
  BOOST_TEST(o.at("version").as_string() == "0.9.0");
  BOOST_TEST(o.at("job").at("id").as_string() == "6000000001");
  BOOST_TEST(o.at("job").at("task_id").as_string() == "40000001");
  BOOST_TEST(o.at("state").as_string() == "running");
  BOOST_TEST(o.at("uptime_s").as_double() == 725);
  BOOST_TEST(o.at("time").as_double() == 1'700'000'725.0);
  BOOST_TEST(o.at("walltime_left_s").as_double() == 3600);
  BOOST_TEST(o.at("eta_s").as_double() == 29);
  const auto& r = o.at("ranges").as_object();
  BOOST_TEST(r.at("total").to_number<int>() == 200);
  BOOST_TEST(r.at("ready").to_number<int>() == 50);
  BOOST_TEST(r.at("leased").to_number<int>() == 8);
  BOOST_TEST(r.at("finished").to_number<int>() == 140);
  BOOST_TEST(r.at("failed").to_number<int>() == 2);
  BOOST_TEST(r.at("done").to_number<int>() == 142);
  BOOST_TEST(o.at("events").at("merged").to_number<int>() == 125);
  BOOST_TEST(o.at("rate").at("events_per_s_last_minute").as_double() == 2.0);
  BOOST_TEST(o.at("rate").at("events_per_s_since_start").as_double() == 1.0);
  BOOST_TEST(o.at("merges").at("running").to_number<int>() == 2);
  BOOST_TEST(o.at("merges").at("pending").to_number<int>() == 1);
  BOOST_TEST(o.at("merges").at("done").to_number<int>() == 5);
  BOOST_TEST(o.at("merges").at("failed").to_number<int>() == 1);
  BOOST_TEST(o.at("nodes_connected").to_number<int>() == 2);
  BOOST_TEST(o.at("requests_waiting").to_number<int>() == 3);
  BOOST_TEST(o.at("draining").as_bool() == false);
  const auto& nodes = o.at("nodes").as_array();
  BOOST_REQUIRE(nodes.size() == 2u);
  BOOST_TEST(nodes[0].at("node_id").as_string() == "nid001");
  BOOST_TEST(nodes[0].at("host").as_string() == "nid001.cluster");
  BOOST_TEST(nodes[0].at("state").as_string() == "running");
  BOOST_TEST(nodes[0].at("pilot_state").as_string() == "running");
  BOOST_TEST(nodes[0].at("heartbeat_age_s").as_double() == 1.5);
  BOOST_TEST(nodes[0].at("ranges_held").to_number<int>() == 4);
  BOOST_TEST(nodes[0].at("ranges_served").to_number<int>() == 80);
  BOOST_TEST(nodes[0].at("ranges_finished").to_number<int>() == 76);
  BOOST_TEST(nodes[1].at("heartbeat_age_s").is_null());
  BOOST_TEST(nodes[0].at("last_error").is_null());
  BOOST_TEST(o.at("merges").at("errors").as_array().empty());
  // What pilot's update_worker_node reported (issue 16); a number pilot did not send is null, and so
  // is the whole report of a node whose pilot never sent one.
  const auto& w = nodes[0].at("worker_node").as_object();
  BOOST_TEST(w.at("host_name").as_string() == "nid001.cluster");
  BOOST_TEST(w.at("logical_cpus").to_number<int>() == 2);
  BOOST_TEST(w.at("memory_mb").to_number<int>() == 24105);
  BOOST_TEST(w.at("local_disk_gb").is_null());
  BOOST_TEST(w.at("cpu_model").as_string() == "AMD EPYC 512 KB");
  BOOST_TEST(w.size() == 5u);
  BOOST_TEST(nodes[1].at("worker_node").is_null());
}

BOOST_AUTO_TEST_CASE(status_json_carries_the_last_error_per_node_and_merge) {
  auto in = sample_input();
  in.nodes[1].last_error = "pilot ended abnormally (exit code 7)";
  in.merge_errors["HITS.2"] = "exit code 65: ERROR no space left";
  auto o = status_json(in);
  BOOST_TEST(o.at("nodes").as_array()[1].at("last_error").as_string() == "pilot ended abnormally (exit code 7)");
  const auto& errors = o.at("merges").at("errors").as_array();
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0].at("output").as_string() == "HITS.2");
  BOOST_TEST(errors[0].at("last_error").as_string() == "exit code 65: ERROR no space left");
}

BOOST_AUTO_TEST_CASE(status_json_unknowns_are_null) {
  auto in = sample_input();
  in.walltime_deadline.reset();
  in.events_per_s_last_minute = in.events_per_s_since_start = 0;
  in.state = "waiting for job";
  auto o = status_json(in);
  BOOST_TEST(o.at("walltime_left_s").is_null());
  BOOST_TEST(o.at("eta_s").is_null());
  BOOST_TEST(o.at("state").as_string() == "waiting for job");
}

BOOST_AUTO_TEST_CASE(state_eta_and_walltime) {
  auto in = sample_input();
  in.engine.draining = true;
  BOOST_TEST(run_state(in) == "draining");
  in.state = "finishing";
  BOOST_TEST(run_state(in) == "finishing");

  in.events_per_s_last_minute = 0;  // the last minute saw nothing: the overall rate stands in
  BOOST_TEST(eta_seconds(in).value() == 58);
  in.engine.ranges.finished = 198;  // all done: ETA 0 whatever the rate
  in.events_per_s_since_start = 0;
  BOOST_TEST(eta_seconds(in).value() == 0);
  in.engine.ranges.finished = 100;
  BOOST_TEST(!eta_seconds(in).has_value());

  in.walltime_deadline = in.now - 10s;  // past the kill time: 0, never negative
  BOOST_TEST(walltime_left_seconds(in).value() == 0);
}

BOOST_AUTO_TEST_CASE(node_report_from_engine_node) {
  node_info n;
  n.node_id = "node-3";
  n.host = "wn3";
  n.pilot_state = "running";
  n.ranges_served = 9;
  n.ranges_finished = 7;
  auto r = make_node_report(n, 2, 4.0, false);
  BOOST_TEST(r.node_id == "node-3");
  BOOST_TEST(r.host == "wn3");
  BOOST_TEST(r.state == "running");
  BOOST_TEST(r.pilot_state == "running");
  BOOST_TEST(r.ranges_held == 2u);
  BOOST_TEST(r.ranges_served == 9u);
  BOOST_TEST(r.ranges_finished == 7u);
  BOOST_TEST(r.heartbeat_age_s.value() == 4.0);
  BOOST_TEST(!r.worker_node.has_value());
  n.worker_node = rty::protocol::worker_node{"wn3.site", "cpu", 64, 256000, 900};
  BOOST_TEST(make_node_report(n, 2, 4.0, false).worker_node->memory_mb.value() == 256000);
  BOOST_TEST(make_node_report(n, 0, std::nullopt, true).state == "draining");
  n.pilot_ended = true;
  BOOST_TEST(make_node_report(n, 0, std::nullopt, true).state == "pilot ended");
}

BOOST_AUTO_TEST_CASE(rate_meter_slides_over_the_last_minute) {
  using clock = rate_meter::clock;
  rate_meter m;
  auto t0 = clock::time_point(1000s);
  m.start(t0, 500);  // resumed run: 500 done before
  BOOST_TEST(m.window_rate() == 0);
  BOOST_TEST(m.overall_rate() == 0);
  // 10/s for a minute, then 20/s for a minute, sampled every second.
  std::uint64_t done = 500;
  for (int s = 1; s <= 120; ++s) {
    done += s <= 60 ? 10 : 20;
    m.sample(t0 + std::chrono::seconds(s), done);
  }
  BOOST_TEST(m.window_rate() == 20);
  BOOST_TEST(m.overall_rate() == 15);
  // Samples closer than the resolution replace each other: the window still spans a minute.
  for (int i = 1; i <= 500; ++i) m.sample(t0 + 120s + std::chrono::milliseconds(i), done);
  BOOST_TEST(m.window_rate() == 1200.0 / 60.5, boost::test_tools::tolerance(1e-9));
}

BOOST_AUTO_TEST_CASE(rate_meter_young_run_and_no_start) {
  using clock = rate_meter::clock;
  rate_meter m;
  m.sample(clock::time_point(10s), 0);  // the first sample is the start
  m.sample(clock::time_point(20s), 50);
  BOOST_TEST(m.window_rate() == 5);  // shorter than the window: over what there is
  BOOST_TEST(m.overall_rate() == 5);
}

// --- HTTP ------------------------------------------------------------------------------------------

namespace {
struct parsed_response {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;
};
parsed_response parse_response(const std::string& bytes) {
  parsed_response r;
  auto end = bytes.find("\r\n\r\n");
  BOOST_REQUIRE(end != std::string::npos);
  std::istringstream head(bytes.substr(0, end + 2));
  std::string line;
  std::getline(head, line);
  BOOST_REQUIRE(line.rfind("HTTP/1.0 ", 0) == 0);
  r.status = std::stoi(line.substr(9, 3));
  while (std::getline(head, line)) {
    BOOST_REQUIRE(!line.empty() && line.back() == '\r');
    auto colon = line.find(": ");
    r.headers[line.substr(0, colon)] = line.substr(colon + 2, line.size() - colon - 3);
  }
  r.body = bytes.substr(end + 4);
  return r;
}
}  // namespace

BOOST_AUTO_TEST_CASE(http_status_and_metrics) {
  auto in = sample_input();
  auto r = parse_response(answer_http_request("GET /status HTTP/1.1\r\nHost: x\r\n\r\n", in));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.headers["Content-Type"] == "application/json");
  BOOST_TEST(r.headers["Connection"] == "close");
  BOOST_TEST(std::stoul(r.headers["Content-Length"]) == r.body.size());
  BOOST_TEST(boost::json::parse(r.body).at("job").at("id").as_string() == "6000000001");

  r = parse_response(answer_http_request("GET /metrics HTTP/1.0\r\n\r\n", in));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.headers["Content-Type"] == std::string(metrics_content_type));
  BOOST_TEST(r.body == metrics_text(in));

  r = parse_response(answer_http_request("GET /status?pretty=1 HTTP/1.1\r\n\r\n", in));
  BOOST_TEST(r.status == 200);
  r = parse_response(answer_http_request("GET / HTTP/1.1\n\n", in));  // bare LF line ends too
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.find("/metrics") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(http_head_has_length_but_no_body) {
  auto in = sample_input();
  auto r = parse_response(answer_http_request("HEAD /status HTTP/1.1\r\n\r\n", in));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body.empty());
  BOOST_TEST(std::stoul(r.headers["Content-Length"]) == boost::json::serialize(status_json(in)).size() + 1);
}

BOOST_AUTO_TEST_CASE(http_errors) {
  auto in = sample_input();
  auto r = parse_response(answer_http_request("GET /nope HTTP/1.1\r\n\r\n", in));
  BOOST_TEST(r.status == 404);
  BOOST_TEST(r.body.find("/nope") != std::string::npos);
  r = parse_response(answer_http_request("POST /status HTTP/1.1\r\nContent-Length: 0\r\n\r\n", in));
  BOOST_TEST(r.status == 405);
  BOOST_TEST(r.headers["Allow"] == "GET, HEAD");
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET status HTTP/1.1\r\n\r\n", "GET /status FTP/1\r\n\r\n",
                          "G(T /status HTTP/1.1\r\n\r\n", ""}) {
    r = parse_response(answer_http_request(bad, in));
    BOOST_TEST(r.status == 400, "request '" << bad << "'");
  }
  std::string huge(max_request_head, 'A');
  BOOST_TEST(parse_response(answer_http_request(huge, in)).status == 431);
  BOOST_TEST(parse_response(answer_http_request("GET /status HTTP/1.1\r\nX: " + huge, in)).status == 431);
}

BOOST_AUTO_TEST_CASE(request_head_completion) {
  BOOST_TEST(!request_head_complete("GET /status HTTP/1.1\r\nHost: x\r\n"));
  BOOST_TEST(request_head_complete("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"));
  BOOST_TEST(request_head_complete("GET /status HTTP/1.0\n\n"));
}

BOOST_AUTO_TEST_CASE(status_url_names_a_host_the_login_node_can_reach) {
  // A specific listen address is what the login node connects to.
  BOOST_TEST(status_url_for("127.0.0.1", 8090, "nid001") == "http://127.0.0.1:8090");
  BOOST_TEST(status_url_for("10.1.2.3", 8090, "nid001") == "http://10.1.2.3:8090");
  BOOST_TEST(status_url_for("fd00::7", 8090, "nid001") == "http://[fd00::7]:8090");
  // A wildcard is not an address anyone can connect to from elsewhere: this host's name is.
  BOOST_TEST(status_url_for("0.0.0.0", 8090, "nid001.cluster.example") == "http://nid001.cluster.example:8090");
  BOOST_TEST(status_url_for("::", 8090, "nid001") == "http://nid001:8090");
  // A name that does not belong in a URL (or none) falls back to loopback, which works on this host.
  BOOST_TEST(status_url_for("0.0.0.0", 8090, "") == "http://127.0.0.1:8090");
  BOOST_TEST(status_url_for("0.0.0.0", 8090, "evil/host:1@x") == "http://127.0.0.1:8090");
  BOOST_TEST(status_url_for("::", 8090, "-rf") == "http://[::1]:8090");
  BOOST_TEST(status_url_for("0.0.0.0", 8090, std::string(300, 'a')) == "http://127.0.0.1:8090");
  // What is written is what `raythenad status` reads back.
  for (auto url : {status_url_for("0.0.0.0", 8090, "nid001"), status_url_for("fd00::7", 1, "x")}) {
    auto parsed = tools::parse_http_url(url);
    BOOST_TEST_REQUIRE(parsed.has_value(), parsed.error().message());
  }
  BOOST_TEST(tools::parse_http_url(status_url_for("0.0.0.0", 8090, "nid001"))->host == "nid001");
  BOOST_TEST(tools::parse_http_url(status_url_for("fd00::7", 1, "x"))->host == "fd00::7");
}

}  // namespace rty::coordinator
