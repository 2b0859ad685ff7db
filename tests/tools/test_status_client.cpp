// `raythenad status` against a tiny HTTP server on 127.0.0.1 in this test, serving a canned status.
#define BOOST_TEST_MODULE tools
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "tools/status_client.hpp"
#include "coordinator/status_report.hpp"

namespace rty::tools {
using namespace rty::coordinator;
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// Answers every connection with `response` (or, when silent, never answers), recording request heads.
class test_server {
 public:
  explicit test_server(std::string response, bool silent = false) : response_(std::move(response)), silent_(silent) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~test_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(head);
      }
      if (silent_) {
        while (!stop_ && ::recv(c, buf, sizeof buf, MSG_DONTWAIT) != 0) std::this_thread::sleep_for(10ms);
      } else {
        (void)!::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::string response_;
  bool silent_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

struct temp_workdir {
  fs::path path;
  temp_workdir() {
    char tmpl[] = "/tmp/rty-status-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
  }
  ~temp_workdir() { fs::remove_all(path); }
  void write_url(const std::string& line) const { std::ofstream(path / "status.url") << line << "\n"; }
};

status_input canned_input() {
  status_input in;
  in.version = "0.9.0";
  in.job_id = "6000000001";
  in.task_id = "40000001";
  in.engine.ranges = {.total = 200, .ready = 50, .leased = 8, .finished = 140, .failed = 2, .merged_events = 125,
                      .failed_events = 2, .merges_pending = 0, .merges_done = 0, .merges_failed = 0, .groups_failed = 0};
  in.engine.nodes_connected = 2;
  in.engine.merges_running = 2;
  in.engine.merges_pending = 1;
  in.engine.merges_done = 5;
  in.engine.merges_failed = 0;
  in.engine.requests_waiting = 0;
  in.events_per_s_last_minute = 12.5;
  in.events_per_s_since_start = 10.25;
  in.started = std::chrono::system_clock::time_point(1'700'000'000s);
  in.now = in.started + 725s;
  in.walltime_deadline = in.now + 6600s;
  in.nodes.push_back(node_report{.node_id = "nid001", .host = "nid001.cluster", .state = "running",
                                 .pilot_state = "running", .heartbeat_age_s = 2.2, .ranges_held = 4,
                                 .ranges_served = 100, .ranges_finished = 96, .last_error = {},
                                 .worker_node = rty::protocol::worker_node{"nid001", "AMD EPYC", 128, 257000, 900}});
  in.nodes.push_back(node_report{.node_id = "nid002", .host = "nid002.cluster", .state = "pilot ended",
                                 .pilot_state = "ended", .heartbeat_age_s = 15, .ranges_held = 0,
                                 .ranges_served = 1046, .ranges_finished = 1044,
                                 .last_error = "pilot ended abnormally (exit code 7)", .worker_node = std::nullopt});
  return in;
}

std::string canned_response() { return http_response_bytes(route_status_request("GET", "/status", canned_input())); }

struct run_result {
  int rc;
  std::string out, err;
};

run_result run(std::vector<std::string> args) {
  std::vector<const char*> argv{"status"};
  for (const auto& a : args) argv.push_back(a.c_str());
  std::ostringstream out, err;
  int rc = run_status_command(static_cast<int>(argv.size()), argv.data(), out, err);
  return {rc, out.str(), err.str()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

BOOST_AUTO_TEST_CASE(summary_of_a_running_coordinator) {
  test_server server(canned_response());
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.err == "");
  auto lines = lines_of(r.out);
  BOOST_REQUIRE(lines.size() == 10u);
  BOOST_TEST(lines[0] == "job 6000000001  task 40000001  state running  up 12m05s  raythenad 0.9.0");
  BOOST_TEST(lines[1] == "ranges  200 total: 50 ready, 8 leased, 140 finished, 2 failed (71% done)");
  BOOST_TEST(lines[2] == "rate    12.5 events/s last minute, 10.2 since start   ETA 5s   walltime left 1h50m");
  BOOST_TEST(lines[3] == "merges  2 running, 1 pending, 5 done, 0 failed   events merged 125, failed 2");
  BOOST_TEST(lines[4] == "nodes   2 connected, 0 range request(s) waiting");
  BOOST_TEST(lines[5] == "error   node nid002: pilot ended abnormally (exit code 7)");
  BOOST_TEST(lines[6] == "");
  // CPUS and MEMORY as pilot's update_worker_node reported them; "-" for a pilot that did not.
  BOOST_TEST(lines[7] == "NODE    HOST            CPUS     MEMORY  STATE        PILOT    HELD  SERVED  FINISHED  HEARTBEAT");
  BOOST_TEST(lines[8] == "nid001  nid001.cluster   128  257000 MB  running      running     4     100        96  2s ago");
  BOOST_TEST(lines[9] == "nid002  nid002.cluster     -          -  pilot ended  ended       0    1046      1044  15s ago");
  auto requests = server.requests();
  BOOST_REQUIRE(requests.size() == 1u);
  BOOST_TEST(requests[0].rfind("GET /status HTTP/1.0\r\n", 0) == 0);
}

BOOST_AUTO_TEST_CASE(json_prints_the_raw_status) {
  test_server server(canned_response());
  temp_workdir w;
  w.write_url(server.url() + "/");  // a trailing slash is fine
  auto r = run({"--workdir=" + w.path.string(), "--json"});
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(boost::json::parse(r.out) == boost::json::value(status_json(canned_input())));
}

BOOST_AUTO_TEST_CASE(watch_refreshes_count_times) {
  test_server server(canned_response());
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string(), "--watch", "--interval", "0", "--count", "3"});
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(server.requests().size() == 3u);
  std::size_t headers = 0, pos = 0;
  while ((pos = r.out.find("\nNODE ", pos)) != std::string::npos) ++headers, ++pos;
  BOOST_TEST(headers == 3u);
  BOOST_TEST(r.out.rfind("raythenad status  ", 0) == 0);  // each refresh is stamped
}

BOOST_AUTO_TEST_CASE(workdir_from_the_environment) {
  test_server server(canned_response());
  temp_workdir w;
  w.write_url(server.url());
  ::setenv("RAYTHENA_RAY_WORKDIR", w.path.c_str(), 1);
  auto r = run({"--json"});
  ::unsetenv("RAYTHENA_RAY_WORKDIR");
  BOOST_TEST(r.rc == 0, r.err);
}

BOOST_AUTO_TEST_CASE(no_status_url) {
  temp_workdir w;
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.out == "");
  BOOST_TEST(r.err == "raythenad status: no raythenad running with workdir " + w.path.string() + " (no status.url)\n");
}

BOOST_AUTO_TEST_CASE(stale_status_url) {
  // A port nobody listens on: bind one, note it, close it.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  std::string url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  temp_workdir w;
  w.write_url(url);
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err == "raythenad status: raythenad at " + url + " is not answering (stale " +
                          (w.path / "status.url").string() + "?)\n");
}

