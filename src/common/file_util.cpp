#include "common/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

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

std::error_code write_atomic(const std::string& path, std::string_view content, std::string* what,
                             bool fsync_dir) {
  const std::string tmp = path + ".tmp";
  auto fail = [&](const char* step, std::error_code ec) {
    if (what) *what = std::string(step) + " '" + tmp + "': " + ec.message();
    ::unlink(tmp.c_str());
    return ec;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    auto ec = last_error();
    if (what) *what = "cannot create '" + tmp + "': " + ec.message();
    return ec;
  }
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      auto ec = last_error();
      ::close(fd);
      return fail("cannot write", ec);
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) {
    auto ec = last_error();
    ::close(fd);
    return fail("cannot fsync", ec);
  }
  if (::close(fd) != 0) return fail("cannot close", last_error());
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto ec = last_error();
    if (what) *what = "cannot rename '" + tmp + "' to '" + path + "': " + ec.message();
    ::unlink(tmp.c_str());
    return ec;
  }
  if (fsync_dir) sync_directory(dir_of(path));
  return {};
}

std::optional<std::string> read_all(const std::string& path, std::string* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (what) *what = "cannot open '" + path + "': " + std::strerror(errno);
    return std::nullopt;
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (what) *what = "cannot read '" + path + "': " + std::strerror(errno);
      ::close(fd);
      return std::nullopt;
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
