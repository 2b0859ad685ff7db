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

capped_read read_capped(const std::string& path, std::uint64_t cap, std::string_view kind) {
  capped_read out;
  const std::string k(kind);
  auto too_big = [&](std::uint64_t size, bool at_least) {
    out.too_big = true;
    out.what = k + " '" + path + "' is " + (at_least ? "at least " : "") + describe_size(size) +
               ", more than the limit of " + describe_size(cap) + ": refused without reading it";
    return out;
  };
  // O_NONBLOCK: opening a FIFO put there in place of the file must not hang the coordinator.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    out.absent = errno == ENOENT;
    out.what = "cannot open " + k + " '" + path + "': " + std::strerror(errno);
    return out;
  }
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    out.what = "cannot stat " + k + " '" + path + "': " + std::strerror(errno);
    return out;
  }
  if (!S_ISREG(st.st_mode)) {
    out.what = k + " '" + path + "' is not a regular file: refused";
    return out;
  }
  if (static_cast<std::uint64_t>(st.st_size) > cap) return too_big(static_cast<std::uint64_t>(st.st_size), false);
  std::string text;
  text.reserve(static_cast<std::size_t>(st.st_size));
  char buf[65536];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      out.what = "cannot read " + k + " '" + path + "': " + std::strerror(errno);
      return out;
    }
    if (r == 0) break;
    text.append(buf, static_cast<std::size_t>(r));
    if (text.size() > cap) return too_big(text.size(), true);  // grew while we read it
  }
  out.text = std::move(text);
  return out;
}

}  // namespace rty::harvester
