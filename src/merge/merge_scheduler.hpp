#pragma once
// Which merge to start next, sans-I/O. The coordinator adds tasks as the bookkeeper makes them ready,
// asks next_to_start() whenever a process slot may be free (after add, after finished), and reports
// every exit with finished(). At most max_processes run at once; a failed merge goes back to the end
// of the queue until it has failed 1 + max_retries times, then it is failed for good. Retries back off:
// the first after `retry_delay`, later ones after min(6 x retry_delay, 60 s) (a transient fault of
// the filesystem or the release area gets time to pass; five milliseconds did not).
//
// classify_failure() tells a failure that is the site's (the command or its setup script cannot be
// found or run: exit 126/127, "command not found", a shell's "No such file or directory") from one
// that may be the data's. The first must not fail groups: the coordinator holds the merges and drains
// the run (exit 3, resumable once the site is fixed) with one clear line.
#include <chrono>
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

// Why a merge failed, from its exit code and the tail of its log: the site's fault, with the line that
// shows it, or nullopt (it may be the data's; retried, then failed for good).
std::optional<std::string> site_fault(int exit_code, const std::string& log_tail);

class merge_scheduler {
 public:
  using clock = std::chrono::steady_clock;
  explicit merge_scheduler(int max_processes, int max_retries = 2, clock::duration retry_delay = {});

  // Queues a task. False (and nothing changes) when a task with that output_name is already pending,
  // running, done or failed: the bookkeeper may announce a ready merge more than once.
  bool add(rty::merge_task task);

  // The next task to start and its attempt number (1-based), now counted as running; nullopt when
  // the cap is reached or nothing is pending.
  // A retry is not started before its backoff is over at `now`.
  std::optional<std::pair<rty::merge_task, int>> next_to_start(clock::time_point now = {});
  // When the next pending retry becomes due (nullopt: none waits).
  std::optional<clock::time_point> next_due() const;

  enum class outcome { succeeded, retry, failed, unknown /* not running: ignored */ };
  // On success, `task` (if given) receives the task, moved out (the scheduler is done with it); a failed
  // one stays for the retry or in failed_tasks(). So a caller need not keep its own copy while the
  // merge runs, which for a group of 10^5 ranges is megabytes.
  outcome finished(const std::string& output_name, bool ok, rty::merge_task* task = nullptr,
                   clock::time_point now = {});
  // How long a merge waits before its next attempt after `failures` failed ones.
  clock::duration backoff(int failures) const;
  // A running merge that failed through no fault of its own (site_fault): back to the front of the
  // queue, the attempt not counted.
  void give_back(const std::string& output_name);
  // A running merge whose node was lost (a remote merge, merge_placement.hpp): back to the front of the
  // queue, to start again elsewhere at once and not counted as a failure; its attempt number still
  // advances, so the next attempt writes in a fresh work directory that the lost one cannot touch.
  void requeue_lost(const std::string& output_name);

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
    int lost = 0;      // of which ended with their node, not counted as failures
    clock::time_point not_before{};
  };
  int max_processes_;
  int max_retries_;
  clock::duration retry_delay_;
  std::deque<entry> pending_;
  std::map<std::string, entry> running_;
  std::set<std::string> seen_;  // every output name ever added
  std::size_t done_ = 0;
  std::vector<rty::merge_task> failed_tasks_;
};

}  // namespace rty::merge