BOOST_AUTO_TEST_CASE(malformed_status_url) {
  temp_workdir w;
  w.write_url("127.0.0.1:8080");
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err.find((w.path / "status.url").string() + ": expected one line http://HOST:PORT") !=
             std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(http_error_answer) {
  test_server server(http_response_bytes(http_answer{.status = 404, .content_type = "text/plain", .body = "not here\n", .allow = {}}));
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err == "raythenad status: raythenad at " + server.url() + " answered HTTP 404: not here\n");
}

BOOST_AUTO_TEST_CASE(not_json_answer) {
  test_server server(http_response_bytes(http_answer{.status = 200, .content_type = "application/json", .body = "{oops", .allow = {}}));
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err.find(server.url() + "/status") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(not_http_answer) {
  test_server server("SSH-2.0-OpenSSH\r\n");
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err.find("not an HTTP response") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(unresponsive_coordinator_times_out) {
  test_server server("", true);
  temp_workdir w;
  w.write_url(server.url());
  auto r = run({"--workdir", w.path.string(), "--timeout", "0.2"});
  BOOST_TEST(r.rc == 1);
  BOOST_TEST(r.err.find("raythenad at " + server.url() + ": no complete answer within") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(usage_errors) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--bogus"}, {"--workdir"}, {"--count", "0"},
                                        {"--interval", "soon"}, {"--json=yes"}}) {
    auto r = run(args);
    BOOST_TEST(r.rc == 2, args[0]);
    BOOST_TEST(r.err.find("Usage: raythenad status") != std::string::npos);
  }
  auto help = run({"--help"});
  BOOST_TEST(help.rc == 0);
  BOOST_TEST(help.out.find("--watch") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(url_parsing) {
  auto u = parse_http_url("http://127.0.0.1:4242");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->host == "127.0.0.1");
  BOOST_TEST(u->port == "4242");
  u = parse_http_url("http://[::1]:99/");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->host == "::1");
  BOOST_TEST(u->port == "99");
  u = parse_http_url("http://gateway");
  BOOST_REQUIRE(u);
  BOOST_TEST(u->port == "80");
  for (const char* bad : {"https://x:1", "http://:80", "http://x:0", "http://x:70000", "http://x:1/status", "http://::1:80",
                          "http://[::1"}) {
    auto e = parse_http_url(bad);
    BOOST_TEST(!e, bad);
    BOOST_TEST(e.error().message().find(bad) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(durations) {
  BOOST_TEST(format_duration(0) == "0s");
  BOOST_TEST(format_duration(59.4) == "59s");
  BOOST_TEST(format_duration(725) == "12m05s");
  BOOST_TEST(format_duration(6600) == "1h50m");
  BOOST_TEST(format_duration(2 * 86400 + 4 * 3600 + 5) == "2d04h");
  BOOST_TEST(format_duration(-3) == "0s");
}

BOOST_AUTO_TEST_CASE(summary_tolerates_missing_fields) {
  auto text = format_status_summary(boost::json::object{{"state", "waiting for job"}});
  BOOST_TEST(text.find("job -  task -  state waiting for job") == 0u);
  BOOST_TEST(text.find("NODE") == std::string::npos);
}

// --- --jobid and --all --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(slurm_job_ids_are_checked_before_they_reach_scontrol) {
  BOOST_TEST(valid_slurm_job_id("123456"));
  BOOST_TEST(valid_slurm_job_id("123456_7"));
  for (auto bad : {"", "12x", "-1", "1;rm -rf /", "123_", "_7", "1_2_3", "123456789012345678901"})
    BOOST_TEST(!valid_slurm_job_id(bad), bad);
  auto r = run({"--jobid", "1;id"});
  BOOST_TEST(r.rc == 2);
  BOOST_TEST(r.err.find("--jobid: expected a Slurm job id") != std::string::npos);
  BOOST_TEST(run({"--jobid", "1", "--workdir", "/tmp"}).rc == 2);
  BOOST_TEST(run({"--all", "/tmp", "--watch"}).rc == 2);
}

BOOST_AUTO_TEST_CASE(workdir_candidates_from_scontrol_show_job) {
  // The layout of `scontrol show job` (Slurm 23): one key group per line, these keys on their own line.
  const std::string text =
      "JobId=4242 JobName=raythenad\n"
      "   UserId=atlas(1000) GroupId=atlas(1000) MCS_label=N/A\n"
      "   JobState=RUNNING Reason=None Dependency=(null)\n"
      "   RunTime=00:10:02 TimeLimit=12:00:00 TimeMin=N/A\n"
      "   Command=/harvester/ap/12/raythenad.sbatch\n"
      "   WorkDir=/harvester/ap/12 with blank/\n"
      "   StdErr=/harvester/logs/slurm-4242.out\n"
      "   StdIn=/dev/null\n"
      "   StdOut=/harvester/logs/slurm-4242.out\n";
  auto dirs = slurm_job_dirs(text);
  BOOST_TEST_REQUIRE(dirs.size() == 2u);
  BOOST_TEST(dirs[0] == "/harvester/ap/12 with blank");
  BOOST_TEST(dirs[1] == "/harvester/logs");
  // Same directory twice, relative or missing values: one candidate, or none.
  BOOST_TEST(slurm_job_dirs("   WorkDir=/a\n   StdOut=/a/slurm.out\n").size() == 1u);
  BOOST_TEST(slurm_job_dirs("   WorkDir=relative\n   StdOut=\n").empty());
  BOOST_TEST(slurm_job_dirs("   SomeWorkDir=/x\n").empty());
}

BOOST_AUTO_TEST_CASE(all_lists_running_ended_and_unreachable_runs) {
  test_server server(canned_response());
  temp_workdir base;
  fs::create_directories(base.path / "ap" / "running");
  std::ofstream(base.path / "ap" / "running" / "status.url") << server.url() << "\n";
  // An ended run: its task directory with a checkpoint.
  fs::create_directories(base.path / "tasks" / "40000002");
  std::ofstream(base.path / "tasks" / "40000002" / "state.json")
      << R"({"simulated":{},"merging":{},"merged":{"IN.1":{"OUT.1":{"path":"/o/OUT.1","guid":"G"}}},"failed":{}})";
  // A workdir pointing at that same task: listed once.
  fs::create_directories(base.path / "ap" / "ended");
  std::ofstream(base.path / "ap" / "ended" / "task_workdir_path.txt") << (base.path / "tasks" / "40000002").string();
  // A stale status.url: a port nobody listens on.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  fs::create_directories(base.path / "ap" / "stale");
  std::ofstream(base.path / "ap" / "stale" / "status.url") << "http://127.0.0.1:" << ntohs(a.sin_port) << "\n";
  fs::create_directories(base.path / "unrelated" / "deep");

  auto r = run({"--all", base.path.string()});
  BOOST_TEST(r.rc == 0, r.err);
  auto lines = lines_of(r.out);
  BOOST_TEST_REQUIRE(lines.size() == 4u, r.out);
  BOOST_TEST(lines[0].starts_with("JOB"));
  auto line_with = [&](const std::string& part) {
    return std::count_if(lines.begin(), lines.end(), [&](auto& l) { return l.find(part) != std::string::npos; });
  };
  BOOST_TEST(lines[0].starts_with("JOB         TASK      STATE"), lines[0]);
  BOOST_TEST(line_with("6000000001  40000001  running") == 1);  // PandaID and task id from /status
  BOOST_TEST(line_with("142/200 ranges (71%), ETA 5s") == 1);
  BOOST_TEST(line_with("-           40000002  finished") == 1);  // an ended run: no PandaID, the task dir's name
  BOOST_TEST(line_with("finished") == 1);
  BOOST_TEST(line_with("1 output(s) final") == 1);
  BOOST_TEST(line_with("unreachable") == 1);

  temp_workdir empty;
  auto none = run({"--all", empty.path.string()});
  BOOST_TEST(none.rc == 1);
  BOOST_TEST(none.err.find("no run under " + empty.path.string()) != std::string::npos);
  BOOST_TEST(run({"--all", (empty.path / "missing").string()}).rc == 1);
}

BOOST_AUTO_TEST_CASE(jobid_finds_a_run_recorded_in_the_registry) {
  // A hand-submitted job: scontrol's WorkDir and StdOut say /nonexistent, the registry knows the workdir.
  test_server server(canned_response());
  temp_workdir state, run_dir, bin;
  std::ofstream(run_dir.path / "status.url") << server.url() << "\n";
  BOOST_REQUIRE(rty::registry::record_run((state.path / "raythenad/jobs").string(), "4242", run_dir.path.string()));
  auto scontrol = bin.path / "scontrol";
  std::ofstream(scontrol) << "#!/bin/sh\nprintf '   WorkDir=/nonexistent\\n   StdOut=/nonexistent/slurm.out\\n'\n";
  fs::permissions(scontrol, fs::perms::owner_all);
  std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin";
  const char* old_state = std::getenv("XDG_STATE_HOME");
  std::string saved_state = old_state ? old_state : "";
  ::setenv("PATH", (bin.path.string() + ":" + old_path).c_str(), 1);
  ::setenv("XDG_STATE_HOME", state.path.c_str(), 1);
  auto found = run({"--jobid", "4242"});
  auto missing = run({"--jobid", "4243"});
  ::setenv("PATH", old_path.c_str(), 1);
  if (old_state) ::setenv("XDG_STATE_HOME", saved_state.c_str(), 1); else ::unsetenv("XDG_STATE_HOME");
  BOOST_TEST(found.rc == 0, found.err);
  BOOST_TEST(found.out.find("6000000001") != std::string::npos, found.out);
  BOOST_TEST(missing.rc == 1);
  BOOST_TEST(missing.err.find("its recorded workdir") != std::string::npos, missing.err);
}

BOOST_AUTO_TEST_CASE(this_hosts_name_falls_back_to_loopback) {
  // status.url of an endpoint on 0.0.0.0 names the host; on that host, loopback reaches the endpoint
  // even where the name does not resolve (or resolves to another interface).
  test_server server(canned_response());
  char self[256] = {};
  BOOST_REQUIRE(::gethostname(self, sizeof self - 1) == 0);
  temp_workdir w;
  w.write_url("http://" + std::string(self) + server.url().substr(server.url().rfind(':')));
  auto r = run({"--workdir", w.path.string()});
  BOOST_TEST(r.rc == 0, r.err);
  BOOST_TEST(r.out.starts_with("job 6000000001"));
}

}  // namespace rty::tools
