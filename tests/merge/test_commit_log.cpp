#include <boost/test/unit_test.hpp>

#include <filesystem>

#include "merge/commit_log.hpp"
#include "merge/final_renames.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace merge_test;
using rty::merge::commit_log;
using rty::merge::final_output;
using pairs = std::vector<std::pair<std::string, std::string>>;
using name_map = std::map<std::string, std::string>;

BOOST_AUTO_TEST_CASE(commit_log_missing_file_is_empty) {
  temp_dir t;
  auto log = commit_log::load((t.path / "commit_log").string());
  BOOST_REQUIRE(log);
  BOOST_TEST(log->renamed().empty());
  BOOST_TEST(log->current_name("X") == "X");
}

BOOST_AUTO_TEST_CASE(commit_log_replays_in_order) {
  temp_dir t;
  auto path = (t.path / "commit_log").string();
  write_file(path,
             "rename_output A B\n"
             "something_else x y z\n"
             "\n"
             "rename_output B C\n"
             "rename_output D E\n"
             "rename_output A Z\n");  // A is already gone: as upstream, does not change A's fate
  auto log = commit_log::load(path);
  BOOST_REQUIRE(log);
  BOOST_TEST((log->renamed() == name_map{{"A", "C"}, {"B", "C"}, {"D", "E"}}));
}

BOOST_AUTO_TEST_CASE(commit_log_cycles_end_in_the_last_name) {
  // A→B, B→A, A→C: whatever was A or B is C now, and replay terminates.
  auto log = commit_log::parse("rename_output A B\nrename_output B A\nrename_output A C\n", "/task/commit_log");
  BOOST_REQUIRE(log);
  BOOST_TEST((log->renamed() == name_map{{"A", "C"}, {"B", "C"}}));
  BOOST_TEST(log->path() == "/task/commit_log");
}

