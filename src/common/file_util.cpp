#include "common/file_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace rty::file {
namespace {
std::error_code last_error() { return {errno, std::generic_category()}; }
}  // namespace

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

void sync_directory(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

namespace {
std::string random_hex(std::size_t bytes) {
  unsigned char buf[16];
  std::size_t got = 0;
  while (got < bytes) {
    ssize_t r = ::getrandom(buf + got, bytes - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  if (got < bytes) {  // no getrandom: still unique per process and call, and O_EXCL keeps it safe
    static unsigned long long counter = 0;
    unsigned long long v = (static_cast<unsigned long long>(::getpid()) << 32) ^ ++counter ^
                           static_cast<unsigned long long>(::time(nullptr));
    for (std::size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(v >> (8 * (i % 8)));
  }
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(digits[buf[i] >> 4]);
    out.push_back(digits[buf[i] & 15]);
  }
  return out;
}
}  // namespace

atomic_file::~atomic_file() { discard(); }

void atomic_file::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
  tmp_.clear();
}

std::size_t remove_stale_temporaries(const std::string& dir) {
  std::size_t removed = 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  const uid_t me = ::geteuid();
  while (const dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    const auto at = name.rfind(".tmp.");
    if (at == std::string_view::npos || at == 0 || name.size() - at != 5 + 16) continue;
    bool hex = true;
    for (char c : name.substr(at + 5)) hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    struct stat st {};
    // lstat: a symlink under that name is not ours to follow, and not one of our temporaries
    if (!hex || ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != me) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

rty::result<void> atomic_file::open(const std::string& path, unsigned mode) {
  discard();
  path_ = path;
  // O_EXCL: never an existing file (nor a symlink: O_EXCL does not follow one), so nothing another
  // user planted is written through; a random name, so no one can make our creation fail on purpose.
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string tmp = path + ".tmp." + random_hex(8);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode));
    if (fd >= 0) {
      fd_ = fd;
      tmp_ = std::move(tmp);
      return {};
    }
    if (errno == EEXIST || errno == EINTR) continue;
    auto ec = last_error();
    return rty::fail(ec, "cannot create '" + tmp + "': " + ec.message());
  }
  return rty::fail(std::make_error_code(std::errc::file_exists),
                   "cannot create a temporary next to '" + path + "': every random name was taken");
}

rty::error atomic_file::not_open(const char* step) const {
  return rty::fail(std::make_error_code(std::errc::bad_file_descriptor),
                   std::string(step) + " '" + path_ + "': no temporary is open");
}

rty::result<void> atomic_file::write(std::string_view chunk) {
  if (fd_ < 0) return not_open("cannot write");
  while (!chunk.empty()) {
    ssize_t w = ::write(fd_, chunk.data(), chunk.size());
    if (w < 0) {
      if (errno == EINTR) continue;
      auto ec = last_error();
      auto e = rty::fail(ec, "cannot write '" + tmp_ + "': " + ec.message());
      discard();
      return e;
    }
    chunk.remove_prefix(static_cast<std::size_t>(w));
  }
  return {};
}

rty::result<void> atomic_file::commit(bool fsync_dir) {
  if (fd_ < 0) return not_open("cannot commit");
  auto fail = [&](std::error_code ec, std::string message) {
    discard();
    return rty::fail(ec, std::move(message) + ": " + ec.message());
  };
  if (::fsync(fd_) != 0) return fail(last_error(), "cannot fsync '" + tmp_ + "'");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) return fail(last_error(), "cannot close '" + tmp_ + "'");
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    return fail(last_error(), "cannot rename '" + tmp_ + "' to '" + path_ + "'");
  tmp_.clear();
  if (fsync_dir) sync_directory(dir_of(path_));
  return {};
}

rty::result<void> write_atomic(const std::string& path, std::string_view content, bool fsync_dir) {
  atomic_file f;
  if (auto r = f.open(path); !r) return r;
  if (auto r = f.write(content); !r) return r;
  return f.commit(fsync_dir);
}

rty::result<std::string> read_all(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rty::fail("cannot open '" + path + "': " + std::strerror(errno));
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      auto e = rty::fail("cannot read '" + path + "': " + std::strerror(errno));
      ::close(fd);
      return e;
    }
    if (r == 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  ::close(fd);
  return out;
}

std::string expand_vars(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto is_name = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; };
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] != '$') {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t name_begin, name_end, next;
    if (i + 1 < text.size() && text[i + 1] == '{') {
      auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) {
        out.push_back(text[i++]);
        continue;
      }
      name_begin = i + 2;
      name_end = close;
      next = close + 1;
    } else {
      name_begin = i + 1;
      name_end = name_begin;
      while (name_end < text.size() && is_name(text[name_end])) ++name_end;
      next = name_end;
    }
    std::string name(text.substr(name_begin, name_end - name_begin));
    const char* value = name.empty() ? nullptr : std::getenv(name.c_str());
    if (value) {
      out.append(value);
    } else {
      out.append(text.substr(i, next - i));  // unknown: keep as written
    }
    i = next;
  }
  return out;
}

std::string join(std::string_view a, std::string_view b) {
  if (!b.empty() && b.front() == '/') return std::string(b);
  if (a.empty()) return std::string(b);
  std::string out(a);
  if (out.back() != '/') out.push_back('/');
  out.append(b);
  return out;
}

unsigned harden_umask() {
  const mode_t old = ::umask(0);
  const mode_t now = old | S_IWOTH;
  ::umask(now);
  return now;
}

}  // namespace rty::file
