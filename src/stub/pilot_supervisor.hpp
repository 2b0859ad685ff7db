#pragma once
// The stub's decisions about its pilot process, without processes, signals or timers: when a pilot may
// start, what a stop or drain from the coordinator does, when the kill file is written, and what the
// stub does when its pilot ends or its channel is lost. The I/O shell (stub.cpp) reports events here
// and carries out what the supervisor asks of its pilot_actions.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/messages.hpp"

namespace rty::stub {

// What the supervisor asks of the shell. Each call is one action; the shell does it and reports back.
class pilot_actions {
 public:
  virtual ~pilot_actions() = default;
  virtual void write_kill_file(const std::string& why) = 0;        // pilot stops after its current ranges
  virtual void wind_down(std::chrono::seconds grace) = 0;          // terminate(...) when `grace` is over
  virtual void signal_pilot(const std::string& why) = 0;           // SIGTERM the group, SIGKILL 5 s later
  virtual void arm_grace(std::chrono::seconds grace, const std::string& why) = 0;  // then terminate(...)
  virtual void finish(int exit_code) = 0;                          // the stub ends (called once)
};

class pilot_supervisor {
 public:
  explicit pilot_supervisor(pilot_actions& io) : io_(io) {}

  // --- pilot life ---
  void pilot_started() {
    running_ = true;
    started_once_ = true;
  }
  // A payload could not be started: a node that never ran a pilot is no use (exit 3); after a later
  // attempt the node stays without a pilot (the coordinator counts the attempt).
  void launch_failed();
  // The pilot ended. A pilot that ends while the node stops (or its coordinator is gone) is the
  // node's last; otherwise the stub waits for start_pilot or stop.
  void pilot_exited();
  // start_pilot for `attempt`: nullopt when it may start, else why it is ignored.
  std::optional<std::string> refuse_attempt() const;

  // --- the coordinator and signals ---
  void stop(const protocol::stop& stop);
  void write_kill_file(const std::string& why);  // once; the node stops after this pilot
  void wind_down(std::chrono::seconds grace);
  void terminate(const std::string& why);
  void channel_lost(std::chrono::seconds grace, const std::string& why);
  void finish(int exit_code);  // the stub ends: once, whatever asks first

  bool running() const { return running_; }
  bool stopping() const { return stopping_; }
  bool released() const { return released_; }
  bool channel_gone() const { return channel_gone_; }
  bool ended() const { return ended_; }

  // --- timing decisions ---
  // How long until the kill file goes in before walltime (`kill_at`, epoch seconds; <= 0: none):
  // nullopt for no kill file, zero when the time is past.
  static std::optional<std::chrono::system_clock::duration> kill_delay(std::int64_t kill_at,
                                                                       std::chrono::system_clock::time_point now);
  // How long the fork guard waits between SIGTERM and SIGKILL of an orphaned pilot: ray.stubgrace,
  // 1 s to 1 h.
  static unsigned guard_grace(std::int64_t grace_s);

 private:
  pilot_actions& io_;
  bool running_ = false;
  bool started_once_ = false;
  bool stopping_ = false;      // the coordinator or a signal stops this node: no waiting for new work
  bool released_ = false;      // the coordinator sent stop (not a drain): its closing the channel is no loss
  bool channel_gone_ = false;
  bool kill_written_ = false;
  bool ended_ = false;
};

}  // namespace rty::stub
