// The stubs' listening port, handshakes, channels and heartbeats (stub_server.hpp). One of the two
// Asio translation units of the coordinator, with the daemon's.
#include "coordinator/stub_server.hpp"

#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "net/spawn.hpp"
#include "protocol/auth.hpp"
#include "protocol/handshake.hpp"

namespace rty::coordinator {
namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr const char* log_name = "Driver";
}  // namespace

stub_server::stub_server(asio::io_context& io, stub_events& events, stub_server_settings settings)
    : io_(io), events_(events), settings_(settings) {}

rty::result<void> stub_server::listen(const std::string& address, const std::string& workdir) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(address, "0", ec);
    if (ec || results.empty())
      return rty::fail("ray.headip '" + address + "' is neither an address nor a resolvable name");
    ip = results.begin()->endpoint().address();
  }
  acceptor_.emplace(io_);
  if (!net::listen_on(*acceptor_, tcp::endpoint(ip, 0), ec))
    return rty::fail("cannot listen on " + address + ": " + ec.message());
  auto local = acceptor_->local_endpoint();
  listen_address_ = (local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string()) +
                    ":" + std::to_string(local.port());
  auto secret = protocol::make_secret();
  if (!secret) return rty::fail("cannot make the run's secret: " + secret.error().message());
  secret_ = std::move(*secret);
  secret_file_ = file::join(workdir, ".raythenad-secret");
  const mode_t old_mask = ::umask(0077);  // the secret file is never readable by others, not for an instant
  auto written = file::write_atomic(secret_file_, secret_ + "\n");
  ::umask(old_mask);
  if (!written) return rty::fail("cannot write the run's secret: " + written.error().message());
  ::chmod(secret_file_.c_str(), 0600);
  RTY_LOG(info, log_name) << "listening for stubs on " << listen_address_;
  return {};
}

void stub_server::start_accepting() {
  asio::co_spawn(io_, accept_loop(), net::log_exceptions(log_name, "stub listener"));
}

void stub_server::close_all() {
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  for (auto& [id, c] : connections_) c.channel->close_after_flush();
}

void stub_server::remove_secret_file() {
  if (!secret_file_.empty()) ::unlink(secret_file_.c_str());
}

void stub_server::send(conn_id to, const boost::json::object& message) {
  auto it = connections_.find(to);
  if (it == connections_.end()) return;
  it->second.channel->send(message);
  it->second.last_tx = std::chrono::steady_clock::now();
}

void stub_server::close_after_flush(conn_id id, const std::string& reason) {
  auto it = connections_.find(id);
  if (it == connections_.end()) return;
  RTY_LOG(info, log_name) << "closing channel to " << it->second.channel->peer() << ": " << reason;
  it->second.channel->close_after_flush();
}

std::optional<double> stub_server::seconds_since_heard(conn_id id, std::chrono::steady_clock::time_point now) const {
  auto c = connections_.find(id);
  if (c == connections_.end()) return std::nullopt;
  return std::chrono::duration<double>(now - c->second.last_rx).count();
}

std::size_t stub_server::unproven_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 65536;
  return static_cast<std::size_t>(std::clamp<rlim_t>(rl.rlim_cur / 2, 16, 65536));
}

asio::awaitable<void> stub_server::accept_loop() {
  auto self = shared_from_this();
  asio::steady_timer pause(io_);
  while (acceptor_ && acceptor_->is_open()) {
    auto [ec, socket] = co_await acceptor_->async_accept(as_tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // Out of file descriptors: a flood of connections, or a limit too low for the node count.
      if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
        RTY_LOG(warning, log_name) << "accept: " << ec.message()
                                   << (net::out_of_descriptors(ec) ? " (cutting the oldest unauthenticated connection)"
                                                                   : "")
                                   << v.note();
      co_await net::after_accept_error(ec, unproven_, pause);
      continue;
    }
    asio::co_spawn(io_, session(std::move(socket)), net::log_exceptions(log_name, "stub session"));
  }
}

