#include "merge/merge_scheduler.hpp"

#include <algorithm>
#include <string_view>

namespace rty::merge {

std::optional<std::string> site_fault(int exit_code, const std::string& log_tail) {
  // The last line that shows it, for the operator; shells word it "sh: 1: x: not found",
  // "bash: x: command not found", "/bin/bash: line 1: /cvmfs/...: No such file or directory".
  std::string found;
  std::size_t start = 0;
  while (start <= log_tail.size()) {
    auto end = log_tail.find('\n', start);
    if (end == std::string::npos) end = log_tail.size();
    std::string_view line(log_tail.data() + start, end - start);
    const bool shell = line.find("sh: ") != std::string_view::npos || line.rfind("sh:", 0) == 0;
    if (line.find("command not found") != std::string_view::npos ||
        (shell && (line.find("No such file or directory") != std::string_view::npos ||
                   line.find(": not found") != std::string_view::npos ||
                   line.find("Permission denied") != std::string_view::npos)))
      found = std::string(line);
    start = end + 1;
  }
  if (!found.empty()) return found;
  if (exit_code == 127) return std::string("exit 127: a command was not found");
  if (exit_code == 126) return std::string("exit 126: a command could not be executed");
  return std::nullopt;
}

merge_scheduler::merge_scheduler(int max_processes, int max_retries, clock::duration retry_delay)
    : max_processes_(std::max(1, max_processes)), max_retries_(std::max(0, max_retries)),
      retry_delay_(std::max<clock::duration>(clock::duration::zero(), retry_delay)) {}

merge_scheduler::clock::duration merge_scheduler::backoff(int failures) const {
  if (failures <= 1) return retry_delay_;
  return std::min<clock::duration>(6 * retry_delay_, std::chrono::seconds(60));
}

std::optional<merge_scheduler::clock::time_point> merge_scheduler::next_due() const {
  std::optional<clock::time_point> due;
  for (const auto& e : pending_)
    if (e.attempts > e.lost && (!due || e.not_before < *due)) due = e.not_before;
  return due;
}

void merge_scheduler::give_back(const std::string& output_name) {
  auto it = running_.find(output_name);
  if (it == running_.end()) return;
  entry e = std::move(it->second);
  running_.erase(it);
  --e.attempts;
  e.not_before = {};
  pending_.push_front(std::move(e));
}

void merge_scheduler::requeue_lost(const std::string& output_name) {
  auto it = running_.find(output_name);
  if (it == running_.end()) return;
  entry e = std::move(it->second);
  running_.erase(it);
  ++e.lost;
  e.not_before = {};
  pending_.push_front(std::move(e));
}

bool merge_scheduler::add(rty::merge_task task) {
  if (!seen_.insert(task.output_name).second) return false;
  pending_.push_back(entry{std::move(task), 0});
  return true;
}

std::optional<std::pair<rty::merge_task, int>> merge_scheduler::next_to_start(clock::time_point now) {
  if (pending_.empty() || running_.size() >= static_cast<std::size_t>(max_processes_)) return std::nullopt;
  auto due = std::find_if(pending_.begin(), pending_.end(), [&](const entry& e) { return e.not_before <= now; });
  if (due == pending_.end()) return std::nullopt;
  entry e = std::move(*due);
  pending_.erase(due);
  ++e.attempts;
  std::pair<rty::merge_task, int> result{e.task, e.attempts};
  std::string name = e.task.output_name;
  running_.emplace(std::move(name), std::move(e));
  return result;
}

merge_scheduler::outcome merge_scheduler::finished(const std::string& output_name, bool ok, rty::merge_task* task,
                                                   clock::time_point now) {
  auto it = running_.find(output_name);
  if (it == running_.end()) return outcome::unknown;
  entry e = std::move(it->second);
  running_.erase(it);
  if (ok) {
    ++done_;
    if (task) *task = std::move(e.task);
    return outcome::succeeded;
  }
  const int failures = e.attempts - e.lost;
  if (failures <= max_retries_) {
    e.not_before = now + backoff(failures);
    pending_.push_back(std::move(e));
    return outcome::retry;
  }
  failed_tasks_.push_back(std::move(e.task));
  return outcome::failed;
}

}  // namespace rty::merge
