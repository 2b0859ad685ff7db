#include "merge/merge_scheduler.hpp"

#include <algorithm>

namespace rty::merge {

merge_scheduler::merge_scheduler(int max_processes, int max_retries)
    : max_processes_(std::max(1, max_processes)), max_retries_(std::max(0, max_retries)) {}

bool merge_scheduler::add(rty::merge_task task) {
  if (!seen_.insert(task.output_name).second) return false;
  pending_.push_back(entry{std::move(task), 0});
  return true;
}

std::optional<std::pair<rty::merge_task, int>> merge_scheduler::next_to_start() {
  if (pending_.empty() || running_.size() >= static_cast<std::size_t>(max_processes_)) return std::nullopt;
  entry e = std::move(pending_.front());
  pending_.pop_front();
  ++e.attempts;
  std::pair<rty::merge_task, int> result{e.task, e.attempts};
  std::string name = e.task.output_name;
  running_.emplace(std::move(name), std::move(e));
  return result;
}

merge_scheduler::outcome merge_scheduler::finished(const std::string& output_name, bool ok, rty::merge_task* task) {
  auto it = running_.find(output_name);
  if (it == running_.end()) return outcome::unknown;
  entry e = std::move(it->second);
  running_.erase(it);
  if (ok) {
    ++done_;
    if (task) *task = std::move(e.task);
    return outcome::succeeded;
  }
  if (e.attempts <= max_retries_) {
    pending_.push_back(std::move(e));
    return outcome::retry;
  }
  failed_tasks_.push_back(std::move(e.task));
  return outcome::failed;
}

}  // namespace rty::merge
