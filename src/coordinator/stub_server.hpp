#pragma once
// The coordinator's side of the stubs' channels: the listening port and the run's secret, the
// handshake of each connection (cut if it does not authenticate in time, or to make room in a flood),
// the authenticated channels, and their heartbeats. What a stub says goes to stub_events (the daemon,
// which hands it to the engine); the server decides nothing about the run.
#include <sys/types.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "coordinator/engine.hpp"
#include "net/admission.hpp"
#include "net/channel.hpp"
#include "protocol/messages.hpp"

namespace rty::coordinator {

// What the server reports. It must outlive the server's coroutines (the daemon: it lives until the
// event loop has stopped).
class stub_events {
 public:
  virtual ~stub_events() = default;
  // False once the run is finished: nothing a stub says may change the book any more.
  virtual bool accepting_stubs() const = 0;
  virtual void stub_joined(conn_id id, const protocol::hello& hello, const std::string& peer) = 0;
  virtual void stub_message(conn_id id, const boost::json::object& message) = 0;
  // The channel closed, failed or fell silent; its leases go back.
  virtual void stub_lost(conn_id id, const std::string& reason) = 0;
  // After any of the above: the daemon checks whether the run is done or has no stub left.
  virtual void stubs_settled() = 0;
};

struct stub_server_settings {
  std::chrono::seconds heartbeat_timeout{60};
  std::chrono::seconds heartbeat_interval{15};
};

class stub_server : public std::enable_shared_from_this<stub_server> {
 public:
  stub_server(boost::asio::io_context& io, stub_events& events, stub_server_settings settings);

  // Listens on `address` (an address or a resolvable name; port chosen by the kernel) and writes the
  // run's secret to <workdir>/.raythenad-secret (0600). The error names what failed.
  rty::result<void> listen(const std::string& address, const std::string& workdir);
  void start_accepting();
  // Stops accepting, and lets every channel flush what it was sent, then close.
  void close_all();
  void remove_secret_file();

  void send(conn_id to, const boost::json::object& message);
  void close_after_flush(conn_id id, const std::string& reason);
  // One slice of the connections: heartbeats for quiet channels, stub_lost for silent ones.
  void heartbeat_tick();
  static constexpr int heartbeat_slices = 10;

  bool empty() const { return connections_.empty(); }
  // Seconds since the stub was last heard from (none: not connected).
  std::optional<double> seconds_since_heard(conn_id id, std::chrono::steady_clock::time_point now) const;
  std::uint64_t take_suppressed_refusals() { return refusals_.take_suppressed(); }

  const std::string& listen_address() const { return listen_address_; }
  const std::string& secret() const { return secret_; }
  const std::string& secret_file() const { return secret_file_; }

 private:
  struct connection {
    std::shared_ptr<net::channel> channel;
    std::chrono::steady_clock::time_point last_rx;
    std::chrono::steady_clock::time_point last_tx{};  // any frame counts as a heartbeat for the stub
  };
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<std::optional<protocol::hello>> authenticate(conn_id id, std::shared_ptr<net::channel> ch);
  static std::size_t unproven_limit();

  boost::asio::io_context& io_;
  stub_events& events_;
  stub_server_settings settings_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  std::map<conn_id, connection> connections_;
  // Connections not yet authenticated: at most half the open-files limit, so that a flood leaves the
  // run descriptors for its files, merges and real stubs.
  admission_queue unproven_{unproven_limit()};
  log_throttle refusals_{10, std::chrono::minutes(1)};
  std::string listen_address_, secret_, secret_file_;
  conn_id next_conn_ = 0;
  conn_id heartbeat_cursor_ = 0;  // where the next heartbeat slice starts
};

}  // namespace rty::coordinator
