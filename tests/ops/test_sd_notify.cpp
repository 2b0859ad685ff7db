// The sd_notify datagram protocol against sockets this test listens on (filesystem and abstract),
// as systemd would for a Type=notify service.
#define BOOST_TEST_MODULE sd_notify
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "common/sd_notify.hpp"

namespace {

using rty::systemd::notifier;
using namespace std::chrono_literals;

// A datagram socket standing in for systemd's notification socket.
class listener {
 public:
  // name: "@abstract" or empty for a filesystem socket in a fresh temp dir.
  explicit listener(bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    BOOST_REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (abstract) {
      address_ = "@rty-test-sd-notify-" + std::to_string(::getpid());
      std::memcpy(addr.sun_path, address_.data(), address_.size());
      addr.sun_path[0] = '\0';
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
    } else {
      char tmpl[] = "/tmp/rty-sd-notify-XXXXXX";
      BOOST_REQUIRE(::mkdtemp(tmpl));
      dir_ = tmpl;
      address_ = dir_ + "/notify";
      std::memcpy(addr.sun_path, address_.c_str(), address_.size() + 1);
      len = sizeof addr;
    }
    BOOST_REQUIRE_MESSAGE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0, std::strerror(errno));
  }
  ~listener() {
    ::close(fd_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  const std::string& address() const { return address_; }
  // The datagram already queued (sendto on a local socket completes before it returns); nullopt if none.
  std::optional<std::string> take() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    return std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
  std::string dir_, address_;
};

struct env_guard {
  ~env_guard() {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(filesystem_socket_gets_each_message) {
  listener l(false);
  notifier n(l.address());
  BOOST_TEST(n.enabled());
  auto r = n.ready("listening on http://127.0.0.1:4242");
  BOOST_TEST(r.sent);
  BOOST_TEST(r.error == "");
  BOOST_TEST(l.take().value_or("") == "READY=1\nSTATUS=listening on http://127.0.0.1:4242");
  BOOST_TEST(n.watchdog().sent);
  BOOST_TEST(l.take().value_or("") == "WATCHDOG=1");
  BOOST_TEST(n.status("ranges 10/20\nsecond line").sent);
  BOOST_TEST(l.take().value_or("") == "STATUS=ranges 10/20 second line");  // one line, as systemctl shows it
  BOOST_TEST(n.stopping().sent);
  BOOST_TEST(l.take().value_or("") == "STOPPING=1");
  BOOST_TEST(n.stopping("draining: walltime").sent);
  BOOST_TEST(l.take().value_or("") == "STOPPING=1\nSTATUS=draining: walltime");
  BOOST_TEST(n.send("EXTEND_TIMEOUT_USEC=60000000").sent);
  BOOST_TEST(l.take().value_or("") == "EXTEND_TIMEOUT_USEC=60000000");
  BOOST_TEST(!l.take().has_value());
}

BOOST_AUTO_TEST_CASE(abstract_socket_from_environment) {
  env_guard g;
  listener l(true);
  ::setenv("NOTIFY_SOCKET", l.address().c_str(), 1);
  ::setenv("WATCHDOG_USEC", "20000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = notifier::from_environment();
  BOOST_TEST(n.socket() == l.address());
  BOOST_REQUIRE(n.watchdog_ping_interval().has_value());
  BOOST_TEST(n.watchdog_ping_interval()->count() == 10'000'000);  // half of WATCHDOG_USEC
  // Children must not inherit the socket and notify in our name.
  BOOST_TEST(std::getenv("NOTIFY_SOCKET") == nullptr);
  BOOST_TEST(std::getenv("WATCHDOG_USEC") == nullptr);
  BOOST_TEST(std::getenv("WATCHDOG_PID") == nullptr);
  BOOST_TEST(n.ready().sent);
  BOOST_TEST(l.take().value_or("") == "READY=1");
}

BOOST_AUTO_TEST_CASE(environment_kept_when_asked) {
  env_guard g;
  listener l(false);
  ::setenv("NOTIFY_SOCKET", l.address().c_str(), 1);
  auto n = notifier::from_environment(false);
  BOOST_TEST(std::getenv("NOTIFY_SOCKET") != nullptr);
  BOOST_TEST(!n.watchdog_ping_interval().has_value());
}

BOOST_AUTO_TEST_CASE(without_systemd_everything_is_a_quiet_no_op) {
  env_guard g;
  ::unsetenv("NOTIFY_SOCKET");
  auto n = notifier::from_environment();
  BOOST_TEST(!n.enabled());
  auto r = n.ready("x");
  BOOST_TEST(!r.sent);
  BOOST_TEST(static_cast<bool>(r));
  BOOST_TEST(notifier().watchdog().error == "");
}

BOOST_AUTO_TEST_CASE(bad_sockets_are_reported_not_thrown) {
  auto relative = notifier("run/notify").ready();
  BOOST_TEST(!relative.sent);
  BOOST_TEST(relative.error.find("NOTIFY_SOCKET=run/notify") != std::string::npos);
  BOOST_TEST(relative.error.find("absolute path") != std::string::npos);

  auto missing = notifier("/nonexistent-dir-rty/notify").watchdog();
  BOOST_TEST(!missing.sent);
  BOOST_TEST(missing.error.find("/nonexistent-dir-rty/notify") != std::string::npos);
  BOOST_TEST(missing.error.find("sendto") != std::string::npos);

  auto too_long = notifier("/" + std::string(200, 'x')).ready();
  BOOST_TEST(too_long.error.find("longer than") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(watchdog_variables_as_sd_watchdog_enabled_reads_them) {
  using rty::systemd::parse_watchdog;
  BOOST_TEST(parse_watchdog("30000000", nullptr, 42).value().count() == 30'000'000);
  BOOST_TEST(parse_watchdog("30000000", "", 42).value().count() == 30'000'000);
  BOOST_TEST(parse_watchdog("30000000", "42", 42).value().count() == 30'000'000);
  BOOST_TEST(!parse_watchdog("30000000", "43", 42));  // meant for another process
  BOOST_TEST(!parse_watchdog("30000000", "4x", 42));
  BOOST_TEST(!parse_watchdog("0", nullptr, 42));
  BOOST_TEST(!parse_watchdog("-5", nullptr, 42));
  BOOST_TEST(!parse_watchdog("12s", nullptr, 42));
  BOOST_TEST(!parse_watchdog(nullptr, "42", 42));
  BOOST_TEST(notifier("/x", 3s).watchdog_ping_interval().value() == 1500ms);
}
