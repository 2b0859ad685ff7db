// rty_scale_driver: one process playing N stubs (default 10,000) against a real coordinator. Each virtual
// node opens an authenticated channel (protocol::stub_handshake, then sealed frames), sends heartbeats at the
// interval its welcome names, and runs a virtual pilot with `cores` cores: it asks for `cores` ranges,
// "processes" them for 60/speedup seconds (one range per core per minute, sped up), reports them all
// finished in one ranges_update, and asks again. Starts are spread over one cycle, as real pilots drift.
//
// Prints BENCH lines: time for all nodes to connect, ranges/s, ranges_request->reply latency, heartbeats,
// lost channels, and (with --coordinator-pid) the coordinator's CPU per range and RSS over the window.
//
// Usage: rty_scale_driver --coordinator HOST:PORT --secret-file PATH [--nodes N] [--cores C]
//          [--speedup S] [--seconds D] [--coordinator-pid PID] [--task-dir DIR] [--connect-batch K]
#include "protocol/auth.hpp"
#include "protocol/frame.hpp"
#include "protocol/handshake.hpp"
#include "protocol/messages.hpp"

#include <boost/asio.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct options {
  std::string host = "127.0.0.1";
  std::string port;
  std::string secret_file;
  int nodes = 10000;
  int cores = 64;
  double speedup = 1;
  double seconds = 60;
  int coordinator_pid = 0;
  std::string task_dir = "/tmp";
  int connect_batch = 0;  // 0: all at once
};

struct proc_sample {
  double cpu_s = 0;
  long rss_kb = 0, hwm_kb = 0;
};

proc_sample sample(int pid) {
  proc_sample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  auto close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    std::vector<std::string> f;
    while (rest >> field) f.push_back(field);
    // After ")": state is field 3; utime 14 and stime 15 are at indexes 11 and 12 here.
    if (f.size() > 12) s.cpu_s = (std::stod(f[11]) + std::stod(f[12])) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::atol(line.c_str() + 6);
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kb = std::atol(line.c_str() + 6);
  }
  return s;
}

struct stats {
  int connected = 0, refused = 0, lost = 0, no_more = 0;
  long ranges_finished = 0, requests = 0, heartbeats_rx = 0, heartbeats_tx = 0;
  double max_heartbeat_gap = 0, max_silence = 0;
  bool measuring = false;
  long window_ranges = 0;
  std::vector<double> connect_s, reply_ms;
  clock_type::time_point start, last_connected;
};

class node : public std::enable_shared_from_this<node> {
 public:
  node(asio::io_context& io, const options& o, stats& st, int index, const std::string& secret)
      : io_(io), o_(o), st_(st), index_(index), secret_(secret), socket_(io), work_timer_(io), hb_timer_(io) {
    id_ = "vnode-" + std::to_string(index);
  }

  asio::awaitable<void> run(tcp::endpoint ep, clock_type::time_point stop_at) {
    auto self = shared_from_this();
    stop_at_ = stop_at;
    auto t0 = clock_type::now();
    for (int attempt = 0;; ++attempt) {
      auto [ec] = co_await socket_.async_connect(ep, asio::as_tuple(asio::use_awaitable));
      if (!ec) break;
      socket_.close();
      if (attempt > 50) {
        st_.refused++;
        co_return;
      }
      asio::steady_timer t(io_, 200ms);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    socket_.set_option(tcp::no_delay(true));
    char buf[65536];
    for (;;) {
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
      if (ec) break;
      decoder_.feed(std::string_view(buf, n));
      for (;;) {
        auto m = decoder_.next();
        if (!m) {
          on_closed("bad frame: " + m.error().message());
          co_return;
        }
        if (!*m) break;
        handle(**m, t0);
      }
    }
    on_closed("channel closed");
  }

  void shutdown() {
    done_ = true;
    work_timer_.cancel();
    hb_timer_.cancel();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  void on_closed(const std::string&) {
    if (!done_ && welcomed_) st_.lost++;
    done_ = true;
    work_timer_.cancel();
    hb_timer_.cancel();
  }

  void handle(const boost::json::object& m, clock_type::time_point t0) {
    auto type = rty::protocol::message_type(m);
    if (!type) return;
    if (welcomed_) {  // a stub watches for any frame; heartbeats only fill silences
      auto now = clock_type::now();
      st_.max_silence = std::max(st_.max_silence, std::chrono::duration<double>(now - last_rx_).count());
      last_rx_ = now;
    }
    if (*type == "challenge") {
      rty::protocol::hello h;
      h.node_id = id_;
      h.host = "scalehost";
      h.pid = 100000 + index_;
      handshake_.emplace(secret_, std::move(h), rty::protocol::make_nonce().value());
      auto hello = handshake_->on_challenge(m);
      if (!hello) return on_closed(hello.error().message());
      send(hello->to_json());
    } else if (*type == "accepted" || (*type == "error" && handshake_)) {
      auto keys = handshake_->on_accepted(m);
      handshake_.reset();
      if (!keys) return on_closed(keys.error().message());
      sealer_.emplace(keys->stub_to_coordinator);
      decoder_.require_mac(keys->coordinator_to_stub);
      decoder_.set_max_frame(rty::protocol::default_max_frame);
    } else if (*type == "welcome") {
      auto w = rty::protocol::welcome::from_json(m);
      welcomed_ = true;
      auto now = clock_type::now();
      st_.connected++;
      st_.connect_s.push_back(std::chrono::duration<double>(now - t0).count());
      st_.last_connected = now;
      if (w) {
        if (auto* hb = w->settings.if_contains("heartbeat_interval"); hb && hb->is_int64())
          hb_interval_ = std::chrono::seconds(std::max<std::int64_t>(1, hb->get_int64()));
      }
      last_hb_rx_ = last_rx_ = now;
      heartbeat_loop();
      // Pilots do not start in lockstep: spread the first request over one processing cycle.
      std::uniform_real_distribution<double> d(0, cycle_seconds());
      std::mt19937 rng(static_cast<unsigned>(index_));
      schedule(d(rng), [this] { request(); });
    } else if (*type == "heartbeat") {
      auto now = clock_type::now();
      st_.heartbeats_rx++;
      st_.max_heartbeat_gap = std::max(st_.max_heartbeat_gap, std::chrono::duration<double>(now - last_hb_rx_).count());
      last_hb_rx_ = now;
    } else if (*type == "ranges_reply") {
      auto r = rty::protocol::ranges_reply::from_json(m);
      if (!r) return;
      st_.reply_ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - requested_at_).count());
      if (r->ranges.empty()) {
        if (r->no_more) st_.no_more++;
        return;
      }
      held_ = std::move(r->ranges);
      schedule(cycle_seconds(), [this] { finish(); });
    } else if (*type == "error" || *type == "stop") {
      on_closed(std::string(*type));
    }
  }

