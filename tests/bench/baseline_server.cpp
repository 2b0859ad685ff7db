// rty_baseline_server: the physical limit of this machine for pilot's HTTP traffic. A minimal Beast server
// that reads every request fully (like a real one must) and answers from canned replies: getJob gets a
// fixed job, getEventRanges nRanges ranges from a fixed template with a running event number (unique
// IDs, so the generator creates fresh output files exactly as against raythenad; rewriting one name in
// place would cost ext4 a flush the real path never pays), everything else {"StatusCode": 0}. No channel, no bookkeeping, no file moves: whatever raythenad adds is overhead.
//
// Usage: rty_baseline_server [--threads N] [--port P]   prints "PORT <p>" once listening; runs until
// SIGTERM/SIGINT.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr int max_canned = 64;

struct canned {
  std::string job;
  std::string ok = R"({"StatusCode": 0})";
};

std::atomic<std::uint64_t> next_event{1};

std::string ranges_reply(int n) {
  std::string s;
  s.reserve(64 + 200 * static_cast<std::size_t>(n));
  s = R"({"StatusCode": 0, "eventRanges": [)";
  std::uint64_t first = next_event.fetch_add(static_cast<std::uint64_t>(n));
  for (int i = 0; i < n; ++i) {
    if (i) s += ", ";
    auto e = std::to_string(first + static_cast<std::uint64_t>(i));
    s += R"({"PFN": "/scratch/endpoint/EVNT.40000000._000001.pool.root.1", "lastEvent": )";
    s += e;
    s += R"(, "eventRangeID": "EVNT.40000000._000001.pool.root.1-)";
    s += e;
    s += R"(", "startEvent": )";
    s += e;
    s += R"(, "GUID": "00000000-0262-5A01-0000-000000000001"})";
  }
  s += "]}";
  return s;
}

canned make_canned() {
  canned c;
  c.job = R"({"PandaID": "6000000001", "taskID": 40000001, "jobsetID": 6000000000, "attemptNr": 1, )"
          R"("StatusCode": 0, "coreCount": 8, "eventService": "true", "transformation": "Sim_tf.py"})";
  return c;
}

int n_ranges_of(const std::string& body) {
  auto p = body.find("nRanges=");
  if (p == std::string::npos) return 1;
  int n = std::atoi(body.c_str() + p + 8);
  return n < 0 ? 0 : (n > max_canned ? max_canned : n);
}

asio::awaitable<void> session(tcp::socket socket, const canned& c) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(socket, buffer, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::content_type, "application/json");
    auto target = req.target();
    if (target.ends_with("/getJob"))
      res.body() = c.job;
    else if (target.ends_with("/getEventRanges"))
      res.body() = ranges_reply(n_ranges_of(req.body()));
    else
      res.body() = c.ok;
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(socket, res, asio::as_tuple(asio::use_awaitable));
    if (wec || !res.keep_alive()) co_return;
  }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, const canned& c) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), session(std::move(socket), c), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 1;
  unsigned short port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--threads") threads = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--port") port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
  }
  const canned c = make_canned();
  asio::io_context io(threads);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::printf("PORT %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](boost::system::error_code, int) { io.stop(); });
  asio::co_spawn(io, listen(acceptor, c), asio::detached);
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}
