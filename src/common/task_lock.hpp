#pragma once
// One raythenad per task directory: two would both resume from state.json and merge, rename and
// report the same outputs. The lock is an flock(2) on <dir>/raythenad.lock, held for the life of the
// process (the kernel drops it when the process dies, also by SIGKILL: no stale locks), with the
// holder's pid written into the file so that a refused second instance can say who holds it. The holder
// removes the file when it lets go (a SIGKILLed one leaves it, unlocked, for the next to take); one
// that locked a file just removed (its inode no longer the path's) tries again, so two can never both
// hold "the" lock.
#include <optional>
#include <string>
#include <string_view>

namespace rty::file {

// The refusal line for a lock held by someone else, from the lock file's content (sans-I/O).
std::string lock_holder_message(const std::string& lock_path, std::string_view content);

// The pid written in a lock file, when it is one.
std::optional<long> lock_holder_pid(std::string_view content);

class task_lock {
 public:
  enum class result { locked, held_elsewhere, unsupported, error };
  task_lock() = default;
  task_lock(const task_lock&) = delete;
  task_lock& operator=(const task_lock&) = delete;
  ~task_lock();  // removes the lock file and lets go

  // Takes the lock on <dir>/raythenad.lock without waiting. held_elsewhere: `what` is
  // lock_holder_message(). unsupported: the filesystem has no flock (some NFS mounts); `what` says so,
  // and the caller may go on unprotected. error: `what` names the file and the cause.
  result acquire(const std::string& dir, std::string& what);
  const std::string& path() const { return path_; }

 private:
  result try_acquire(std::string& what);
  int fd_ = -1;
  std::string path_;
};

}  // namespace rty::file
