#pragma once
// Guards a listening port against floods of idle or slow peers (issue 7: "a peer that connects and
// sends nothing ... or opens thousands of connections is cut off quickly and logged; a real stub is not
// disturbed").
//
// admission_queue holds the connections that have not yet earned their place (a channel before its
// peer proved the run's secret, an HTTP connection before its request was read), oldest first. Past
// `limit` the oldest is cut to admit the newcomer: a real peer finishes its handshake in a round trip,
// so only connections that sit idle are ever old enough to be cut, and a flood can neither exhaust the
// file descriptors the run needs nor lock newcomers out. Sans-I/O: the caller passes a function that
// closes its connection.
//
// log_throttle keeps such a flood from flooding the log as well: `burst` lines per window; how many
// were left out is said by the next line after the window, or by whoever calls take_suppressed().
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>

namespace rty {

class admission_queue {
 public:
  explicit admission_queue(std::size_t limit) : limit_(limit ? limit : 1) {}

  // Admits connection `id` (ids must grow: they order the queue); cuts the oldest ones past the limit.
  void admit(std::uint64_t id, std::function<void()> close) {
    while (pending_.size() >= limit_) evict_oldest();
    pending_.emplace(id, std::move(close));
  }
  // The connection earned its place, or is gone: it is no longer a candidate for eviction.
  void settle(std::uint64_t id) { pending_.erase(id); }
  // Cuts the oldest pending connection (also when the process runs out of file descriptors); false
  // when there is none.
  bool evict_oldest() {
    if (pending_.empty()) return false;
    auto close = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    ++evicted_;
    if (close) close();
    return true;
  }
  std::size_t size() const { return pending_.size(); }
  std::size_t limit() const { return limit_; }
  std::uint64_t evicted() const { return evicted_; }

 private:
  std::size_t limit_;
  std::map<std::uint64_t, std::function<void()>> pending_;
  std::uint64_t evicted_ = 0;
};

class log_throttle {
 public:
  using clock = std::chrono::steady_clock;
  log_throttle(std::size_t burst, clock::duration window) : burst_(burst), window_(window) {}

  struct verdict {
    bool log = false;             // write this event's line
    std::uint64_t suppressed = 0;  // lines left out in the window that just ended: say so first
    // The tail of this event's line that says so ("" when nothing was left out).
    std::string note() const {
      return suppressed ? " (" + std::to_string(suppressed) + " similar line(s) left out in the last minute)"
                        : std::string();
    }
  };
  verdict event(clock::time_point now) {
    verdict v;
    if (!started_ || now - window_start_ >= window_) {
      v.suppressed = suppressed_;
      suppressed_ = 0;
      in_window_ = 0;
      window_start_ = now;
      started_ = true;
    }
    if (in_window_ < burst_) {
      ++in_window_;
      v.log = true;
    } else {
      ++suppressed_;
    }
    return v;
  }
  // Lines left out so far in this window, now reported elsewhere (a periodic status line): they are
  // not counted again.
  std::uint64_t take_suppressed() { return std::exchange(suppressed_, 0); }

 private:
  std::size_t burst_;
  clock::duration window_;
  clock::time_point window_start_{};
  std::size_t in_window_ = 0;
  std::uint64_t suppressed_ = 0;
  bool started_ = false;
};

}  // namespace rty
