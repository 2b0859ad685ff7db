#pragma once
// systemd's service notification protocol (sd_notify(3)) without libsystemd: one datagram of
// newline-separated VAR=VALUE assignments sent to the AF_UNIX socket named by $NOTIFY_SOCKET.
// Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op, so the daemon can call them always.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace rty::systemd {

struct notify_result {
  bool sent = false;  // false and no error: not running under a service manager
  std::string error;  // names the socket and the cause; empty on success
  explicit operator bool() const { return error.empty(); }
};

// The watchdog interval systemd expects pings within, from WATCHDOG_USEC and WATCHDOG_PID as
// sd_watchdog_enabled(3) reads them: nullopt when unset, not a positive integer, or meant for another
// process (WATCHDOG_PID set and not `self`).
std::optional<std::chrono::microseconds> parse_watchdog(const char* watchdog_usec, const char* watchdog_pid,
                                                        pid_t self);

class notifier {
 public:
  // Disabled notifier (every call is a no-op).
  notifier() = default;
  // socket: a filesystem path (absolute) or "@name" for an abstract socket; empty disables.
  explicit notifier(std::string socket, std::optional<std::chrono::microseconds> watchdog = std::nullopt);

  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. With `unset_environment` it removes them, so
  // that children (stubs, pilots, merges) do not inherit them and talk to systemd in our name.
  static notifier from_environment(bool unset_environment = true);

  bool enabled() const { return !socket_.empty(); }
  const std::string& socket() const { return socket_; }
  // How often to send WATCHDOG=1: half the watchdog timeout, as sd_watchdog_enabled(3) recommends.
  // nullopt when systemd does not watch us.
  std::optional<std::chrono::microseconds> watchdog_ping_interval() const;

  // Startup finished (the daemon serves its status endpoint); `status` optional STATUS= text.
  notify_result ready(std::string_view status = {}) const;
  // Free-form one-line status shown by `systemctl status`.
  notify_result status(std::string_view text) const;
  notify_result watchdog() const;
  // Shutdown began (drain or finish); `status` optional.
  notify_result stopping(std::string_view status = {}) const;
  // Raw assignments, e.g. "EXTEND_TIMEOUT_USEC=60000000". Newlines in STATUS text are replaced by
  // the helpers above; here the caller owns the format.
  notify_result send(std::string_view assignments) const;

 private:
  std::string socket_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace rty::systemd