  double cycle_seconds() const { return 60.0 / o_.speedup; }

  void request() {
    if (done_ || clock_type::now() >= stop_at_) return;
    rty::protocol::ranges_request q;
    q.request_id = ++request_id_;
    q.n_ranges = o_.cores;
    requested_at_ = clock_type::now();
    st_.requests++;
    send(q.to_json());
  }

  void finish() {
    if (done_) return;
    rty::protocol::ranges_update u;
    for (auto& r : held_) {
      rty::range_update x;
      x.range_id = r.id;
      x.status = rty::range_status::finished;
      x.path = o_.task_dir + "/" + id_ + "/HITS.pool.root." + r.id;
      x.chksum = "0a1b2c3d";
      x.fsize = 2048;
      x.type = "es_output";
      u.updates.push_back(std::move(x));
    }
    st_.ranges_finished += static_cast<long>(held_.size());
    if (st_.measuring) st_.window_ranges += static_cast<long>(held_.size());
    held_.clear();
    send(u.to_json());
    request();
  }

  template <class F>
  void schedule(double seconds, F f) {
    work_timer_.expires_after(std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds)));
    work_timer_.async_wait([self = shared_from_this(), f](boost::system::error_code ec) {
      if (!ec) f();
    });
  }

  void heartbeat_loop() {
    if (done_) return;
    hb_timer_.expires_after(hb_interval_);
    hb_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->done_) return;
      self->st_.heartbeats_tx++;
      self->send(rty::protocol::heartbeat{}.to_json());
      self->heartbeat_loop();
    });
  }

  void send(const boost::json::object& m) {
    if (done_) return;
    outq_.push_back(sealer_ ? sealer_->seal(m) : rty::protocol::encode_frame(m));
    if (!writing_) write_next();
  }

  void write_next() {
    if (outq_.empty() || done_) {
      writing_ = false;
      return;
    }
    writing_ = true;
    asio::async_write(socket_, asio::buffer(outq_.front()),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        self->outq_.pop_front();
                        if (ec) {
                          self->writing_ = false;
                          return;
                        }
                        self->write_next();
                      });
  }

  asio::io_context& io_;
  const options& o_;
  stats& st_;
  int index_;
  std::string id_;
  const std::string& secret_;
  tcp::socket socket_;
  asio::steady_timer work_timer_, hb_timer_;
  rty::protocol::frame_decoder decoder_{rty::protocol::handshake_max_frame};
  std::optional<rty::protocol::stub_handshake> handshake_;  // until the coordinator has proven itself
  std::optional<rty::protocol::frame_sealer> sealer_;
  std::deque<std::string> outq_;
  bool writing_ = false, welcomed_ = false, done_ = false;
  std::chrono::seconds hb_interval_{15};
  clock_type::time_point last_hb_rx_, last_rx_, requested_at_, stop_at_;
  std::uint64_t request_id_ = 0;
  std::vector<rty::event_range> held_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

