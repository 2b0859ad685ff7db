#include "stub/pilot_supervisor.hpp"

#include <algorithm>

namespace rty::stub {

void pilot_supervisor::launch_failed() {
  if (!started_once_) finish(3);
}

void pilot_supervisor::pilot_exited() {
  running_ = false;
  // A pilot stopped because the coordinator is gone is no success.
  if (channel_gone_ || stopping_) finish(channel_gone_ && !released_ ? 1 : 0);
}

std::optional<std::string> pilot_supervisor::refuse_attempt() const {
  if (ended_) return std::string("the stub is ending");
  if (running_) return std::string("a pilot runs");
  if (kill_written_) return std::string("the kill file was written");
  return std::nullopt;
}

void pilot_supervisor::stop(const protocol::stop& stop) {
  if (!stop.drain) released_ = true;
  if (stop.drain && running_)
    write_kill_file("coordinator drain");
  else if (!stop.drain && running_ && stop.grace_s > 0)
    wind_down(std::chrono::seconds(stop.grace_s));
  else
    terminate(stop.drain ? "coordinator drain" : "coordinator stop");  // no pilot: the stub ends
}

void pilot_supervisor::write_kill_file(const std::string& why) {
  stopping_ = true;  // the pilot that ends after this one is the node's last
  if (kill_written_) return;
  kill_written_ = true;
  io_.write_kill_file(why);
}

void pilot_supervisor::wind_down(std::chrono::seconds grace) {
  stopping_ = true;
  io_.wind_down(grace);
}

void pilot_supervisor::terminate(const std::string& why) {
  stopping_ = true;
  if (!running_)
    finish(channel_gone_ ? 1 : 0);
  else
    io_.signal_pilot(why);
}

void pilot_supervisor::channel_lost(std::chrono::seconds grace, const std::string& why) {
  if (channel_gone_ || ended_) return;
  channel_gone_ = true;
  if (released_) {
    // The coordinator let this node go and closed the channel: expected, pilot is ending or stopped.
    if (!running_) finish(0);
    return;
  }
  io_.arm_grace(grace, why);
  if (!running_) finish(1);
}

void pilot_supervisor::finish(int exit_code) {
  if (ended_) return;
  ended_ = true;
  io_.finish(exit_code);
}

std::optional<std::chrono::system_clock::duration> pilot_supervisor::kill_delay(
    std::int64_t kill_at, std::chrono::system_clock::time_point now) {
  if (kill_at <= 0) return std::nullopt;
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(kill_at));
  return std::max<std::chrono::system_clock::duration>(when - now, std::chrono::system_clock::duration::zero());
}

unsigned pilot_supervisor::guard_grace(std::int64_t grace_s) {
  return static_cast<unsigned>(std::clamp<std::int64_t>(grace_s, 1, 3600));
}

}  // namespace rty::stub
