#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace rty::systemd {
namespace {

std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

template <class T>
std::optional<T> parse_unsigned(const char* text) {
  if (!text || !*text) return std::nullopt;
  std::string_view s(text);
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

}  // namespace

std::optional<std::chrono::microseconds> parse_watchdog(const char* watchdog_usec, const char* watchdog_pid,
                                                        pid_t self) {
  auto usec = parse_unsigned<std::uint64_t>(watchdog_usec);
  if (!usec || *usec == 0) return std::nullopt;
  if (watchdog_pid && *watchdog_pid) {
    auto pid = parse_unsigned<std::uint64_t>(watchdog_pid);
    if (!pid || *pid != static_cast<std::uint64_t>(self)) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(*usec));
}

notifier::notifier(std::string socket, std::optional<std::chrono::microseconds> watchdog)
    : socket_(std::move(socket)), watchdog_(watchdog) {}

notifier notifier::from_environment(bool unset_environment) {
  const char* sock = std::getenv("NOTIFY_SOCKET");
  notifier n(sock ? std::string(sock) : std::string(),
             parse_watchdog(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), ::getpid()));
  if (unset_environment) {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
  return n;
}

std::optional<std::chrono::microseconds> notifier::watchdog_ping_interval() const {
  if (!watchdog_) return std::nullopt;
  return std::max(std::chrono::microseconds(1), *watchdog_ / 2);
}

notify_result notifier::ready(std::string_view status) const {
  std::string msg = "READY=1";
  if (!status.empty()) msg += "\nSTATUS=" + one_line(status);
  return send(msg);
}

notify_result notifier::status(std::string_view text) const { return send("STATUS=" + one_line(text)); }

notify_result notifier::watchdog() const { return send("WATCHDOG=1"); }

notify_result notifier::stopping(std::string_view status) const {
  std::string msg = "STOPPING=1";
  if (!status.empty()) msg += "\nSTATUS=" + one_line(status);
  return send(msg);
}

notify_result notifier::send(std::string_view assignments) const {
  notify_result r;
  if (socket_.empty()) return r;
  // Only AF_UNIX: systemd also accepts "vsock:" addresses (VMs), which a gateway host does not need.
  if (socket_[0] != '/' && socket_[0] != '@') {
    r.error = "NOTIFY_SOCKET=" + socket_ + ": expected an absolute path or an @abstract socket name";
    return r;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_.size() >= sizeof(addr.sun_path)) {
    r.error = "NOTIFY_SOCKET=" + socket_ + ": longer than a unix socket address may be (" +
              std::to_string(sizeof(addr.sun_path) - 1) + " bytes)";
    return r;
  }
  std::memcpy(addr.sun_path, socket_.data(), socket_.size());
  // An abstract address starts with NUL and its length counts exactly the name's bytes, no terminator.
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_.size());
  if (socket_[0] == '@')
    addr.sun_path[0] = '\0';
  else
    len += 1;
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    r.error = std::string("NOTIFY_SOCKET=") + socket_ + ": socket: " + std::strerror(errno);
    return r;
  }
  ssize_t n = ::sendto(fd, assignments.data(), assignments.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                       len);
  int saved = errno;
  ::close(fd);
  if (n < 0) {
    r.error = std::string("NOTIFY_SOCKET=") + socket_ + ": sendto: " + std::strerror(saved);
    return r;
  }
  if (static_cast<std::size_t>(n) != assignments.size()) {
    r.error = "NOTIFY_SOCKET=" + socket_ + ": datagram truncated";
    return r;
  }
  r.sent = true;
  return r;
}

}  // namespace rty::systemd
