// LD_PRELOAD shim for the fault-injection tests (tests/faults/run_faults.py, scenario
// kill_in_final_renames): the process that loads it SIGKILLs itself at the Nth rename whose
// destination lies in a "/final/" directory, so that a crash lands in the middle of the end-of-job
// renames (merge/final_renames.cpp) at the same point on every run, with no test code in raythenad.
//
//   RTY_RENAME_KILL_AT=N        the Nth such rename of this process (1-based); unset or 0: never
//   RTY_RENAME_KILL_WHEN=before the process dies instead of doing it (its commit-log line is written,
//                               the file is not renamed: the window the commit log exists for)
//   RTY_RENAME_KILL_WHEN=after  (default) the rename is done, then the process dies
//
// A second fault, for scenario final_checkpoint_fails:
//   RTY_RENAME_FAIL_STATE=<n>   once n renames into a final/ directory have succeeded (the job's n merged
//                               outputs published), every rename onto ".../state.json" fails with ENOSPC:
//                               the disk fills at the end of a complete run, so its final checkpoint (and
//                               a merge result's, if one comes after the last output) cannot be written
//
// LD_PRELOAD is taken out of the environment at load time, so that the processes raythenad starts
// (stubs, pilots, merge transforms) run without the shim.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long kill_at;
static int kill_before;
static long seen;
static long fail_state_after;  // RTY_RENAME_FAIL_STATE: published outputs before state.json renames fail
static long published;         // renames into a final/ directory that succeeded

__attribute__((constructor)) static void rename_kill_init(void) {
  const char* n = getenv("RTY_RENAME_KILL_AT");
  const char* when = getenv("RTY_RENAME_KILL_WHEN");
  kill_at = n ? strtol(n, NULL, 10) : 0;
  kill_before = when && strcmp(when, "before") == 0;
  const char* f = getenv("RTY_RENAME_FAIL_STATE");
  fail_state_after = f ? strtol(f, NULL, 10) : 0;
  unsetenv("LD_PRELOAD");
}

static void die(const char* to, const char* when) {
  char line[512];
  int len = snprintf(line, sizeof line, "rename_kill: SIGKILL %s rename #%ld into %s\n", when, seen, to);
  if (len > 0) (void)!write(STDERR_FILENO, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
  raise(SIGKILL);
}

// 1 when this call is the one to die at (counted only for destinations in a final/ directory).
static int is_target(const char* to) {
  if (kill_at <= 0 || to == NULL || strstr(to, "/final/") == NULL) return 0;
  return ++seen == kill_at;
}

static int ends_with(const char* s, const char* suffix) {
  size_t n = s ? strlen(s) : 0, m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

#define WRAP(call, to)                                                  \
  do {                                                                  \
    if (fail_state_after > 0 && published >= fail_state_after &&       \
        ends_with(to, "/state.json")) {                                 \
      errno = ENOSPC;                                                   \
      return -1;                                                        \
    }                                                                   \
    int target = is_target(to);                                         \
    if (target && kill_before) die(to, "before");                       \
    int rc = (call);                                                    \
    if (target) die(to, "after");                                       \
    if (rc == 0 && to && strstr(to, "/final/")) ++published;           \
    return rc;                                                          \
  } while (0)

int rename(const char* from, const char* to) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "rename");
  WRAP(real(from, to), to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  static int (*real)(int, const char*, int, const char*);
  if (!real) real = (int (*)(int, const char*, int, const char*))dlsym(RTLD_NEXT, "renameat");
  WRAP(real(fromfd, from, tofd, to), to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned int flags) {
  static int (*real)(int, const char*, int, const char*, unsigned int);
  if (!real) real = (int (*)(int, const char*, int, const char*, unsigned int))dlsym(RTLD_NEXT, "renameat2");
  WRAP(real(fromfd, from, tofd, to, flags), to);
}
