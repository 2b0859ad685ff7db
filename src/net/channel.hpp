#pragma once
// The control channel's I/O shell, shared by the coordinator and the stub: one TCP socket carrying
// length-prefixed JSON frames (src/protocol does the framing). Everything runs on one io_context
// thread, so there are no locks: send() queues a frame and a callback chain writes the queue in order.
// Header-only on purpose: it is compiled only inside the two Asio translation units.
#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "net/admission.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"

namespace rty::net {

namespace asio = boost::asio;
using asio::ip::tcp;

// A channel starts under the handshake's small frame limit, unsealed; secure() switches both directions
// to sealed frames (protocol/frame.hpp) and lifts the limit to max_frame.
class channel : public std::enable_shared_from_this<channel> {
 public:
  channel(tcp::socket socket, std::size_t max_frame)
      : socket_(std::move(socket)),
        decoder_(std::min(max_frame, protocol::handshake_max_frame)),
        max_frame_(max_frame) {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    socket_.non_blocking(true, ec);  // receive() reads only after readiness, and never blocks the loop
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  const std::string& peer() const { return peer_; }
  bool is_open() const { return socket_.is_open() && !closed_; }
  std::size_t queued_bytes() const { return queued_bytes_; }

  void send(const boost::json::object& message) {
    send_raw(sealer_ ? sealer_->seal(message) : protocol::encode_frame(message));
  }

  // Sends unless the frame would be larger than `limit` (the peer would drop the connection as broken):
  // then nothing is sent, no sequence number is used, and `frame_size` says how large it would be.
  bool send_within(const boost::json::object& message, std::size_t limit, std::size_t& frame_size) {
    std::string frame = protocol::encode_frame(message);
    frame_size = frame.size() + (sealer_ ? protocol::mac_size : 0);
    if (frame_size > limit) return false;
    if (sealer_) sealer_->seal_frame(frame);
    send_raw(std::move(frame));
    return true;
  }

  // After the handshake: `send` seals with the key of our direction, `receive` checks the peer's.
  void secure(const protocol::digest& send_key, const protocol::digest& receive_key) {
    sealer_.emplace(send_key);
    decoder_.require_mac(receive_key);
    decoder_.set_max_frame(max_frame_);
  }
  bool secured() const { return sealer_.has_value(); }

 private:
  void send_raw(std::string frame) {
    if (closed_) return;
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
    if (writing_) return;  // goes with the next gathered write
    writing_ = true;
    // The write starts once the handlers already due on this loop have run: what they send too (the
    // stub: one frame per pilot request, several requests per wake-up) goes out in one system call
    // and wakes the peer once, instead of once a frame.
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }


 public:
  // Next complete message. Error text on EOF, socket error or a decoding error (the caller closes).
  asio::awaitable<rty::result<boost::json::object>> receive() {
    for (;;) {
      auto next = decoder_.next();
      if (!next) co_return next.error();
      if (*next) co_return std::move(**next);
      // Wait for data, then read it into one buffer shared by every channel of this thread, consumed
      // before anything else runs: 10,000 mostly idle channels hold no 64 KiB read buffer each.
      auto [ec] = co_await socket_.async_wait(tcp::socket::wait_read, asio::as_tuple(asio::use_awaitable));
      std::size_t n = 0;
      if (!ec) {
        n = socket_.read_some(asio::buffer(read_buffer()), ec);
        if (ec == asio::error::would_block || ec == asio::error::try_again) continue;
      }
      if (ec) co_return rty::fail(ec == asio::error::eof ? "connection closed by peer" : ec.message());
      decoder_.feed(std::string_view(read_buffer().data(), n));
    }
  }

  // Closes after the queued frames are written (bounded by the socket's own timeouts).
  void close_after_flush() {
    if (!writing_) {
      close();
      return;
    }
    close_when_flushed_ = true;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  void write_next() {
    if (queue_.empty() || closed_) {
      writing_ = false;
      if (close_when_flushed_) close();
      return;
    }
    writing_ = true;
    // Every frame queued so far in one gathered write (the deque keeps them in place meanwhile).
    const std::size_t frames = std::min(queue_.size(), max_gather);
    std::vector<asio::const_buffer> buffers;
    buffers.reserve(frames);
    for (std::size_t i = 0; i < frames; ++i) buffers.push_back(asio::buffer(queue_[i]));
    asio::async_write(socket_, std::move(buffers),
                      [self = shared_from_this(), frames](boost::system::error_code ec, std::size_t n) {
                        self->queued_bytes_ -= n <= self->queued_bytes_ ? n : self->queued_bytes_;
                        if (ec) {
                          self->writing_ = false;
                          self->queue_.clear();
                          self->close();
                          return;
                        }
                        self->queue_.erase(self->queue_.begin(), self->queue_.begin() + static_cast<std::ptrdiff_t>(frames));
                        self->write_next();
                      });
  }

  static constexpr std::size_t max_gather = 64;  // frames per write (asio's own writev limit)

  static std::array<char, 64 * 1024>& read_buffer() {
    static thread_local std::array<char, 64 * 1024> buffer;
    return buffer;
  }

  tcp::socket socket_;
  protocol::frame_decoder decoder_;
  std::size_t max_frame_;
  std::optional<protocol::frame_sealer> sealer_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool close_when_flushed_ = false;
  std::string peer_;
};

inline bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec.value() == ENFILE;
}

// After a failed accept on a listening port: out of descriptors, the oldest connection waiting in
// `waiting` is cut to make room; otherwise (or with none to cut) a short pause, rather than spinning on
// the same error.
inline asio::awaitable<void> after_accept_error(const boost::system::error_code& ec, admission_queue& waiting,
                                                asio::steady_timer& pause) {
  if (out_of_descriptors(ec) && waiting.evict_oldest()) co_return;
  pause.expires_after(std::chrono::milliseconds(50));
  co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace rty::net