// The handshake; nothing the peer sends before it proved the secret is acted upon.
asio::awaitable<std::optional<protocol::hello>> stub_server::authenticate(conn_id id, std::shared_ptr<net::channel> ch) {
  auto nonce = protocol::make_nonce();
  if (!nonce) {  // the kernel has no entropy source: no peer can be authenticated
    RTY_LOG(error, log_name) << "cannot authenticate the connection from " << ch->peer() << ": " << nonce.error();
    ch->close();
    co_return std::nullopt;
  }
  // Until it proves the secret, a connection may be cut to make room (see net/admission.hpp).
  auto was_cut = std::make_shared<bool>(false);
  unproven_.admit(id, [this, was_cut, weak = std::weak_ptr<net::channel>(ch)] {
    auto c = weak.lock();
    if (!c) return;
    *was_cut = true;
    if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
      RTY_LOG(warning, log_name) << "cut unauthenticated connection from " << c->peer() << ": " << unproven_.size() + 1
                                 << " connections waiting to authenticate (limit " << unproven_.limit() << ")"
                                 << v.note();
    c->close();
  });
  // A peer gets a few seconds to prove itself.
  auto auth_timer =
      std::make_shared<asio::steady_timer>(io_, std::min<std::chrono::seconds>(10s, settings_.heartbeat_timeout));
  auth_timer->async_wait([ch](boost::system::error_code ec) {
    if (!ec) ch->close();
  });
  protocol::coordinator_handshake handshake(secret_, std::move(*nonce));
  ch->send(handshake.first_frame().to_json());
  auto first = co_await ch->receive();
  auth_timer->cancel();
  unproven_.settle(id);
  std::string refusal;
  if (!first) {
    refusal = first.error().message();
  } else if (auto verified = handshake.on_hello(*first); !verified) {
    refusal = verified.error().message();
  } else {
    ch->send(verified->reply.to_json());
    ch->secure(verified->keys.coordinator_to_stub, verified->keys.stub_to_coordinator);
    co_return std::move(verified->peer);
  }
  if (*was_cut) co_return std::nullopt;  // logged when it was cut
  if (auto v = refusals_.event(std::chrono::steady_clock::now()); v.log)
    RTY_LOG(warning, log_name) << "refused connection from " << ch->peer() << ": " << log::escape(refusal) << v.note();
  protocol::error e;
  e.message = "authentication failed";
  ch->send(e.to_json());
  ch->close_after_flush();
  co_return std::nullopt;
}

asio::awaitable<void> stub_server::session(tcp::socket socket) {
  auto self = shared_from_this();
  conn_id id = ++next_conn_;
  auto ch = std::make_shared<net::channel>(std::move(socket), protocol::default_max_frame);
  auto hello = co_await authenticate(id, ch);
  if (!hello) co_return;
  if (!events_.accepting_stubs()) {
    ch->close();
    co_return;
  }
  connections_[id] = connection{ch, std::chrono::steady_clock::now()};
  events_.stub_joined(id, *hello, ch->peer());
  events_.stubs_settled();
  for (;;) {
    auto msg = co_await ch->receive();
    // Once the run is finished (report and final checkpoint written) nothing may change the book.
    if (!events_.accepting_stubs()) co_return;
    if (!msg) {
      if (connections_.erase(id)) events_.stub_lost(id, msg.error().message());
      events_.stubs_settled();
      co_return;
    }
    auto it = connections_.find(id);
    if (it == connections_.end()) co_return;
    it->second.last_rx = std::chrono::steady_clock::now();
    events_.stub_message(id, *msg);
    events_.stubs_settled();
  }
}

// Each tick visits one slice of the connections, so each is visited once per heartbeat interval:
// 10,000 heartbeat frames in one handler held every request behind them for tens of ms. A stub that
// got any frame within the interval needs no heartbeat (it watches for any traffic).
void stub_server::heartbeat_tick() {
  static const boost::json::object heartbeat = protocol::heartbeat{}.to_json();
  auto now = std::chrono::steady_clock::now();
  std::vector<conn_id> silent;
  const std::size_t slice = (connections_.size() + heartbeat_slices - 1) / heartbeat_slices;
  auto it = connections_.lower_bound(heartbeat_cursor_);
  for (std::size_t n = 0; n < slice; ++n, ++it) {
    if (it == connections_.end()) it = connections_.begin();
    auto& [id, c] = *it;
    if (now - c.last_rx > settings_.heartbeat_timeout) {
      silent.push_back(id);
    } else if (now - c.last_tx >= settings_.heartbeat_interval) {
      c.channel->send(heartbeat);  // sealed: each channel has its own key and sequence
      c.last_tx = now;
    }
  }
  heartbeat_cursor_ = it == connections_.end() ? 0 : it->first;
  for (auto id : silent) {
    auto found = connections_.find(id);
    found->second.channel->close();
    connections_.erase(found);
    events_.stub_lost(id, "no heartbeat for " + std::to_string(settings_.heartbeat_timeout.count()) + " s");
  }
  events_.stubs_settled();
}

}  // namespace rty::coordinator
