#pragma once
// Spawning coroutines without losing their exceptions (asio::detached swallows them), and opening a
// listener the one way the coordinator and the stub both need.
#include <boost/asio.hpp>

#include <exception>
#include <string>
#include <utility>

#include "common/log.hpp"

namespace rty::net {

// Completion token for co_spawn: an exception that escapes the coroutine is logged with `what`
// (e.g. "session with 127.0.0.1:4711"), then `on_error` runs (unregister the connection, ...).
template <class OnError>
auto log_exceptions(std::string component, std::string what, OnError on_error) {
  return [component = std::move(component), what = std::move(what),
          on_error = std::move(on_error)](std::exception_ptr e) mutable {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      RTY_LOG(error, component) << what << ": internal error: " << ex.what();
    } catch (...) {
      RTY_LOG(error, component) << what << ": internal error (not a std::exception)";
    }
    on_error();
  };
}

inline auto log_exceptions(std::string component, std::string what) {
  return log_exceptions(std::move(component), std::move(what), [] {});
}

// Opens `acceptor` listening on `ep` (port 0: the kernel picks one) with SO_REUSEADDR; false and `ec`
// on failure.
inline bool listen_on(boost::asio::ip::tcp::acceptor& acceptor, const boost::asio::ip::tcp::endpoint& ep,
                      boost::system::error_code& ec,
                      int backlog = boost::asio::socket_base::max_listen_connections) {
  using boost::asio::ip::tcp;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(backlog, ec);
  return !ec;
}

}  // namespace rty::net
