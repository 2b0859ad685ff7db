#include "common/task_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/dir_policy.hpp"
#include "common/file_util.hpp"

namespace rty::file {

std::optional<long> lock_holder_pid(std::string_view content) {
  while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) content.remove_suffix(1);
  long pid = 0;
  auto [p, ec] = std::from_chars(content.data(), content.data() + content.size(), pid);
  if (ec != std::errc() || p != content.data() + content.size() || pid <= 0) return std::nullopt;
  return pid;
}

std::string lock_holder_message(const std::string& lock_path, std::string_view content) {
  auto pid = lock_holder_pid(content);
  return "another raythenad (" + (pid ? "pid " + std::to_string(*pid) : std::string("pid unknown")) +
         ") holds " + lock_path + ": refusing to start a second one on the same directory";
}

task_lock::~task_lock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding it: whoever opens the path next gets a new file
  ::close(fd_);
}

rty::result<void> task_lock::acquire(const std::string& dir) {
  path_ = join(dir, "raythenad.lock");
  for (int attempt = 0;; ++attempt) {
    if (auto r = try_acquire(); !r) return r;
    // The holder before us may have removed the file between our open and our flock.
    struct stat ours {}, now {};
    if (::fstat(fd_, &ours) == 0 && ::lstat(path_.c_str(), &now) == 0 && ours.st_ino == now.st_ino &&
        ours.st_dev == now.st_dev)
      break;
    ::close(fd_);
    fd_ = -1;
    if (attempt == 10) return rty::fail("cannot lock " + path_ + ": it keeps being replaced");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    auto e = rty::fail("cannot write the pid into " + path_ + ": " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    return e;
  }
  return {};
}

rty::result<void> task_lock::try_acquire() {
  // O_NOFOLLOW: a symlink planted in its place is not followed (and we refuse to run, below).
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return rty::fail("cannot open the task lock " + path_ + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_uid != ::geteuid() && st.st_uid != 0)) {
    ::close(fd);
    return rty::fail("the task lock " + path_ + " is not a regular file of ours (owner " +
                     describe_owner(st.st_uid) + "): refusing to run");
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      std::string content(64, '\0');
      ssize_t n = ::pread(fd, content.data(), content.size(), 0);
      content.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
      ::close(fd);
      return rty::fail(std::make_error_code(held_elsewhere), lock_holder_message(path_, content));
    }
    ::close(fd);
    std::string message = "cannot lock " + path_ + ": " + std::strerror(err);
    if (err == ENOLCK || err == EOPNOTSUPP || err == ENOSYS || err == EINVAL)
      return rty::fail(std::make_error_code(unsupported), std::move(message));
    return rty::fail(std::move(message));
  }
  fd_ = fd;
  return {};
}

}  // namespace rty::file
