#define BOOST_TEST_MODULE common
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/dir_policy.hpp"
#include "common/error.hpp"
#include "common/host_port.hpp"
#include "net/admission.hpp"
#include "common/event_range.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"
#include "common/run_registry.hpp"
#include "common/safe_name.hpp"
#include "common/task_lock.hpp"

namespace fs = std::filesystem;

namespace {
struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "rty-test-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { fs::remove_all(path); }
};
}  // namespace

BOOST_AUTO_TEST_CASE(expand_vars_like_python) {
  ::setenv("RTY_T_A", "/scratch/a", 1);
  ::unsetenv("RTY_T_MISSING");
  BOOST_TEST(rty::file::expand_vars("$RTY_T_A/x") == "/scratch/a/x");
  BOOST_TEST(rty::file::expand_vars("${RTY_T_A}y") == "/scratch/ay");
  BOOST_TEST(rty::file::expand_vars("$RTY_T_MISSING/z") == "$RTY_T_MISSING/z");
  BOOST_TEST(rty::file::expand_vars("${RTY_T_MISSING}") == "${RTY_T_MISSING}");
  BOOST_TEST(rty::file::expand_vars("cost $5 and ${unterminated") == "cost $5 and ${unterminated");
  BOOST_TEST(rty::file::expand_vars("a$") == "a$");
}

BOOST_AUTO_TEST_CASE(join_keeps_absolute) {
  BOOST_TEST(rty::file::join("/hv", "HPCJobs.json") == "/hv/HPCJobs.json");
  BOOST_TEST(rty::file::join("/hv/", "x") == "/hv/x");
  BOOST_TEST(rty::file::join("/hv", "/abs/x") == "/abs/x");
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_and_leaves_no_tmp) {
  temp_dir d;
  auto p = (d.path / "state.json").string();
  BOOST_TEST(rty::file::write_atomic(p, "one"));
  BOOST_TEST(rty::file::write_atomic(p, "two"));
  BOOST_TEST(*rty::file::read_all(p) == "two");
  BOOST_TEST(!fs::exists(p + ".tmp"));
}

