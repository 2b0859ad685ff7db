#define BOOST_TEST_MODULE common
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "common/admission.hpp"
#include "common/event_range.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/process.hpp"

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
  BOOST_TEST(!rty::file::write_atomic(p, "one"));
  BOOST_TEST(!rty::file::write_atomic(p, "two"));
  BOOST_TEST(*rty::file::read_all(p) == "two");
  BOOST_TEST(!fs::exists(p + ".tmp"));
}

BOOST_AUTO_TEST_CASE(atomic_write_failure_keeps_previous) {
  if (::geteuid() == 0) {
    // root ignores directory permissions; use a path whose directory does not exist instead
  }
  temp_dir d;
  auto p = (d.path / "missing-dir" / "state.json").string();
  std::string what;
  auto ec = rty::file::write_atomic(p, "x", &what);
  BOOST_TEST(static_cast<bool>(ec));
  BOOST_TEST(what.find("missing-dir") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(read_json_errors_name_the_file) {
  temp_dir d;
  auto p = (d.path / "bad.json").string();
  BOOST_TEST(!rty::file::write_atomic(p, "{\"a\": [1, 2"));
  std::string what;
  BOOST_TEST(!rty::json::read_file(p, &what));
  BOOST_TEST(what.find(p) != std::string::npos);
  BOOST_TEST(what.find("malformed JSON") != std::string::npos);
  BOOST_TEST(!rty::json::read_file((d.path / "nope.json").string(), &what));
  BOOST_TEST(what.find("nope.json") != std::string::npos);
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
  std::string err;
  BOOST_REQUIRE(rty::log::set_file(p, err));
  rty::log::set_level(rty::log::level::info);
  RTY_LOG(info, "Driver") << "hello " << 42;
  RTY_LOG(debug, "Driver") << "hidden";
  rty::log::set_stderr();
  auto text = *rty::file::read_all(p);
  BOOST_TEST(text.find(" | INFO | Driver | hello 42\n") != std::string::npos);
  BOOST_TEST(text.find("hidden") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(spawn_reports_exit_code_signal_and_missing_program) {
  std::string err;
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "exit 7"};
  auto pid = rty::process::spawn(o, err);
  BOOST_REQUIRE(pid);
  auto st = rty::process::wait(*pid);
  BOOST_TEST(st.code == 7);
  o.argv = {"/bin/sh", "-c", "kill -TERM $$"};
  pid = rty::process::spawn(o, err);
  BOOST_REQUIRE(pid);
  st = rty::process::wait(*pid);
  BOOST_TEST(st.signal == SIGTERM);
  BOOST_TEST(st.shell_code() == 143);
  o.argv = {"/nonexistent/program"};
  pid = rty::process::spawn(o, err);
  if (pid) {
    // glibc's posix_spawn reports exec failure through the exit status 127
    BOOST_TEST(rty::process::wait(*pid).code == 127);
  } else {
    BOOST_TEST(err.find("/nonexistent/program") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(spawn_redirects_and_sets_env_and_cwd) {
  temp_dir d;
  std::string err;
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "echo \"$RTY_T_X\"; pwd; echo oops >&2"};
  o.env_set["RTY_T_X"] = "value";
  o.cwd = d.path.string();
  o.stdout_path = (d.path / "out").string();
  o.stderr_path = (d.path / "err").string();
  auto pid = rty::process::spawn(o, err);
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
  std::string error;
  auto raised = rty::process::raise_open_files_limit(error);
  BOOST_REQUIRE_MESSAGE(raised, error);
  BOOST_TEST(raised->before == 256u);
  rlimit now{};
  ::getrlimit(RLIMIT_NOFILE, &now);
  BOOST_TEST(now.rlim_cur == raised->after);
  BOOST_TEST(raised->after > 256u);
  temp_dir t;
  rty::process::spawn_options o;
  o.argv = {"/bin/sh", "-c", "ulimit -n"};
  o.stdout_path = (t.path / "limit").string();
  auto pid = rty::process::spawn(o, error);
  BOOST_REQUIRE_MESSAGE(pid, error);
  BOOST_TEST(rty::process::wait(*pid).code == 0);
  BOOST_TEST(*rty::file::read_all(o.stdout_path) == "256\n");  // the child: the limit from before
  ::getrlimit(RLIMIT_NOFILE, &now);
  BOOST_TEST(now.rlim_cur == raised->after);  // the parent keeps the raised one
  BOOST_TEST(!rty::process::raise_open_files_limit(error));  // already at the top: nothing to do
  ::setrlimit(RLIMIT_NOFILE, &original);
}
