#pragma once
// The coordinator's child processes: merge transforms (merge runner) and the stubs the local and
// srun launchers started. No Asio: the daemon calls reap() on SIGCHLD and hands merge exits to the
// engine; at the end of the run wind_down_round() says what to do with those still running.
#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/process.hpp"
#include "launch/launcher.hpp"
#include "merge/merge_command.hpp"

namespace rty::coordinator {

struct merge_exit {
  std::string output;  // the merge's output name, as engine::merge_exited expects it
  process::exit_status status;
};

// Prepares a merge's work directory (a local merge's, or a remote one's on the shared filesystem);
// false, with the reason logged, when it cannot.
bool prepare_merge_dir(const merge::merge_command& command);

class child_processes {
 public:
  // Prepares the merge's work directory and starts the transform in its own process group, killed
  // if raythenad dies; false (with the reason logged) when it could not start.
  bool start_merge(const merge::merge_command& command);
  // A stub process the launcher started (pid > 0).
  void add_stub(const launch::started& stub);
  // What a launcher started: each failure and each stub logged, the stubs added; false if none started.
  bool add_launched(const launch::launch_result& result);
  // Reaps every child that ended: merge exits are returned, stub exits are logged (with their log).
  std::vector<merge_exit> reap();
  // Reaps what ended, without reporting it (the run is over).
  void reap_quietly();
  void signal_merges(int sig);
  void signal_all(int sig);

  bool stubs_left() const { return !stubs_.empty(); }
  bool empty() const { return stubs_.empty() && merges_.empty(); }
  std::size_t merges_running() const { return merges_.size(); }

 private:
  std::map<pid_t, launch::started> stubs_;
  std::map<pid_t, std::string> merges_;
};

// At the end of a run the daemon looks at its children every `round` (100 ms): they get a few
// seconds to exit by themselves (pilots still running get `pilot_wind_down` more), then a SIGTERM
// (terminate: stubs through their launcher, merges' process groups), and five seconds later whatever
// is left is killed and the run ends.
enum class wind_down_action { wait, terminate, kill_and_finish };
wind_down_action wind_down_round(int round, bool children_left, std::chrono::seconds pilot_wind_down);
inline constexpr std::chrono::milliseconds wind_down_round_length{100};

}  // namespace rty::coordinator