BOOST_AUTO_TEST_CASE(atomic_write_failure_keeps_previous) {
  if (::geteuid() == 0) {
    // root ignores directory permissions; use a path whose directory does not exist instead
  }
  temp_dir d;
  auto p = (d.path / "missing-dir" / "state.json").string();
  auto r = rty::file::write_atomic(p, "x");
  BOOST_TEST(!r);
  BOOST_TEST(static_cast<bool>(r.error().code()));  // the errno of the step that failed
  BOOST_TEST(r.error().message().find("missing-dir") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(read_json_errors_name_the_file) {
  temp_dir d;
  auto p = (d.path / "bad.json").string();
  BOOST_TEST(rty::file::write_atomic(p, "{\"a\": [1, 2"));
  auto bad = rty::json::read_file(p);
  BOOST_TEST(!bad);
  BOOST_TEST(bad.error().message().find(p) != std::string::npos);
  BOOST_TEST(bad.error().message().find("malformed JSON") != std::string::npos);
  auto missing = rty::json::read_file((d.path / "nope.json").string());
  BOOST_TEST(!missing);
  BOOST_TEST(missing.error().message().find("nope.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(lenient_json_accessors) {
  auto v = boost::json::parse(R"({"a": 12, "b": "34", "c": "x", "d": 6000000001})").as_object();
  BOOST_TEST(*rty::json::get_int(v, "a") == 12);
  BOOST_TEST(*rty::json::get_int(v, "b") == 34);
  BOOST_TEST(!rty::json::get_int(v, "c"));
  BOOST_TEST(*rty::json::get_string(v, "d") == "6000000001");
  BOOST_TEST(!rty::json::get_string(v, "missing"));
  // Doubles: whole numbers in range are integers; huge or fractional ones, NaN-like input are not
  // (1e300 used to be cast before its range was checked: undefined behaviour, found by fuzzing).
  auto d = boost::json::parse(R"({"w": 12.0, "f": 1.5, "huge": 1e300, "neg": -1e300, "edge": 9223372036854775808.0})")
               .as_object();
  BOOST_TEST(*rty::json::get_int(d, "w") == 12);
  BOOST_TEST(!rty::json::get_int(d, "f"));
  BOOST_TEST(!rty::json::get_int(d, "huge"));
  BOOST_TEST(!rty::json::get_int(d, "neg"));
  BOOST_TEST(!rty::json::get_int(d, "edge"));
}

BOOST_AUTO_TEST_CASE(log_levels_parse) {
  rty::log::level l;
  BOOST_TEST(rty::log::parse_level("DEBUG", l));
  BOOST_TEST((l == rty::log::level::debug));
  BOOST_TEST(rty::log::parse_level("warning", l));
  BOOST_TEST((l == rty::log::level::warning));
  BOOST_TEST(!rty::log::parse_level("loud", l));
}

BOOST_AUTO_TEST_CASE(log_to_file_has_utc_level_component) {
  temp_dir d;
  auto p = (d.path / "driver.log").string();
  BOOST_REQUIRE(rty::log::set_file(p));
  rty::log::set_level(rty::log::level::info);
  RTY_LOG(info, "Driver") << "hello " << 42;
  RTY_LOG(debug, "Driver") << "hidden";
  rty::log::set_stderr();
  auto text = *rty::file::read_all(p);
  BOOST_TEST(text.find(" | INFO | Driver | hello 42\n") != std::string::npos);
  BOOST_TEST(text.find("hidden") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(spawn_reports_exit_code_signal_and_missing_program) {
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "exit 7"};
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE(pid);
  auto st = rty::process::wait(*pid);
  BOOST_TEST(st.code == 7);
  o.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  pid = rty::process::spawn(o);
  BOOST_REQUIRE(pid);
  st = rty::process::wait(*pid);
  BOOST_TEST(st.signal == SIGTERM);
  BOOST_TEST(st.shell_code() == 143);
  o.argv = {"/nonexistent/program"};
  pid = rty::process::spawn(o);
  if (pid) {
    // glibc's posix_spawn reports exec failure through the exit status 127
    BOOST_TEST(rty::process::wait(*pid).code == 127);
  } else {
    BOOST_TEST(pid.error().message().find("/nonexistent/program") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(spawn_redirects_and_sets_env_and_cwd) {
  temp_dir d;
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "echo \"$RTY_T_X\"; pwd; echo oops >&2"};
  o.env_set["RTY_T_X"] = "value";
  o.cwd = d.path.string();
  o.stdout_path = (d.path / "out").string();
  o.stderr_path = (d.path / "err").string();
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE(pid);
  BOOST_TEST(rty::process::wait(*pid).code == 0);
  BOOST_TEST(*rty::file::read_all((d.path / "out").string()) == "value\n" + d.path.string() + "\n");
  BOOST_TEST(*rty::file::read_all((d.path / "err").string()) == "oops\n");
}

BOOST_AUTO_TEST_CASE(range_status_round_trip) {
  for (auto s : {rty::range_status::running, rty::range_status::finished, rty::range_status::failed, rty::range_status::fatal})
    BOOST_TEST((rty::parse_range_status(rty::to_string(s)) == s));
  BOOST_TEST(!rty::parse_range_status("done"));
}

BOOST_AUTO_TEST_CASE(admission_queue_cuts_the_oldest_past_its_limit) {
  rty::admission_queue q(3);
  std::vector<int> closed;
  for (int i = 1; i <= 3; ++i) q.admit(i, [&closed, i] { closed.push_back(i); });
  BOOST_TEST(closed.empty());
  q.settle(2);  // proved itself: never cut
  q.admit(4, [&closed] { closed.push_back(4); });
  BOOST_TEST(closed.empty());  // 1, 3, 4 pending: at the limit, not past it
  q.admit(5, [&closed] { closed.push_back(5); });
  BOOST_TEST(closed == std::vector<int>{1});
  BOOST_TEST(q.size() == 3u);
  BOOST_TEST(q.evict_oldest());  // out of file descriptors: the oldest goes
  BOOST_TEST((closed == std::vector<int>{1, 3}));
  q.settle(4);
  q.settle(5);
  BOOST_TEST(!q.evict_oldest());
  BOOST_TEST(q.evicted() == 2u);
  rty::admission_queue zero(0);  // a limit of 0 would admit nobody: it means 1
  zero.admit(1, nullptr);
  BOOST_TEST(zero.size() == 1u);
}

BOOST_AUTO_TEST_CASE(log_throttle_lets_a_burst_through_then_counts) {
  using namespace std::chrono_literals;
  rty::log_throttle t(2, 10s);
  auto t0 = rty::log_throttle::clock::time_point{} + 1h;
  BOOST_TEST(t.event(t0).log);
  BOOST_TEST(t.event(t0 + 1s).log);
  for (int i = 0; i < 5; ++i) BOOST_TEST(!t.event(t0 + 2s).log);
  auto next = t.event(t0 + 10s);  // a new window: the count of what was left out comes first
  BOOST_TEST(next.log);
  BOOST_TEST(next.suppressed == 5u);
  BOOST_TEST(next.note() == " (5 similar line(s) left out in the last minute)");
  BOOST_TEST(rty::log_throttle::verdict{}.note().empty());
  BOOST_TEST(t.event(t0 + 11s).suppressed == 0u);
  BOOST_TEST(!t.event(t0 + 12s).log);
  BOOST_TEST(t.take_suppressed() == 1u);  // reported by a status line: not again by the next window
  BOOST_TEST(t.event(t0 + 20s).suppressed == 0u);
}

BOOST_AUTO_TEST_CASE(raised_open_files_limit_is_not_inherited_by_children) {
  rlimit original{};
  BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &original) == 0);
  if (original.rlim_max != RLIM_INFINITY && original.rlim_max <= 300) return;  // nothing to raise to
  const rlimit low{256, original.rlim_max};
  BOOST_REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  auto raised_or_error = rty::process::raise_open_files_limit();
  BOOST_REQUIRE_MESSAGE(raised_or_error, raised_or_error.error());
  auto raised = *raised_or_error;
  BOOST_REQUIRE(raised);
  BOOST_TEST(raised->before == 256u);
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  BOOST_TEST(now.rlim_cur == raised->after);
  BOOST_TEST(raised->after > 256u);
  temp_dir t;
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "ulimit -n"};
  o.stdout_path = (t.path / "limit").string();
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE_MESSAGE(pid, pid.error());
  BOOST_TEST(rty::process::wait(*pid).code == 0);
  BOOST_TEST(*rty::file::read_all(o.stdout_path) == "256\n");  // the child: the limit from before
  ::getrlimit(RLIMIT_NOFILE, &now);
  BOOST_TEST(now.rlim_cur == raised->after);  // the parent keeps the raised one
  auto again = rty::process::raise_open_files_limit();
  BOOST_REQUIRE(again);
  BOOST_TEST(!*again);  // already at the top: nothing to do
  ::setrlimit(RLIMIT_NOFILE, &original);
}

// Issue 13 item 5: the one check for names that become path components.
BOOST_AUTO_TEST_CASE(safe_name_refuses_what_could_leave_the_directory) {
  using rty::names::is_safe;
  for (std::string_view ok : {"HITS.pool.root.1", "EVNT.40000000._000001.pool.root.1", "a..b", "x..", "..y", "...",
                              "5CB58585-2D19-4FB5-91BA-4BFF2E8F1000", "with blank", ".hidden"})
    BOOST_TEST(is_safe(ok), ok);
  for (std::string_view bad : {"", ".", "..", "a/b", "/abs", "HITS/../../x", "dir/"}) BOOST_TEST(!is_safe(bad), bad);
  BOOST_TEST(!is_safe(std::string_view("a\0b", 3)));
  BOOST_TEST(!is_safe("a\nb"));
  BOOST_TEST(!is_safe("a\tb"));
  BOOST_TEST(!is_safe("a\x7f"));
  BOOST_TEST(is_safe(std::string(255, 'x')));
  BOOST_TEST(!is_safe(std::string(256, 'x')));
  BOOST_TEST(*rty::names::why_unsafe("a/b") == "contains '/'");
}

BOOST_AUTO_TEST_CASE(safe_name_messages_escape_the_value) {
  BOOST_TEST(rty::names::escaped("a\nb'\\\x01") == "a\\nb\\'\\\\\\x01");
  BOOST_TEST(rty::names::escaped(std::string(300, 'x')).size() == 203u);
  auto m = rty::names::check("outFiles entry", "HITS/\n");
  BOOST_REQUIRE(m);
  BOOST_TEST(*m == "outFiles entry 'HITS/\\n' is not a usable file name (contains '/')");
  BOOST_TEST(!rty::names::check("x", "fine"));
}

BOOST_AUTO_TEST_CASE(safe_path_refuses_dotdot_components_and_control_characters) {
  using rty::names::why_unsafe_path;
  BOOST_TEST(!why_unsafe_path("/tasks/1/HITS.pool.root.1"));
  BOOST_TEST(!why_unsafe_path("rel/a..b"));
  BOOST_TEST(why_unsafe_path("/tasks/1/../../etc/x").has_value());
  BOOST_TEST(why_unsafe_path("..").has_value());
  BOOST_TEST(why_unsafe_path("a/..").has_value());
  BOOST_TEST(why_unsafe_path("/a\nb").has_value());
  BOOST_TEST(why_unsafe_path("").has_value());
}

// ---- issue 13: temporaries, directory policy, the task lock, parent-death signal ---------------------

BOOST_AUTO_TEST_CASE(atomic_write_never_writes_through_a_planted_tmp) {
  // Another user of a group-writable directory plants "<path>.tmp": a symlink to a file of theirs (or
  // ours, to clobber), and a hard link to a file they can read. Neither may receive the content.
  temp_dir d;
  const auto secret = (d.path / ".raythenad-secret").string();
  const auto victim = (d.path / "victim").string();
  BOOST_REQUIRE(rty::file::write_atomic(victim, "attacker's file\n"));
  fs::create_symlink(victim, secret + ".tmp");
  BOOST_TEST(rty::file::write_atomic(secret, "s3cret\n"));
  BOOST_TEST(*rty::file::read_all(victim) == "attacker's file\n");
  BOOST_TEST(!fs::is_symlink(secret));
  BOOST_TEST(*rty::file::read_all(secret) == "s3cret\n");
  BOOST_TEST(fs::is_symlink(secret + ".tmp"));  // not ours: left alone

  const auto script = (d.path / "payload.sh").string();
  fs::create_hard_link(victim, script + ".tmp");
  BOOST_TEST(rty::file::write_atomic(script, "#!/bin/sh\necho ours\n"));
  BOOST_TEST(*rty::file::read_all(victim) == "attacker's file\n");
  BOOST_TEST(fs::hard_link_count(script) == 1u);
  for (auto& e : fs::directory_iterator(d.path))
    BOOST_TEST(e.path().filename().string().find(".tmp.") == std::string::npos, "temporary left: " << e.path());
}

BOOST_AUTO_TEST_CASE(atomic_file_streams_and_discards_when_not_committed) {
  temp_dir d;
  const auto p = (d.path / "state.json").string();
  {
    rty::file::atomic_file f;
    BOOST_REQUIRE(f.open(p));
    BOOST_TEST(f.temp_path().rfind(p + ".tmp.", 0) == 0u);
    BOOST_TEST(f.temp_path().size() == p.size() + 5 + 16);
    BOOST_TEST(f.write("{\"a\":"));
    BOOST_TEST(f.write("1}"));
    BOOST_TEST(!fs::exists(p));
    BOOST_TEST(f.commit());
  }
  BOOST_TEST(*rty::file::read_all(p) == "{\"a\":1}");
  std::string temp;
  {
    rty::file::atomic_file f;
    BOOST_REQUIRE(f.open(p));
    temp = f.temp_path();
    BOOST_TEST(f.write("half"));
    BOOST_TEST(fs::exists(temp));
  }  // never committed: the temporary goes, the previous file stays
  BOOST_TEST(!fs::exists(temp));
  BOOST_TEST(*rty::file::read_all(p) == "{\"a\":1}");
  // Two temporaries for the same path do not collide.
  rty::file::atomic_file a, b;
  BOOST_REQUIRE(a.open(p));
  BOOST_REQUIRE(b.open(p));
  BOOST_TEST(a.temp_path() != b.temp_path());
}

BOOST_AUTO_TEST_CASE(stale_temporaries_of_a_killed_writer_are_removed_and_nothing_else) {
  temp_dir d;
  const auto p = (d.path / "state.json").string();
  std::string left;
  {
    rty::file::atomic_file f;  // what a SIGKILL between open() and commit() leaves
    BOOST_REQUIRE(f.open(p));
    left = f.temp_path();
    BOOST_REQUIRE(f.write("half"));
    BOOST_REQUIRE(fs::copy_file(left, left + ".keep"));
  }
  fs::rename(left + ".keep", left);
  const std::vector<std::string> kept = {
      "state.json", "state.json.tmp", "state.json.tmp.0123456789abcde",   // not 16 hex
      "state.json.tmp.0123456789ABCDEF", "EVNT.01-3.pool.root.1", ".tmp.0123456789abcdef",
      "link.tmp.0123456789abcdef"};
  for (const auto& k : kept)
    if (k != "link.tmp.0123456789abcdef") BOOST_REQUIRE(rty::file::write_atomic((d.path / k).string(), "x"));
  fs::create_symlink(d.path / "state.json", d.path / "link.tmp.0123456789abcdef");
  fs::create_directory(d.path / "dir.tmp.fedcba9876543210");
  BOOST_TEST(rty::file::remove_stale_temporaries(d.path.string()) == 1u);
  BOOST_TEST(!fs::exists(left));
  for (const auto& k : kept) BOOST_TEST(fs::exists(fs::symlink_status(d.path / k)), "removed: " << k);
  BOOST_TEST(fs::is_directory(d.path / "dir.tmp.fedcba9876543210"));
  BOOST_TEST(rty::file::remove_stale_temporaries((d.path / "missing").string()) == 0u);
}

BOOST_AUTO_TEST_CASE(dir_policy_refuses_others_write_and_foreign_owners) {
  using rty::file::unsafe_dir_reason;
  const unsigned me = 1000, other = 1001;
  BOOST_TEST(!unsafe_dir_reason("/w", me, S_IFDIR | 0755, me));
  BOOST_TEST(!unsafe_dir_reason("/w", me, S_IFDIR | 0775, me));   // group write stays allowed
  BOOST_TEST(!unsafe_dir_reason("/w", me, S_IFDIR | 02770, me));
  BOOST_TEST(!unsafe_dir_reason("/w", 0, S_IFDIR | 0755, me));    // root's: only root could plant
  auto ow = unsafe_dir_reason("/w", me, S_IFDIR | 0777, me, "alice");
  BOOST_REQUIRE(ow);
  BOOST_TEST(ow->find("writable by other users (owner alice (uid 1000), mode 0777)") != std::string::npos, *ow);
  BOOST_TEST(ow->find("chmod o-w /w") != std::string::npos, *ow);
  BOOST_TEST(unsafe_dir_reason("/w", me, S_IFDIR | 01777, me).has_value());  // sticky does not help
  BOOST_TEST(unsafe_dir_reason("/w", me, S_IFDIR | 0757, me).has_value());
  auto foreign = unsafe_dir_reason("/w", other, S_IFDIR | 0755, me);
  BOOST_REQUIRE(foreign);
  BOOST_TEST(foreign->find("owned by another user (owner uid 1001, mode 0755)") != std::string::npos, *foreign);
  BOOST_TEST(unsafe_dir_reason("/w", me, S_IFREG | 0644, me)->find("not a directory") != std::string::npos);

  temp_dir d;
  BOOST_TEST(!rty::file::check_dir_is_private("ray.workdir", (d.path / "not-yet").string()));
  fs::permissions(d.path, fs::perms::all);
  auto line = rty::file::check_dir_is_private("ray.workdir", d.path.string());
  BOOST_REQUIRE(line);
  BOOST_TEST(line->rfind("ray.workdir " + d.path.string() + " is writable by other users (owner ", 0) == 0u, *line);
  fs::permissions(d.path, fs::perms::owner_all | fs::perms::group_all);
  BOOST_TEST(!rty::file::check_dir_is_private("ray.workdir", d.path.string()));
}

BOOST_AUTO_TEST_CASE(task_lock_refuses_a_second_holder_naming_the_pid) {
  temp_dir d;
  BOOST_TEST(rty::file::lock_holder_pid("1234\n").value() == 1234);
  BOOST_TEST(!rty::file::lock_holder_pid(""));
  BOOST_TEST(!rty::file::lock_holder_pid("12x"));
  BOOST_TEST(rty::file::lock_holder_message("/o/raythenad.lock", "").find("pid unknown") != std::string::npos);
  {
    rty::file::task_lock first;
    BOOST_REQUIRE(first.acquire(d.path.string()));
    BOOST_TEST(*rty::file::read_all((d.path / "raythenad.lock").string()) == std::to_string(::getpid()) + "\n");
    // flock belongs to the open file: a second open, even in this process, is refused like another process.
    rty::file::task_lock second;
    auto refused = second.acquire(d.path.string());
    BOOST_TEST(!refused);
    BOOST_TEST((refused.error().code() == rty::file::task_lock::held_elsewhere));
    const std::string what = refused.error().message();
    BOOST_TEST(what.find("another raythenad (pid " + std::to_string(::getpid()) + ")") != std::string::npos, what);
    BOOST_TEST(what.find((d.path / "raythenad.lock").string()) != std::string::npos, what);
  }
  BOOST_TEST(!fs::exists(d.path / "raythenad.lock"));  // the holder removed it as it let go
  rty::file::task_lock again;
  BOOST_TEST(again.acquire(d.path.string()));
  // A symlink in its place is not followed.
  temp_dir e;
  fs::create_symlink(d.path / "elsewhere", e.path / "raythenad.lock");
  rty::file::task_lock planted;
  auto refused = planted.acquire(e.path.string());
  BOOST_TEST(!refused);
  BOOST_TEST(!refused.error().code());  // neither held elsewhere nor unsupported: an error
  BOOST_TEST(refused.error().message().find("cannot open the task lock") != std::string::npos, refused.error());
  BOOST_TEST(!fs::exists(d.path / "elsewhere"));
}

BOOST_AUTO_TEST_CASE(spawn_with_parent_death_signal_dies_with_its_parent) {
  // An intermediate process spawns `sleep` with a parent-death signal and exits: the sleep must die.
  // This test process is a subreaper so that the orphan comes back to it to be reaped.
  BOOST_REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  pid_t middle = ::fork();
  BOOST_REQUIRE(middle >= 0);
  if (middle == 0) {
    ::close(fds[0]);
    rty::process::spawn_options o;
    o.argv = {"sleep", "60"};
    o.parent_death_signal = SIGKILL;
    auto pid = rty::process::spawn(o);
    pid_t v = pid ? *pid : -1;
    (void)!::write(fds[1], &v, sizeof v);
    ::_exit(0);
  }
  ::close(fds[1]);
  pid_t sleeper = -1;
  BOOST_REQUIRE(::read(fds[0], &sleeper, sizeof sleeper) == static_cast<ssize_t>(sizeof sleeper));
  ::close(fds[0]);
  BOOST_REQUIRE(sleeper > 0);
  rty::process::wait(middle);
  std::optional<rty::process::exit_status> st;
  for (int i = 0; i < 200 && !st; ++i) {  // bounded: 10 s
    st = rty::process::try_reap(sleeper);
    if (!st) ::usleep(50000);
  }
  if (!st) {
    ::kill(sleeper, SIGKILL);
    rty::process::wait(sleeper);
  }
  BOOST_REQUIRE_MESSAGE(st, "the spawned process outlived its parent");
  BOOST_TEST(st->signal == SIGKILL);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

BOOST_AUTO_TEST_CASE(spawn_with_parent_death_signal_redirects_and_reports_errors) {
  temp_dir d;
  rty::process::spawn_options o;
  o.argv = {"sh", "-c", "echo \"$RTY_T_X\"; pwd; echo oops >&2; exit 3"};
  o.env_set["RTY_T_X"] = "value";
  o.cwd = d.path.string();
  o.stdout_path = (d.path / "out").string();
  o.stderr_path = "=stdout";
  o.parent_death_signal = SIGKILL;
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE_MESSAGE(pid, pid.error());
  BOOST_TEST(::getpgid(*pid) == *pid);
  BOOST_TEST(rty::process::wait(*pid).code == 3);
  BOOST_TEST(*rty::file::read_all((d.path / "out").string()) == "value\n" + d.path.string() + "\noops\n");
  o.argv = {"/nonexistent/program"};
  auto missing = rty::process::spawn(o);
  BOOST_REQUIRE(!missing);
  const std::string err = missing.error().message();
  BOOST_TEST(err.find("/nonexistent/program") != std::string::npos, err);
  BOOST_TEST(err.find("No such file") != std::string::npos, err);
  BOOST_TEST((missing.error().code() == std::errc::no_such_file_or_directory));
  o.argv = {"true"};
  o.cwd = (d.path / "missing").string();
  BOOST_TEST(!rty::process::spawn(o));
}

BOOST_AUTO_TEST_CASE(planted_files_and_run_dirs) {
  temp_dir d;
  const auto p = (d.path / "state.json.tmp").string();
  BOOST_TEST(!rty::file::planted_file(p));  // absent
  BOOST_REQUIRE(rty::file::write_atomic(p, "{}"));
  BOOST_TEST(!rty::file::planted_file(p));  // a plain file of ours
  fs::create_hard_link(p, d.path / "other-name");
  BOOST_TEST(rty::file::planted_file(p)->find("2 link(s)") != std::string::npos);
  fs::remove(d.path / "other-name");
  fs::remove(p);
  fs::create_symlink("/etc/passwd", p);
  BOOST_TEST(rty::file::planted_file(p)->find("a symlink") != std::string::npos);

  const auto task = d.path / "task", nodes = d.path / "nodes";
  fs::create_directories(task / "final");
  fs::create_directories(nodes / "local-0");
  fs::permissions(task, fs::perms::owner_all | fs::perms::group_all);
  fs::permissions(nodes, fs::perms::owner_all);
  BOOST_TEST(!rty::file::check_run_dirs(task.string(), nodes.string()));
  fs::permissions(nodes / "local-0", fs::perms::all);
  auto problem = rty::file::check_run_dirs(task.string(), nodes.string());
  BOOST_REQUIRE(problem);
  BOOST_TEST(problem->rfind("node directory " + (nodes / "local-0").string() + " is writable by other users", 0) == 0u,
             *problem);
  fs::permissions(nodes / "local-0", fs::perms::owner_all);
  fs::permissions(task / "final", fs::perms::all);
  BOOST_TEST(rty::file::check_run_dirs(task.string(), nodes.string())->find("task directory") == 0u);
}

BOOST_AUTO_TEST_CASE(host_port_parses_numeric_addresses_only) {
  auto v4 = rty::parse_host_port("10.0.0.1:4242");
  BOOST_REQUIRE(v4);
  BOOST_TEST(v4->host == "10.0.0.1");
  BOOST_TEST(v4->port == 4242);
  auto v6 = rty::parse_host_port("[::1]:9100");
  BOOST_REQUIRE(v6);
  BOOST_TEST(v6->host == "::1");
  BOOST_TEST(v6->v6);
  BOOST_TEST(rty::parse_host_port("127.0.0.1:0")->port == 0);
  // The stub's old parser took atoi of whatever followed the last colon: "1x" was port 1, "99999" wrapped.
  for (const char* bad : {"127.0.0.1:1x", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1", ":80", "host:80", "::1:80",
                          "[::1:80", "127.0.0.1:-1"})
    BOOST_TEST(!rty::parse_host_port(bad), bad);
}

BOOST_AUTO_TEST_CASE(run_registry_records_finds_and_forgets_by_job_id) {
  namespace reg = rty::registry;
  BOOST_TEST(reg::valid_slurm_job_id("123456"));
  BOOST_TEST(reg::valid_slurm_job_id("123456_7"));
  for (std::string bad : {"", "12a", "../1", "1/2", "1_", "_1", "1_2_3"}) BOOST_TEST(!reg::valid_slurm_job_id(bad), bad);

  BOOST_TEST(*reg::registry_dir({{"XDG_STATE_HOME", "/s"}, {"HOME", "/h"}}) == "/s/raythenad/jobs");
  BOOST_TEST(*reg::registry_dir({{"HOME", "/h"}}) == "/h/.local/state/raythenad/jobs");
  BOOST_TEST(*reg::registry_dir({{"XDG_STATE_HOME", "rel"}, {"HOME", "/h"}}) == "/h/.local/state/raythenad/jobs");
  BOOST_TEST(!reg::registry_dir({{"HOME", "relative"}}));
  BOOST_TEST(!reg::registry_dir({}));

  char tmpl[] = "/tmp/rty-registry-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(tmpl));
  std::string root = tmpl, dir = root + "/state/raythenad/jobs";
  BOOST_TEST(reg::record_run(dir, "77", "/runs/a"));
  struct stat st{};
  BOOST_REQUIRE(::stat(dir.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);  // other users cannot plant or read entries
  BOOST_TEST(*reg::find_run(dir, "77") == "/runs/a");
  BOOST_TEST(!reg::find_run(dir, "78"));
  BOOST_TEST(!reg::record_run(dir, "../77", "/runs/a"));  // never a path outside the registry
  BOOST_TEST(!reg::record_run(dir, "79", "relative"));
  BOOST_REQUIRE(rty::file::write_atomic(dir + "/80", "not/absolute\n"));
  BOOST_TEST(!reg::find_run(dir, "80"));  // a reader trusts only an absolute path
  reg::forget_run(dir, "77", "/runs/other");  // a later run of the same id keeps its entry
  BOOST_TEST(reg::find_run(dir, "77").has_value());
  reg::forget_run(dir, "77", "/runs/a");
  BOOST_TEST(!reg::find_run(dir, "77"));
  std::filesystem::remove_all(root);
}

// The one error convention (common/error.hpp).
namespace {
rty::result<std::string> name_or_error(bool ok) {
  if (!ok) return rty::fail(std::make_error_code(std::errc::no_space_on_device), "state.json: disk full");
  return std::string("a value, not an error");  // a string is a value: rty::error has no string constructor
}
}  // namespace

BOOST_AUTO_TEST_CASE(result_keeps_message_and_kind) {
  auto good = name_or_error(true);
  BOOST_REQUIRE(good);
  BOOST_TEST(*good == "a value, not an error");
  BOOST_TEST(good.error().message().empty());
  auto bad = name_or_error(false);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message() == "state.json: disk full");
  BOOST_TEST((bad.error().code() == std::errc::no_space_on_device));
  BOOST_TEST(!rty::fail("no kind").code());
}

BOOST_AUTO_TEST_CASE(result_value_throws_the_message) {
  auto bad = name_or_error(false);
  try {
    (void)bad.value();
    BOOST_FAIL("value() of an error did not throw");
  } catch (const rty::error_exception& e) {
    BOOST_TEST(std::string(e.what()) == "state.json: disk full");
    BOOST_TEST((e.code == std::errc::no_space_on_device));
  }
}
