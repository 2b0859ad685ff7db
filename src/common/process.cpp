#include "common/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace rty::process {

namespace {
rlim_t child_open_files = 0;  // 0: children inherit the current limit
}  // namespace

rty::result<std::optional<open_files_limits>> raise_open_files_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    const int e = errno;
    return rty::fail(std::error_code(e, std::generic_category()), std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(e));
  }
  const rlim_t before = rl.rlim_cur;
  const rlim_t target = rl.rlim_max == RLIM_INFINITY ? std::max<rlim_t>(before, rlim_t{1} << 20) : rl.rlim_max;
  if (before >= target) return std::optional<open_files_limits>();
  rl.rlim_cur = target;
  if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) {
    const int e = errno;
    return rty::fail(std::error_code(e, std::generic_category()),
                     "open files limit stays " + std::to_string(before) + ": " + std::strerror(e));
  }
  child_open_files = before;
  return std::optional<open_files_limits>(open_files_limits{before, target});
}

namespace {
// What a vfork'ed child needs, prepared by the parent: the child may only make system calls.
struct child_plan {
  char* const* argv;
  char* const* envp;
  const char* cwd;       // nullptr: inherit
  const char* in_path;   // nullptr: inherit
  const char* out_path;
  const char* err_path;
  bool err_to_out;
  int out_flags;
  bool new_process_group;
  int parent_death_signal;
  pid_t parent;
  bool path_lookup;
  rlim_t open_files;     // 0: keep
  volatile int error;    // errno of the step that failed, written by the child before it exits
};

[[noreturn]] void child_failed(child_plan* plan) noexcept {
  plan->error = errno ? errno : EINVAL;
  ::_exit(127);
}

[[noreturn]] void run_child(child_plan* plan) noexcept {
  // The same set-up as the posix_spawn path: own group, default signals, stdio only, then exec.
  auto die = [plan]() { child_failed(plan); };
  if (plan->new_process_group && ::setpgid(0, 0) != 0) die();
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &dfl, nullptr);
  if (plan->parent_death_signal) {
    if (::prctl(PR_SET_PDEATHSIG, plan->parent_death_signal) != 0) die();
    // The parent may have died before prctl: then nobody would send the signal.
    if (::getppid() != plan->parent) ::_exit(128 + plan->parent_death_signal);
  }
  if (plan->open_files) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) {
      rl.rlim_cur = plan->open_files;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  if (plan->cwd && ::chdir(plan->cwd) != 0) die();
  auto redirect = [&](const char* path, int flags, int target) {
    int fd = ::open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0) die();
    if (::dup2(fd, target) < 0) die();
    ::close(fd);
  };
  if (plan->in_path) redirect(plan->in_path, O_RDONLY, STDIN_FILENO);
  if (plan->out_path) redirect(plan->out_path, plan->out_flags, STDOUT_FILENO);
  if (plan->err_to_out) {
    if (::dup2(STDOUT_FILENO, STDERR_FILENO) < 0) die();
  } else if (plan->err_path) {
    redirect(plan->err_path, plan->out_flags, STDERR_FILENO);
  }
  ::close_range(3, ~0U, 0);
  sigset_t empty;
  sigemptyset(&empty);
  ::sigprocmask(SIG_SETMASK, &empty, nullptr);
  if (plan->path_lookup)
    ::execvpe(plan->argv[0], plan->argv, plan->envp);
  else
    ::execve(plan->argv[0], plan->argv, plan->envp);
  child_failed(plan);
}

// vfork, not fork: the coordinator may hold gigabytes, and posix_spawn cannot set a parent-death
// signal. The parent is suspended until the child execs or exits, so `plan` stays valid.
pid_t vfork_child(child_plan* plan) {
  pid_t pid = ::vfork();
  if (pid == 0) run_child(plan);
  return pid;
}

// The child's environment: ours, minus env_unset, plus env_set, as "NAME=value" strings.
std::vector<std::string> child_environment(const spawn_options& options) {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  for (auto& name : options.env_unset) env.erase(name);
  for (auto& [k, v] : options.env_set) env[k] = v;
  std::vector<std::string> env_strings;
  env_strings.reserve(env.size());
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  return env_strings;
}

// A null-terminated char* array over `strings` (which must outlive it).
std::vector<char*> c_string_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

rty::error cannot_start(const spawn_options& options, int err) {
  return rty::fail(std::error_code(err, std::generic_category()),
                   "cannot start '" + options.argv[0] + "': " + std::strerror(err));
}

