#pragma once
// Which merge to start next, sans-I/O. The coordinator adds tasks as the bookkeeper makes them ready,
// asks next_to_start() whenever a process slot may be free (after add, after finished), and reports
// every exit with finished(). At most max_processes run at once; a failed merge goes back to the end
// of the queue until it has failed 1 + max_retries times, then it is failed for good.
#include <cstddef>
#include <deque>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/merge_task.hpp"

namespace rty::merge {

class merge_scheduler {
 public:
  explicit merge_scheduler(int max_processes, int max_retries = 2);

  // Queues a task. False (and nothing changes) when a task with that output_name is already pending,
  // running, done or failed: the bookkeeper may announce a ready merge more than once.
  bool add(rty::merge_task task);

  // The next task to start and its attempt number (1-based), now counted as running; nullopt when
  // the cap is reached or nothing is pending.
  std::optional<std::pair<rty::merge_task, int>> next_to_start();

  enum class outcome { succeeded, retry, failed, unknown /* not running: ignored */ };
  // On success, `task` (if given) receives the task, moved out (the scheduler is done with it); a failed
  // one stays for the retry or in failed_tasks(). So a caller need not keep its own copy while the
  // merge runs, which for a group of 10^5 ranges is megabytes.
  outcome finished(const std::string& output_name, bool ok, rty::merge_task* task = nullptr);

  std::size_t running() const { return running_.size(); }
  std::size_t pending() const { return pending_.size(); }
  std::size_t done() const { return done_; }
  std::size_t failed() const { return failed_tasks_.size(); }
  bool idle() const { return pending_.empty() && running_.empty(); }

  // Tasks that used up their retries, in the order they failed (their input files are the failed ones).
  const std::vector<rty::merge_task>& failed_tasks() const { return failed_tasks_; }
  int max_processes() const { return max_processes_; }

 private:
  struct entry {
    rty::merge_task task;
    int attempts = 0;  // started so far
  };
  int max_processes_;
  int max_retries_;
  std::deque<entry> pending_;
  std::map<std::string, entry> running_;
  std::set<std::string> seen_;  // every output name ever added
  std::size_t done_ = 0;
  std::vector<rty::merge_task> failed_tasks_;
};

}  // namespace rty::merge
