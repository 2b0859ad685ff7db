// Merge and stub child processes (children.hpp).
#include "coordinator/children.hpp"

#include <signal.h>

#include "common/log.hpp"

namespace rty::coordinator {
namespace {
constexpr const char* log_name = "Driver";
}

bool prepare_merge_dir(const merge::merge_command& command) {
  if (auto prepared = merge::prepare_work_dir(command); !prepared) {
    RTY_LOG(error, log_name) << "merge " << command.output_name << ": cannot prepare " << command.work_dir << ": "
                             << prepared.error();
    return false;
  }
  return true;
}

bool child_processes::start_merge(const merge::merge_command& command) {
  if (!prepare_merge_dir(command)) return false;
  auto pid = process::spawn(merge::merge_spawn_options(command.argv, command.work_dir, command.log_path));
  if (!pid) {
    RTY_LOG(error, log_name) << "merge " << command.output_name << ": " << pid.error();
    return false;
  }
  merges_[*pid] = command.output_name;
  return true;
}

void child_processes::add_stub(const launch::started& stub) {
  if (stub.pid > 0) stubs_[stub.pid] = stub;
}

bool child_processes::add_launched(const launch::launch_result& result) {
  for (auto& f : result.failures) RTY_LOG(error, log_name) << "launch: " << f;
  for (auto& p : result.processes) {
    RTY_LOG(info, log_name) << "started " << p.what << (p.pid > 0 ? " (pid " + std::to_string(p.pid) + ")" : "")
                            << ", log " << p.log_path;
    add_stub(p);
  }
  return !result.processes.empty();
}

std::vector<merge_exit> child_processes::reap() {
  std::vector<merge_exit> exits;
  for (auto it = merges_.begin(); it != merges_.end();) {
    auto status = process::try_reap(it->first);
    if (!status) {
      ++it;
      continue;
    }
    exits.push_back({it->second, *status});
    it = merges_.erase(it);
  }
  for (auto it = stubs_.begin(); it != stubs_.end();) {
    auto status = process::try_reap(it->first);
    if (!status) {
      ++it;
      continue;
    }
    if (status->exited_normally() && status->code == 0)
      RTY_LOG(info, log_name) << it->second.what << " exited";
    else
      RTY_LOG(error, log_name) << it->second.what << " ended: " << process::describe(*status) << " (log "
                               << it->second.log_path << ")";
    it = stubs_.erase(it);
  }
  return exits;
}

void child_processes::reap_quietly() {
  for (auto it = stubs_.begin(); it != stubs_.end();) it = process::try_reap(it->first) ? stubs_.erase(it) : std::next(it);
  for (auto it = merges_.begin(); it != merges_.end();)
    it = process::try_reap(it->first) ? merges_.erase(it) : std::next(it);
}

void child_processes::signal_merges(int sig) {
  for (auto& [pid, output] : merges_) process::signal_group(pid, sig);
}

void child_processes::signal_all(int sig) {
  for (auto& [pid, stub] : stubs_) process::signal_group(pid, sig);
  signal_merges(sig);
}

wind_down_action wind_down_round(int round, bool children_left, std::chrono::seconds pilot_wind_down) {
  const int extra = 10 * static_cast<int>(pilot_wind_down.count());
  if (!children_left || round >= 100 + extra) return wind_down_action::kill_and_finish;
  if (round == 50 + extra) return wind_down_action::terminate;  // 5 s after the pilots' wind-down
  return wind_down_action::wait;
}

}  // namespace rty::coordinator
