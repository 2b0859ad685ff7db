#include "stub/node_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rty::stub {
namespace fs = std::filesystem;

namespace {

// openat2(2) with RESOLVE_BENEATH: the kernel resolves `rel` under `dirfd` and fails (EXDEV) if "..",
// a symlink or an absolute path would leave it. -1 with errno otherwise; ENOSYS on kernels before 5.6.
int open_beneath(int dirfd, const std::string& rel) {
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return static_cast<int>(::syscall(SYS_openat2, dirfd, rel.c_str(), &how, sizeof how));
}

bool lexically_under(const std::string& path, const std::string& dir, std::string& rel) {
  if (path == dir) {
    rel = ".";
    return true;
  }
  if (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/') {
    rel = path.substr(dir.size() + 1);
    return !rel.empty();
  }
  return false;
}

}  // namespace

pilot_dir_guard::pilot_dir_guard(std::string pilot_dir) : dir_(std::move(pilot_dir)) {
  char root[PATH_MAX];
  if (!::realpath(dir_.c_str(), root)) {
    error_ = "pilot directory '" + dir_ + "': " + std::strerror(errno);
    return;
  }
  root_ = root;
  root_fd_ = ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
}

pilot_dir_guard::~pilot_dir_guard() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

void pilot_dir_guard::batch::forget() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  rel_.clear();
}

rty::result<std::string> pilot_dir_guard::check(const std::string& path) const { return check(path, nullptr); }

rty::result<std::string> pilot_dir_guard::check(const std::string& path, batch* cache) const {
  if (cache) cache->last_ = {};
  if (path.empty()) return rty::fail("no output path");
  if (!error_.empty()) return rty::fail(error_);
  const std::string full = path.front() == '/' ? path : dir_ + "/" + path;
  const auto slash = full.rfind('/');
  const std::string parent = slash == 0 ? "/" : full.substr(0, slash);
  const std::string name = full.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") return rty::fail("'" + path + "' does not name a file");
  // Fast path, once per range: a path spelled under the pilot directory is resolved by the kernel
  // beneath it in one call, instead of realpath's system call per path component.
  std::string rel;
  if (root_fd_ >= 0 && (lexically_under(parent, dir_, rel) || lexically_under(parent, root_, rel))) {
    int fd = cache && cache->fd_ >= 0 && cache->rel_ == rel ? cache->fd_ : open_beneath(root_fd_, rel);
    if (fd >= 0) {
      if (cache && fd != cache->fd_) {
        cache->forget();
        cache->fd_ = fd;
        cache->rel_ = rel;
        ++cache->opened_;
      }
      struct stat st {};
      const bool special = ::fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode);
      if (!cache) ::close(fd);
      if (special) return rty::fail("'" + path + "' is not a regular file (a symlink or special file): refused");
      if (cache) cache->last_ = {fd, name};
      return (rel == "." ? root_ : root_ + "/" + rel) + "/" + name;  // may not exist: a repeated update
    }
    if (errno != EXDEV && errno != ELOOP && errno != EAGAIN && errno != ENOSYS && errno != EPERM) {
      return rty::fail("directory of '" + path + "': " + std::strerror(errno));
    }
    // The kernel refused to leave the directory (which an absolute symlink back into it also does),
    // raced a rename (EAGAIN), or has no openat2 (before 5.6, or a seccomp filter): resolve it the long
    // way, which decides.
  }
  return check_resolved(path, parent, name);
}

