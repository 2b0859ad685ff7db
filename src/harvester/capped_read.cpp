#include "harvester/capped_read.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace rty::harvester {

std::string describe_size(std::uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%llu bytes (%.1f MiB)", static_cast<unsigned long long>(bytes),
                double(bytes) / double(mib));
  return buf;
}

rty::result<std::string> read_capped(const std::string& path, std::uint64_t cap, std::string_view kind) {
  const std::string k(kind);
  auto too_big = [&](std::uint64_t size, bool at_least) {
    return rty::fail(std::make_error_code(std::errc::file_too_large),
                     k + " '" + path + "' is " + (at_least ? "at least " : "") + describe_size(size) +
                         ", more than the limit of " + describe_size(cap) + ": refused without reading it");
  };
  auto os_error = [&](const char* doing) {
    const int e = errno;
    return rty::fail(std::error_code(e, std::generic_category()),
                     std::string(doing) + " " + k + " '" + path + "': " + std::strerror(e));
  };
  // O_NONBLOCK: opening a FIFO put there in place of the file must not hang the coordinator.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return os_error("cannot open");
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return os_error("cannot stat");
  if (!S_ISREG(st.st_mode)) return rty::fail(k + " '" + path + "' is not a regular file: refused");
  if (static_cast<std::uint64_t>(st.st_size) > cap) return too_big(static_cast<std::uint64_t>(st.st_size), false);
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return os_error("cannot read");
    }
    if (r == 0) break;
    text.append(buf, static_cast<std::size_t>(r));
    if (text.size() > cap) return too_big(text.size(), true);  // grew while we read it
  }
  return text;
}

}  // namespace rty::harvester