// With a parent-death signal: vfork + exec, the child set up by run_child.
rty::result<pid_t> spawn_with_parent_death(const spawn_options& options, char** argv, char** envp) {
  child_plan plan{};
  plan.argv = argv;
  plan.envp = envp;
  plan.cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();
  plan.in_path = options.stdin_path.empty() ? nullptr : options.stdin_path.c_str();
  plan.out_path = options.stdout_path.empty() ? nullptr : options.stdout_path.c_str();
  plan.err_to_out = options.stderr_path == "=stdout";
  plan.err_path = plan.err_to_out || options.stderr_path.empty() ? nullptr : options.stderr_path.c_str();
  plan.out_flags = O_WRONLY | O_CREAT | (options.append_output ? O_APPEND : O_TRUNC);
  plan.new_process_group = options.new_process_group;
  plan.parent_death_signal = options.parent_death_signal;
  plan.parent = ::getpid();
  plan.path_lookup = options.argv[0].find('/') == std::string::npos;
  plan.open_files = child_open_files;
  plan.error = 0;
  // No handler of ours may run in the child before it has reset them all.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = vfork_child(&plan);
  const int spawn_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0) return cannot_start(options, spawn_errno);
  if (plan.error != 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return cannot_start(options, plan.error);
  }
  return pid;
}

// The child's attributes: its own process group if asked, no signal blocked, every disposition default.
void init_spawn_attributes(const spawn_options& options, posix_spawnattr_t& attr) {
  posix_spawnattr_init(&attr);
  short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
  if (options.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, flags);
}

// The child's working directory and stdio redirections.
void init_file_actions(const spawn_options& options, posix_spawn_file_actions_t& actions) {
  posix_spawn_file_actions_init(&actions);
  // Children get stdio only: the coordinator's listening and channel sockets must not live on in a
  // stub, a pilot or a merge (a dead peer would then look alive until the heartbeat timeout).
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  int out_flags = O_WRONLY | O_CREAT | (options.append_output ? O_APPEND : O_TRUNC);
  if (!options.stdin_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, options.stdin_path.c_str(), O_RDONLY, 0);
  if (!options.stdout_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, options.stdout_path.c_str(), out_flags, 0644);
  if (options.stderr_path == "=stdout")
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  else if (!options.stderr_path.empty())
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, options.stderr_path.c_str(), out_flags, 0644);
}

// Without a parent-death signal: posix_spawn, with the open-files limit lowered around it if set.
rty::result<pid_t> spawn_posix(const spawn_options& options, char** argv, char** envp) {
  posix_spawn_file_actions_t actions;
  init_file_actions(options, actions);
  posix_spawnattr_t attr;
  init_spawn_attributes(options, attr);

  pid_t pid = -1;
  int rc;
  rlimit own{};
  bool lowered = false;
  if (child_open_files != 0 && ::getrlimit(RLIMIT_NOFILE, &own) == 0 && own.rlim_cur != child_open_files) {
    const rlimit for_child{child_open_files, own.rlim_max};
    lowered = ::setrlimit(RLIMIT_NOFILE, &for_child) == 0;
  }
  if (options.argv[0].find('/') == std::string::npos)
    rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, envp);
  else
    rc = posix_spawn(&pid, argv[0], &actions, &attr, argv, envp);
  if (lowered) ::setrlimit(RLIMIT_NOFILE, &own);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return cannot_start(options, rc);
  return pid;
}
}  // namespace

rty::result<pid_t> spawn(const spawn_options& options) {
  if (options.argv.empty()) return rty::fail("empty command");
  std::vector<std::string> env_strings = child_environment(options);
  std::vector<char*> envp = c_string_array(env_strings);
  std::vector<std::string> argv_copy = options.argv;
  std::vector<char*> argv = c_string_array(argv_copy);
  if (options.parent_death_signal != 0) return spawn_with_parent_death(options, argv.data(), envp.data());
  return spawn_posix(options, argv.data(), envp.data());
}

namespace {
exit_status from_wait_status(int status) {
  exit_status s;
  if (WIFEXITED(status)) {
    s.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    s.signal = WTERMSIG(status);
  }
  return s;
}
}  // namespace

std::optional<exit_status> try_reap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid) return from_wait_status(status);
  if (r < 0 && errno == ECHILD) return exit_status{};  // already reaped elsewhere: unknown status
  return std::nullopt;
}

exit_status wait(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r != pid) return exit_status{};
  return from_wait_status(status);
}

void signal_group(pid_t pid, int sig) {
  if (pid <= 0) return;
  // No such group means the leader is gone: signalling the bare pid could hit a reused one.
  if (::kill(-pid, sig) != 0 && errno != ESRCH) ::kill(pid, sig);
}

std::string describe(const exit_status& status) {
  if (status.signal) return std::string("killed by signal ") + std::to_string(status.signal) + " (" + ::strsignal(status.signal) + ")";
  if (status.code < 0) return "exit status unknown";
  return "exit code " + std::to_string(status.code);
}

}  // namespace rty::process
