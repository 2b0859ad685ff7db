// net::channel's writes (net/channel.hpp), over a loopback socket pair: the frames one turn of the loop
// sends go out together after it, in order, and close_after_flush still delivers them first.
#define BOOST_TEST_MODULE net_channel
#include <boost/test/unit_test.hpp>

#include <sys/socket.h>

#include <boost/asio.hpp>

#include <string>

#include "net/channel.hpp"
#include "protocol/frame.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

struct pair {
  asio::io_context io{1};
  tcp::socket peer{io};
  std::shared_ptr<rty::net::channel> channel;
  pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), 0));
    tcp::socket ours(io);
    ours.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
    channel = std::make_shared<rty::net::channel>(std::move(ours), rty::protocol::default_max_frame);
  }
  // Whatever the peer can read now, without waiting.
  std::string available() {
    std::string out;
    char buf[4096];
    for (;;) {
      const auto n = ::recv(peer.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Runs the loop until nothing is left to do (the writes are the only work).
  void run() {
    io.restart();
    for (int i = 0; i < 100 && io.poll() > 0;) ++i;
  }
};

boost::json::object message(int i) { return {{"type", "heartbeat"}, {"n", i}}; }

}  // namespace

BOOST_AUTO_TEST_CASE(frames_of_one_turn_go_out_together_after_it_in_order) {
  pair p;
  const std::string expected = rty::protocol::encode_frame(message(1)) + rty::protocol::encode_frame(message(2)) +
                               rty::protocol::encode_frame(message(3));
  for (int i = 1; i <= 3; ++i) p.channel->send(message(i));
  BOOST_TEST(p.available().empty());  // nothing written from inside the sending handler
  BOOST_TEST(p.channel->queued_bytes() == expected.size());
  p.run();
  std::string got;
  for (int i = 0; i < 100 && got.size() < expected.size(); ++i) got += p.available();
  BOOST_TEST(got == expected);
  BOOST_TEST(p.channel->queued_bytes() == 0u);
  // And the next turn's frame after them.
  p.channel->send(message(4));
  p.run();
  std::string next;
  for (int i = 0; i < 100 && next.empty(); ++i) next += p.available();
  BOOST_TEST(next == rty::protocol::encode_frame(message(4)));
}

BOOST_AUTO_TEST_CASE(close_after_flush_delivers_the_queued_frames_first) {
  pair p;
  p.channel->send(message(1));
  p.channel->send(message(2));
  p.channel->close_after_flush();
  BOOST_TEST(p.channel->is_open());  // the frames are still to be written
  p.run();
  BOOST_TEST(!p.channel->is_open());
  const std::string expected = rty::protocol::encode_frame(message(1)) + rty::protocol::encode_frame(message(2));
  std::string got;
  for (int i = 0; i < 100 && got.size() < expected.size(); ++i) got += p.available();
  BOOST_TEST(got == expected);
  char c;
  BOOST_TEST(::recv(p.peer.native_handle(), &c, 1, 0) == 0);  // then EOF
}
