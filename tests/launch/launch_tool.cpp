// rty_launch_tool: drives one launcher from a test script.
//
//   rty_launch_tool [--wait SECONDS] [--stdin] [--children] [JSON]
//
// JSON (argument, or the first line of stdin when absent) is a launch request:
//   {"launcher": "ssh|srun|local|auto", "stub_executable": "...", "coordinator": "h:p", "secret": "...",
//    "secret_file": "...", "log_dir": "...", "nodes": 1, "debug": false, "include_batch_node": false,
//    "ssh_hosts": ["user@host:port"], "ssh_key": "...", "ssh_known_hosts": "...", "ssh_accept_new": false,
//    "log_level": "info"}
// It launches, prints {"phase":"launched",...} on one stdout line, waits up to --wait seconds (ending
// early when stdin reaches EOF with --stdin, or when every started process has ended with --children),
// calls stop_all() and prints {"phase":"stopped",...}. The log goes to stderr.
// Exit code 0 when the launch had no failures, 1 when it had, 2 on a bad request.
#include <poll.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "launch/launcher.hpp"

namespace {

using namespace rty;
namespace bj = boost::json;

bj::object result_json(const launch::launch_result& r) {
  bj::object o;
  bj::array procs;
  for (const auto& p : r.processes) {
    bj::array ids;
    for (const auto& id : p.node_ids) ids.emplace_back(id);
    procs.emplace_back(bj::object{{"pid", p.pid}, {"what", p.what}, {"node_ids", ids}, {"log_path", p.log_path}});
  }
  bj::array failures;
  for (const auto& f : r.failures) failures.emplace_back(f);
  o["processes"] = procs;
  o["failures"] = failures;
  o["expected_nodes"] = r.expected_nodes;
  return o;
}

std::optional<launch::launch_request> parse_request(const bj::object& o, std::string& launcher, std::string& error) {
  launch::launch_request r;
  auto str = [&](const char* key, std::string& out) {
    if (auto v = json::get_string(o, key)) out = *v;
  };
  auto flag = [&](const char* key, bool& out) {
    if (auto* v = o.if_contains(key)) {
      if (!v->is_bool()) {
        error = std::string("request key '") + key + "': expected true or false";
        return;
      }
      out = v->as_bool();
    }
  };
  launcher = "auto";
  str("launcher", launcher);
  str("stub_executable", r.stub_executable);
  str("coordinator", r.coordinator);
  str("secret", r.secret);
  str("secret_file", r.secret_file);
  str("log_dir", r.log_dir);
  str("ssh_key", r.ssh_key);
  str("ssh_known_hosts", r.ssh_known_hosts);
  if (auto n = json::get_int(o, "nodes")) r.nodes = static_cast<int>(*n);
  flag("debug", r.debug);
  flag("include_batch_node", r.include_batch_node);
  flag("ssh_accept_new", r.ssh_accept_new);
  if (auto* v = o.if_contains("ssh_hosts")) {
    if (!v->is_array()) {
      error = "request key 'ssh_hosts': expected an array of strings";
      return std::nullopt;
    }
    for (const auto& h : v->as_array()) {
      if (!h.is_string()) {
        error = "request key 'ssh_hosts': expected an array of strings";
        return std::nullopt;
      }
      r.ssh_hosts.emplace_back(h.as_string());
    }
  }
  if (!error.empty()) return std::nullopt;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  double wait_seconds = 0;
  bool until_stdin_eof = false, until_children_end = false;
  std::string text;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--wait" && i + 1 < argc) {
      wait_seconds = std::atof(argv[++i]);
    } else if (a == "--stdin") {
      until_stdin_eof = true;
    } else if (a == "--children") {
      until_children_end = true;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      std::cerr << "rty_launch_tool: unknown option " << a << "\n";
      return 2;
    } else {
      text = a;
    }
  }
  if (text.empty() || text == "-") std::getline(std::cin, text);

  auto value = json::parse(text, "launch request");
  if (!value || !value->is_object()) {
    std::cerr << "rty_launch_tool: " << (value ? "launch request: expected a JSON object" : value.error().message())
              << "\n";
    return 2;
  }
  const auto& obj = value->as_object();
  log::set_level(log::level::info);  // the scripts look for forwarded stub output, logged at info
  if (auto lvl = json::get_string(obj, "log_level")) {
    log::level l;
    if (log::parse_level(*lvl, l)) log::set_level(l);
  }
  std::string launcher_name, error;
  auto request = parse_request(obj, launcher_name, error);
  if (!request) {
    std::cerr << "rty_launch_tool: " << error << "\n";
    return 2;
  }
  auto kind = launch::parse_launcher_kind(launcher_name.empty() ? "auto" : launcher_name);
  if (!kind) {
    std::cerr << "rty_launch_tool: unknown launcher '" << launcher_name << "' (expected auto, local, srun or ssh)\n";
    return 2;
  }
  auto l = launch::make_launcher(*kind);

  auto result = l->launch(*request);
  auto launched = result_json(result);
  launched["phase"] = "launched";
  launched["launcher"] = l->name();
  launched["remote_alive"] = l->remote_alive();
  std::cout << bj::serialize(launched) << std::endl;

  // Wait, watching the local children so that their exit statuses can be reported.
  std::map<pid_t, std::string> exits;
  auto all_ended = [&] {
    for (const auto& p : result.processes)
      if (p.pid > 0 && !exits.count(p.pid)) return false;
    return l->remote_alive() == 0;
  };
  auto reap = [&] {
    for (const auto& p : result.processes)
      if (p.pid > 0 && !exits.count(p.pid))
        if (auto st = process::try_reap(p.pid)) exits[p.pid] = process::describe(*st);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    reap();
    if (until_children_end && all_ended()) break;
    if (until_stdin_eof) {
      pollfd p{0, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buf[256];
        if (::read(0, buf, sizeof buf) <= 0) break;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  int alive_before_stop = l->remote_alive();
  l->stop_all();
  // Local children get SIGTERM from stop_all; give them a bounded moment to go.
  for (int i = 0; i < 50; ++i) {
    reap();
    bool all = true;
    for (const auto& p : result.processes)
      if (p.pid > 0 && !exits.count(p.pid)) all = false;
    if (all) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  bj::object stopped = result_json(result);
  stopped["phase"] = "stopped";
  stopped["remote_alive_before_stop"] = alive_before_stop;
  stopped["remote_alive"] = l->remote_alive();
  bj::object ex;
  for (const auto& [pid, what] : exits) ex[std::to_string(pid)] = what;
  stopped["exits"] = ex;
  std::cout << bj::serialize(stopped) << std::endl;
  return result.failures.empty() ? 0 : 1;
}
