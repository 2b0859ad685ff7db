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
#include <system_error>

#include "common/error.hpp"

namespace rty::file {

// The refusal line for a lock held by someone else, from the lock file's content (sans-I/O).
std::string lock_holder_message(const std::string& lock_path, std::string_view content);

// The pid written in a lock file, when it is one.
std::optional<long> lock_holder_pid(std::string_view content);

class task_lock {
 public:
  // The codes of acquire()'s errors that callers branch on; any other failure carries no code.
  static constexpr std::errc held_elsewhere = std::errc::resource_unavailable_try_again;
  static constexpr std::errc unsupported = std::errc::no_lock_available;

  task_lock() = default;
  task_lock(const task_lock&) = delete;
  task_lock& operator=(const task_lock&) = delete;
  ~task_lock();  // removes the lock file and lets go

  // Takes the lock on <dir>/raythenad.lock without waiting. An error with code held_elsewhere: its
  // message is lock_holder_message(). unsupported: the filesystem has no flock (some NFS mounts); the
  // message says so, and the caller may go on unprotected. Any other error names the file and the cause.
  rty::result<void> acquire(const std::string& dir);
  const std::string& path() const { return path_; }

 private:
  rty::result<void> try_acquire();
  int fd_ = -1;
  std::string path_;
};

}  // namespace rty::file