BOOST_AUTO_TEST_CASE(commit_log_malformed_line_names_file_and_line) {
  temp_dir t;
  auto path = (t.path / "commit_log").string();
  write_file(path, "rename_output A B\nrename_output onlyone\n");
  auto log = commit_log::load(path);
  BOOST_REQUIRE(!log);
  BOOST_TEST(log.error().message().find(path) != std::string::npos);
  BOOST_TEST(log.error().message().find("line 2") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(commit_log_append_persists_and_cuts_a_torn_tail) {
  temp_dir t;
  auto path = (t.path / "commit_log").string();
  write_file(path, "rename_output A B\nrename_output C D_trunc");  // crash in the middle of a write
  auto log = commit_log::load(path);
  BOOST_REQUIRE(log);
  BOOST_TEST((log->renamed() == name_map{{"A", "B"}}));
  BOOST_TEST(log->append("C", "D"));
  BOOST_TEST(read_file(path) == "rename_output A B\nrename_output C D\n");
  BOOST_TEST(log->current_name("C") == "D");
  auto again = commit_log::load(path);
  BOOST_REQUIRE(again);
  BOOST_TEST((again->renamed() == name_map{{"A", "B"}, {"C", "D"}}));
  auto appended = log->append("with space", "x");
  BOOST_REQUIRE(!appended);
  BOOST_TEST(appended.error().code() == std::make_error_code(std::errc::invalid_argument));
  BOOST_TEST(appended.error().message().find("with space") != std::string::npos);
  BOOST_TEST(read_file(path) == "rename_output A B\nrename_output C D\n");
}

BOOST_AUTO_TEST_CASE(current_output_names_both_shapes) {
  auto job = fixture_job();
  job.in_files = {"F1", "F2"};
  job.output_files = {"O1", "O2", "O3", "O4"};
  job.events_per_input = 8;
  job.events_per_output = 4;  // 1→N, 2 outputs per input
  auto names = rty::merge::current_output_names(job);
  BOOST_TEST((names == std::vector<std::vector<std::string>>{{"O1", "O2"}, {"O3", "O4"}}));
  job.in_files = {"F1", "F2", "F3", "F4"};
  job.output_files = {"O1", "O2"};
  job.events_per_output = 16;  // N→1, 2 inputs per output
  names = rty::merge::current_output_names(job);
  BOOST_TEST((names == std::vector<std::vector<std::string>>{{"O1"}, {"O1"}, {"O2"}, {"O2"}}));
}

BOOST_AUTO_TEST_CASE(plan_renames_maps_earlier_attempt_names_one_to_n) {
  auto job = fixture_job();
  job.in_files = {"F1", "F2"};
  job.events_per_input = 8;
  job.events_per_output = 4;
  job.output_files = {"H._000001.2", "H._000002.2", "H._000003.2", "H._000004.2"};
  // F1 merged entirely in attempt 1 (names .1, merged in reverse order as 1→N pops from the end);
  // F2 has one output from attempt 1 and one from the current attempt.
  std::vector<final_output> merged = {
      {"F1", "H._000002.1", "/o/final/H._000002.1", "g2"},
      {"F1", "H._000001.1", "/o/final/H._000001.1", "g1"},
      {"F2", "H._000004.2", "/o/final/H._000004.2", "g4"},
      {"F2", "H._000003.1", "/o/final/H._000003.1", "g3"},
  };
  auto plan = rty::merge::plan_renames(merged, job);
  BOOST_TEST((plan == pairs{{"H._000002.1", "H._000002.2"}, {"H._000001.1", "H._000001.2"},
                            {"H._000003.1", "H._000003.2"}}));
  auto now = rty::merge::with_current_names(merged, name_map(plan.begin(), plan.end()));
  BOOST_TEST(now[0].output_name == "H._000002.2");
  BOOST_TEST(now[0].path == "/o/final/H._000002.2");
  BOOST_TEST(now[0].guid == "g2");
  BOOST_TEST(now[2].path == "/o/final/H._000004.2");
}

BOOST_AUTO_TEST_CASE(plan_renames_n_to_1_shared_output_once) {
  auto job = fixture_job();
  job.in_files = {"F1", "F2"};
  job.events_per_input = 4;
  job.events_per_output = 8;
  job.output_files = {"H._000001.3"};
  std::vector<final_output> merged = {{"F1", "H._000001.2", "/o/final/H._000001.2", "g"},
                                      {"F2", "H._000001.2", "/o/final/H._000001.2", "g"}};
  BOOST_TEST((rty::merge::plan_renames(merged, job) == pairs{{"H._000001.2", "H._000001.3"}}));
  // Already current: nothing to do.
  merged = {{"F1", "H._000001.3", "/o/final/H._000001.3", "g"}, {"F2", "H._000001.3", "/o/final/H._000001.3", "g"}};
  BOOST_TEST(rty::merge::plan_renames(merged, job).empty());
}

BOOST_AUTO_TEST_CASE(apply_renames_survives_a_crash_in_the_middle) {
  temp_dir t;
  auto final_dir = t.path / "final";
  auto log_path = (t.path / "commit_log").string();
  pairs plan = {{"A.1", "A.2"}, {"B.1", "B.2"}, {"C.1", "C.2"}, {"D.1", "D.2"}};
  for (auto& [old_name, new_name] : plan) write_file(final_dir / old_name, "content of " + old_name);

  {  // First run: two renames done, the third logged but the process dies before renaming.
    auto log = commit_log::load(log_path);
    BOOST_REQUIRE(log);
    auto applied = rty::merge::apply_renames(*log, pairs(plan.begin(), plan.begin() + 2), final_dir.string());
    BOOST_TEST(applied, applied.error());
    BOOST_TEST(log->append("C.1", "C.2"));
  }
  BOOST_TEST(fs::exists(final_dir / "A.2"));
  BOOST_TEST(fs::exists(final_dir / "C.1"));

  // Restart: reload the log and apply the whole plan again.
  auto log = commit_log::load(log_path);
  BOOST_REQUIRE(log);
  BOOST_TEST(log->current_name("C.1") == "C.2");
  auto applied = rty::merge::apply_renames(*log, plan, final_dir.string());
  BOOST_TEST(applied, applied.error());
  for (auto& [old_name, new_name] : plan) {
    BOOST_TEST(!fs::exists(final_dir / old_name));
    BOOST_TEST(read_file(final_dir / new_name) == "content of " + old_name);
  }
  // Every rename is logged exactly once.
  BOOST_TEST(read_file(log_path) ==
             "rename_output A.1 A.2\nrename_output B.1 B.2\nrename_output C.1 C.2\nrename_output D.1 D.2\n");
  // A third run is a no-op.
  applied = rty::merge::apply_renames(*log, plan, final_dir.string());
  BOOST_TEST(applied, applied.error());
}

BOOST_AUTO_TEST_CASE(apply_renames_never_overwrites) {
  temp_dir t;
  auto final_dir = t.path / "final";
  write_file(final_dir / "A.1", "old");
  write_file(final_dir / "A.2", "other");
  write_file(final_dir / "B.1", "b");
  auto log = commit_log::load((t.path / "commit_log").string());
  auto applied = rty::merge::apply_renames(*log, {{"A.1", "A.2"}, {"X.1", "X.2"}, {"B.1", "B.2"}}, final_dir.string());
  BOOST_REQUIRE(!applied);
  BOOST_TEST(applied.error().code() == std::make_error_code(std::errc::file_exists));
  const std::string what = applied.error().message();
  BOOST_TEST(what.find("both exist") != std::string::npos);
  BOOST_TEST(what.find("X.1") != std::string::npos);
  BOOST_TEST(read_file(final_dir / "A.2") == "other");
  BOOST_TEST(read_file(final_dir / "B.2") == "b");  // the others still proceed
}

BOOST_AUTO_TEST_CASE(complete_logged_renames_finishes_what_a_crash_left_undone) {
  // A restarted run knows outputs by the names the log gives them (the checkpoint restore resolves
  // them), so the renames logged but not done must be finished from the log alone.
  temp_dir t;
  auto final_dir = t.path / "final";
  write_file(final_dir / "A.2", "a");    // logged and renamed
  write_file(final_dir / "B.1", "b");    // logged, the process died before the rename
  write_file(final_dir / "C.1", "c");    // chain C.1 → C.2 → C.3, died before the first rename
  write_file(final_dir / "D.1", "d1");   // two earlier names present: never guessed
  write_file(final_dir / "D.2", "d2");
  write_file(final_dir / "E.1", "e");    // not in the log: left alone
  auto log = commit_log::load((t.path / "commit_log").string());
  BOOST_REQUIRE(log);
  for (auto [o, n] : pairs{{"A.1", "A.2"}, {"B.1", "B.2"}, {"C.1", "C.2"}, {"C.2", "C.3"}, {"D.1", "D.3"}, {"D.2", "D.3"}})
    BOOST_REQUIRE(log->append(o, n));
  pairs done;
  auto completed = rty::merge::complete_logged_renames(*log, final_dir.string(), &done);
  BOOST_REQUIRE(!completed);
  BOOST_TEST(completed.error().code() == std::make_error_code(std::errc::file_exists));
  BOOST_TEST(completed.error().message().find("several earlier names exist (D.1, D.2)") != std::string::npos,
             completed.error());
  BOOST_TEST((done == pairs{{"B.1", "B.2"}, {"C.1", "C.3"}}));
  BOOST_TEST(read_file(final_dir / "A.2") == "a");
  BOOST_TEST(read_file(final_dir / "B.2") == "b");
  BOOST_TEST(read_file(final_dir / "C.3") == "c");
  BOOST_TEST(fs::exists(final_dir / "D.1"));
  BOOST_TEST(fs::exists(final_dir / "D.2"));
  BOOST_TEST(fs::exists(final_dir / "E.1"));
  BOOST_TEST(!fs::exists(final_dir / "B.1"));
  // Idempotent: a second call finds nothing left to do but the ambiguous chain.
  done.clear();
  BOOST_TEST(!rty::merge::complete_logged_renames(*log, final_dir.string(), &done));
  BOOST_TEST(done.empty());
}

// Issue 13 item 5: names in the commit log are file names in final/, never paths.
BOOST_AUTO_TEST_CASE(commit_log_refuses_names_that_leave_final) {
  temp_dir t;
  auto path = (t.path / "commit_log").string();
  for (const char* line : {"rename_output ../../x y\n", "rename_output x ../y\n", "rename_output a/b c\n",
                           "rename_output .. c\n", "rename_output a\tb c\n"}) {
    write_file(path, std::string("rename_output A B\n") + line);
    auto log = commit_log::load(path);
    BOOST_REQUIRE(!log);
    BOOST_TEST(log.error().message().find(path) != std::string::npos, log.error().message());
    BOOST_TEST(log.error().message().find("line 2") != std::string::npos, log.error().message());
    BOOST_TEST(log.error().message().find("not a usable file name") != std::string::npos, log.error().message());
  }
  write_file(path, "rename_output HITS..1 HITS..2\n");  // '..' inside a name is fine
  BOOST_TEST(commit_log::load(path).has_value());
}

BOOST_AUTO_TEST_CASE(commit_log_append_refuses_paths) {
  temp_dir t;
  auto log = commit_log::load((t.path / "commit_log").string());
  BOOST_REQUIRE(log);
  auto appended = log->append("../../x", "y");
  BOOST_REQUIRE(!appended);
  BOOST_TEST(appended.error().code() == std::make_error_code(std::errc::invalid_argument));
  BOOST_TEST(appended.error().message().find("'../../x'") != std::string::npos, appended.error());
  BOOST_TEST(!fs::exists(t.path / "commit_log"));
}

BOOST_AUTO_TEST_CASE(renames_never_leave_final_dir) {
  temp_dir t;
  auto final_dir = t.path / "final";
  write_file(t.path / "outside", "victim");
  write_file(final_dir / "A.1", "a");
  auto log = commit_log::load((t.path / "commit_log").string());
  auto applied = rty::merge::apply_renames(*log, {{"../outside", "stolen"}, {"A.1", "../A.escaped"}, {"A.1", "A.2"}},
                                           final_dir.string());
  BOOST_REQUIRE(!applied);
  BOOST_TEST(applied.error().code() == std::make_error_code(std::errc::invalid_argument));
  BOOST_TEST(applied.error().message().find("'../outside'") != std::string::npos, applied.error());
  BOOST_TEST(read_file(t.path / "outside") == "victim");
  BOOST_TEST(!fs::exists(final_dir / "stolen"));
  BOOST_TEST(!fs::exists(t.path / "A.escaped"));
  BOOST_TEST(read_file(final_dir / "A.2") == "a");  // the good pair still proceeds
}
