#pragma once
// Child processes without a shell: an argument vector, an optional working directory, extra
// environment variables, stdio redirected to files, and optionally a process group of its own so
// that the whole tree can be signalled. Reaping is left to the caller (the coordinator and the stub
// watch SIGCHLD on their event loop and call try_reap).
#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "common/error.hpp"

namespace rty::process {

struct spawn_options {
  std::vector<std::string> argv;                 // argv[0] is looked up in PATH when it has no '/'
  std::string cwd;                               // empty: inherit
  std::map<std::string, std::string> env_set;    // added to / replacing the inherited environment
  std::vector<std::string> env_unset;
  std::string stdin_path = "/dev/null";
  std::string stdout_path;                       // empty: inherit
  std::string stderr_path;                       // empty: inherit; "=stdout": same as stdout
  bool append_output = false;
  bool new_process_group = true;
  // Non-zero: the child gets this signal when raythenad dies, even by SIGKILL (PR_SET_PDEATHSIG), so
  // that a merge cannot outlive the run that started it and race the next run. It reaches the child
  // itself, not what the child starts; sent when the spawning thread ends (raythenad spawns from its
  // one event-loop thread, which lives as long as the process).
  int parent_death_signal = 0;
};

// Starts the child. On failure (e.g. the program does not exist) an error naming the program, with
// the errno as its code.
rty::result<pid_t> spawn(const spawn_options& options);

// Raises this process's open-files soft limit to its hard limit (at most 2^20), for a coordinator
// that holds a channel per node. Children started by spawn() get the limit the process had before:
// software that walks every descriptor up to the limit, or srun propagating it to nodes with a lower
// hard limit, must not pay for the coordinator's need. Returns {before, after}; nullopt when nothing
// changed (already at the top). spawn() then briefly lowers the limit around the fork, so only the thread that spawns may
// open files meanwhile (true of raythenad's event loop).
struct open_files_limits {
  unsigned long long before = 0, after = 0;
};
rty::result<std::optional<open_files_limits>> raise_open_files_limit();

struct exit_status {
  int code = -1;    // exit code when exited normally, else -1
  int signal = 0;   // terminating signal, 0 when exited normally
  bool exited_normally() const { return signal == 0; }
  // 0..255 for a normal exit, 128+signal for a signal, like a shell's $?
  int shell_code() const { return signal ? 128 + signal : code; }
};

// Non-blocking: the status if `pid` has ended (and is now reaped), nullopt if it still runs.
std::optional<exit_status> try_reap(pid_t pid);

// Blocking wait (tests and tools only).
exit_status wait(pid_t pid);

// Signals the process group led by `pid` (falls back to the process itself only when the group exists
// but may not be signalled; a group that is gone is left alone, its pid may have been reused).
void signal_group(pid_t pid, int sig);

std::string describe(const exit_status& status);

}  // namespace rty::process