rty::result<std::string> pilot_dir_guard::check_resolved(const std::string& path, const std::string& parent,
                                                         const std::string& name) const {
  char resolved_dir[PATH_MAX];
  if (!::realpath(parent.c_str(), resolved_dir)) {
    return rty::fail("directory of '" + path + "': " + std::strerror(errno));
  }
  const std::string dir = resolved_dir;
  if (dir != root_ && dir.compare(0, root_.size() + 1, root_ + "/") != 0) {
    return rty::fail("'" + path + "' is outside this node's pilot directory " + root_ + ": refused");
  }
  struct stat st {};
  const std::string resolved = dir + "/" + name;
  if (::lstat(resolved.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return rty::fail("'" + path + "' is not a regular file (a symlink or special file): refused");
  }
  return resolved;  // may not exist any more: a repeated update for a file already moved
}

rty::result<std::string> check_pilot_output(const std::string& path, const std::string& pilot_dir) {
  return pilot_dir_guard(pilot_dir).check(path);
}

bool storage_refused(std::error_code error) {
  return error == std::errc::no_space_on_device || error == std::errc::read_only_file_system ||
         error == std::error_condition(EDQUOT, std::generic_category());  // no std::errc for EDQUOT
}

rty::result<std::string> move_output(const std::string& src, const std::string& task_dir, const std::string& node_id) {
  return move_output(src, checked_at{}, task_dir, -1, node_id);
}

rty::result<std::string> move_output(const std::string& src, const checked_at& from, const std::string& task_dir,
                                     int task_fd, const std::string& node_id) {
  const auto failed = [](int err, std::string message) {
    return rty::fail(std::error_code(err, std::generic_category()), std::move(message));
  };
  // Plain system calls, checked by their result rather than stat'ed first: this runs once per range.
  const auto slash = src.rfind('/');
  const std::string base = slash == std::string::npos ? src : src.substr(slash + 1);
  const std::string target = task_dir + "/" + base;
  const bool at_source = from.dir_fd >= 0 && !from.name.empty();
  auto try_rename = [&](const std::string& to, const std::string& to_name) {
    const int r = ::renameat2(at_source ? from.dir_fd : AT_FDCWD, at_source ? from.name.c_str() : src.c_str(),
                              task_fd >= 0 ? task_fd : AT_FDCWD, task_fd >= 0 ? to_name.c_str() : to.c_str(),
                              RENAME_NOREPLACE);
    return r == 0 ? 0 : errno;
  };
  int err = try_rename(target, base);
  if (err == 0) return target;
  std::string dest = target;
  if (err == EEXIST) {  // another node produced the same name: never overwrite, namespace it
    dest = target + "." + node_id;
    err = try_rename(dest, base + "." + node_id);
    if (err == 0) return dest;
  }
  struct stat src_st {};
  if (err == ENOENT && (at_source ? ::fstatat(from.dir_fd, from.name.c_str(), &src_st, AT_SYMLINK_NOFOLLOW)
                                  : ::stat(src.c_str(), &src_st)) != 0) {
    // The pilot's file is not there. A file of that name already in the task directory is never taken
    // in its place: anyone who can guess a name (another node's output, a forged update, issue 13) would
    // get it counted for a range nobody simulated. A repeated update is stopped earlier, by the ranges
    // broker, which forwards each range's result once.
    return failed(ENOENT, "output file '" + src + "' does not exist");
  }
  if (err == EINVAL || err == ENOSYS) {  // filesystem without RENAME_NOREPLACE (some parallel filesystems)
    struct stat st {};
    if (::stat(dest.c_str(), &st) == 0) return failed(EEXIST, "'" + dest + "' already exists");
    if (::rename(src.c_str(), dest.c_str()) == 0) return dest;
    err = errno;
  }
  if (err != EXDEV) return failed(err, "cannot move '" + src + "' to '" + dest + "': " + std::strerror(err));
  std::error_code ec;  // another filesystem: copy, then remove
  fs::copy_file(src, dest, fs::copy_options::none, ec);
  if (ec) {
    if (ec.value() != EEXIST) {
      std::error_code rm;
      fs::remove(dest, rm);  // a half-written copy must not take the name of a later attempt
    }
    return rty::fail(ec, "cannot copy '" + src + "' to '" + dest + "': " + ec.message());
  }
  fs::remove(src, ec);
  return dest;
}

std::string rewrite_pandaserver(const std::string& original, const std::string& url) {
  std::string out;
  bool in_pilot = false, replaced = false;
  std::size_t pos = 0;
  while (pos <= original.size()) {
    auto eol = original.find('\n', pos);
    std::string line = original.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    std::string trimmed = line;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    if (!trimmed.empty() && trimmed.front() == '[') {
      if (in_pilot && !replaced) {
        out += "pandaserver = " + url + "\n";
        replaced = true;
      }
      in_pilot = trimmed.rfind("[Pilot]", 0) == 0;
    } else if (in_pilot && line == trimmed) {
      auto sep = trimmed.find_first_of("=:");
      std::string key = trimmed.substr(0, sep);
      while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
      if (sep != std::string::npos && key == "pandaserver") {
        line = "pandaserver = " + url;
        replaced = true;
      }
    }
    out += line;
    if (eol == std::string::npos) break;
    out += '\n';
    pos = eol + 1;
  }
  if (!replaced) {
    if (!in_pilot) out += (out.empty() || out.back() == '\n' ? "" : "\n") + std::string("[Pilot]\n");
    out += "pandaserver = " + url + "\n";
  }
  return out;
}

}  // namespace rty::stub