void bench(const std::string& name, double value, const std::string& unit) {
  std::printf("BENCH %s %.6g %s\n", name.c_str(), value, unit.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--coordinator") {
      auto c = v.rfind(':');
      o.host = v.substr(0, c);
      o.port = v.substr(c + 1);
    } else if (a == "--secret-file") o.secret_file = v;
    else if (a == "--nodes") o.nodes = std::stoi(v);
    else if (a == "--cores") o.cores = std::stoi(v);
    else if (a == "--speedup") o.speedup = std::stod(v);
    else if (a == "--seconds") o.seconds = std::stod(v);
    else if (a == "--coordinator-pid") o.coordinator_pid = std::stoi(v);
    else if (a == "--task-dir") o.task_dir = v;
    else if (a == "--connect-batch") o.connect_batch = std::stoi(v);
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  if (o.port.empty() || o.secret_file.empty()) {
    std::cerr << "usage: rty_scale_driver --coordinator HOST:PORT --secret-file PATH [options]\n";
    return 2;
  }
  std::string secret;
  {
    std::ifstream in(o.secret_file);
    std::getline(in, secret);
  }
  if (secret.empty()) {
    std::cerr << "no secret in " << o.secret_file << "\n";
    return 2;
  }
  // As a site's job script would: one descriptor per channel, plus slack.
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < static_cast<rlim_t>(o.nodes) + 64)
    std::cerr << "warning: RLIMIT_NOFILE " << rl.rlim_cur << " is below " << o.nodes << " channels\n";

  asio::io_context io(1);
  tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<unsigned short>(std::stoi(o.port)));
  stats st;
  st.start = clock_type::now();
  auto run_until = st.start + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(o.seconds)) + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(60.0 / o.speedup)) + 600s;
  std::vector<std::shared_ptr<node>> nodes;
  nodes.reserve(static_cast<std::size_t>(o.nodes));
  for (int i = 0; i < o.nodes; ++i) {
    nodes.push_back(std::make_shared<node>(io, o, st, i, secret));
    asio::co_spawn(io, nodes.back()->run(ep, run_until), asio::detached);
  }

  // Phase 1: all connect. Phase 2: a measured window of --seconds once everyone is in.
  proc_sample before{}, after{};
  clock_type::time_point window_start{}, warm_until = clock_type::time_point::max();
  double connect_all_s = -1;
  asio::steady_timer ticker(io);
  std::function<void()> tick = [&] {
    auto now = clock_type::now();
    if (!st.measuring && connect_all_s < 0) {
      if (st.connected + st.refused >= o.nodes || now - st.start > 300s) {
        connect_all_s = std::chrono::duration<double>(st.last_connected - st.start).count();
        std::fprintf(stderr, "scale: %d/%d nodes connected in %.2f s; warm-up of one cycle, then measuring for %.0f s\n",
                     st.connected, o.nodes, connect_all_s, o.seconds);
        warm_until = now + std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(60.0 / o.speedup + 1));
      }
    } else if (!st.measuring && now >= warm_until) {
      before = sample(o.coordinator_pid);
      window_start = now;
      st.measuring = true;
    } else if (st.measuring && now - window_start >= std::chrono::duration<double>(o.seconds)) {
      after = sample(o.coordinator_pid);
      st.measuring = false;
      for (auto& n : nodes) n->shutdown();
      io.stop();
      return;
    }
    ticker.expires_after(100ms);
    ticker.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  tick();
  io.run();

  double window = std::chrono::duration<double>(clock_type::now() - window_start).count();
  bench("scale_nodes_connected", st.connected, "nodes");
  bench("scale_connect_all", connect_all_s, "s");
  bench("scale_connect_p50", percentile(st.connect_s, 0.5), "s");
  bench("scale_connect_p99", percentile(st.connect_s, 0.99), "s");
  bench("scale_ranges_per_s", static_cast<double>(st.window_ranges) / window, "ranges/s");
  bench("scale_target_ranges_per_s", o.nodes * o.cores * o.speedup / 60.0, "ranges/s");
  bench("scale_ranges_reply_p50", percentile(st.reply_ms, 0.5), "ms");
  bench("scale_ranges_reply_p99", percentile(st.reply_ms, 0.99), "ms");
  bench("scale_heartbeats_rx", static_cast<double>(st.heartbeats_rx), "frames");
  bench("scale_heartbeat_max_gap", st.max_heartbeat_gap, "s");
  bench("scale_max_silence", st.max_silence, "s");  // longest time a node got no frame at all
  bench("scale_channels_lost", st.lost, "nodes");
  bench("scale_refused", st.refused, "nodes");
  if (o.coordinator_pid > 0) {
    double cpu = after.cpu_s - before.cpu_s;
    bench("scale_coordinator_cpu", cpu, "s");
    bench("scale_coordinator_cpu_share", cpu / window, "cores");
    bench("scale_coordinator_cpu_per_range", st.window_ranges ? cpu * 1e6 / static_cast<double>(st.window_ranges) : 0,
          "us/range");
    bench("scale_coordinator_rss", static_cast<double>(after.rss_kb) / 1024.0, "MB");
    bench("scale_coordinator_hwm", static_cast<double>(after.hwm_kb) / 1024.0, "MB");
    // Growth over the window per range finished in it: what each finished range costs to hold.
    bench("scale_coordinator_bytes_per_finished_range",
          st.window_ranges ? static_cast<double>(after.rss_kb - before.rss_kb) * 1024.0 / static_cast<double>(st.window_ranges) : 0,
          "bytes");
  }
  return st.connected == o.nodes && st.lost == 0 ? 0 : 1;
}
