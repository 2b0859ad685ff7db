#include <boost/test/unit_test.hpp>

#include <csignal>
#include <filesystem>

#include "common/process.hpp"
#include "merge/merge_command.hpp"
#include "merge/shell_words.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace merge_test;
using rty::merge::build_merge_command;
using rty::merge::merge_settings;
using strings = std::vector<std::string>;

namespace {
int run(const strings& argv, const std::string& cwd, const std::string& out) {
  rty::process::spawn_options o;
  o.argv = argv;
  o.cwd = cwd;
  o.stdout_path = out;
  o.stderr_path = "=stdout";
  auto pid = rty::process::spawn(o);
  BOOST_REQUIRE_MESSAGE(pid, pid.error());
  return rty::process::wait(*pid).shell_code();
}

strings lines_of(const std::string& text) {
  strings out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

merge_settings none_settings(const std::string& o) {
  merge_settings s;
  s.task_dir = o;
  s.containerengine = "none";
  return s;
}

const std::string* file_named(const rty::merge::merge_command& c, const std::string& name) {
  for (auto& [n, content] : c.files)
    if (n == name) return &content;
  return nullptr;
}
}  // namespace

BOOST_AUTO_TEST_CASE(split_shell_words_like_a_shell_without_expansion) {
  const std::string_view text = "  a  'b c' \"d \\\"e\\\" $f\" g\\ h '' x\"y\"z $(rm -rf /);";
  const strings expected = {"a", "b c", "d \"e\" $f", "g h", "", "xyz", "$(rm", "-rf", "/);"};
  auto words = rty::merge::split_shell_words(text);
  BOOST_REQUIRE_MESSAGE(words, words.error());
  BOOST_TEST(*words == expected, boost::test_tools::per_element());
  BOOST_TEST(rty::merge::split_shell_words_as_if_closed(text) == expected, boost::test_tools::per_element());
  auto unterminated = rty::merge::split_shell_words("a 'unterminated b");
  BOOST_REQUIRE(!unterminated);
  BOOST_TEST(unterminated.error().message().find("unterminated single quote at offset 2") != std::string::npos);
  BOOST_TEST(rty::merge::split_shell_words_as_if_closed("a 'unterminated b") == (strings{"a", "unterminated b"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(shell_quote_survives_a_real_shell) {
  temp_dir t;
  strings hostile = {"plain", "a b", "it's", "$(touch PWNED)", "`touch PWNED`", "x; touch PWNED", "", "\"q\"",
                     "back\\slash", "new\nline", "*", "$HOME"};
  std::string script = "printf '%s\\0'";
  for (auto& w : hostile) script += " " + rty::merge::shell_quote(w);
  BOOST_TEST(run({"/bin/bash", "-c", script}, t.str(), t.str() + "/out") == 0);
  std::string out = read_file(t.path / "out");
  strings got;
  for (std::size_t p = 0, z; (z = out.find('\0', p)) != std::string::npos; p = z + 1) got.push_back(out.substr(p, z - p));
  BOOST_TEST(got == hostile, boost::test_tools::per_element());
  BOOST_TEST(!fs::exists(t.path / "PWNED"));
  BOOST_TEST(rty::merge::shell_quote("HITS.1._000001.pool.root.1") == "HITS.1._000001.pool.root.1");
  BOOST_TEST(rty::merge::shell_quote("") == "''");
}

BOOST_AUTO_TEST_CASE(none_mode_n_to_1_argv_and_input_list_file) {
  auto job = fixture_job();
  job.events_per_output = 16;  // N→1: both inputs into one output
  auto task = make_task("HITS.40000001._000001.pool.root.1", job.in_files, "/o", 3);
  auto c = build_merge_command(task, job, none_settings("/o"), 1);
  BOOST_TEST(c.work_dir == "/o/merge-tmp/HITS.40000001._000001.pool.root.1.1");
  BOOST_TEST(c.output_path == "/o/final/HITS.40000001._000001.pool.root.1");
  BOOST_TEST(c.work_output_path == c.work_dir + "/HITS.40000001._000001.pool.root.1");
  BOOST_TEST(c.report_path == c.work_dir + "/jobReport.json");
  BOOST_TEST(c.kept_report_path == "/o/job-reports/HITS.40000001._000001.pool.root.1.json");
  BOOST_TEST(c.log_path == c.work_dir + "/merge.log");
  // DBRelease / autoConfiguration dropped; the input option split so argparse expands the @file; the
  // output named relative to the cwd (the work dir), never in final/.
  BOOST_TEST(c.argv == (strings{"HITSMerge_tf.py", "--AMITag", "s4006", "--inputHitsFile",
                                "@" + c.work_dir + "/file_list.txt", "--outputHitsFile=HITS.40000001._000001.pool.root.1",
                                "--maxEvents=-1", "--skipEvents=0"}),
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(c.files.size(), 1u);
  BOOST_TEST(c.files[0].first == "file_list.txt");
  std::string expected;
  for (auto& in : task.inputs) expected += in.path + "\n";
  BOOST_TEST(c.files[0].second == expected);
}

BOOST_AUTO_TEST_CASE(none_mode_1_to_n_long_list_never_on_the_command_line) {
  auto job = fixture_job();
  job.events_per_output = 2;  // 1→N
  job.merge_job_parameters = "--inputHITSFile=@inputFor_${OUTPUT0} --outputHITSFile=${OUTPUT0} --x=${OUTPUT0}";
  auto task = make_task("HITS.40000001._000003.pool.root.1", {job.in_files[1]}, "/o", 2000);
  auto c = build_merge_command(task, job, none_settings("/o"), 3);
  BOOST_TEST(c.work_dir == "/o/merge-tmp/HITS.40000001._000003.pool.root.1.3");
  // Only the first ${OUTPUT0} (after the input placeholder) becomes the output path.
  BOOST_TEST(c.argv == (strings{"HITSMerge_tf.py", "--inputHITSFile", "@" + c.work_dir + "/file_list.txt",
                                "--outputHITSFile=" + c.output_name, "--x=${OUTPUT0}"}),
             boost::test_tools::per_element());
  BOOST_TEST(std::count(c.files[0].second.begin(), c.files[0].second.end(), '\n') == 2000);
}

BOOST_AUTO_TEST_CASE(container_mode_builds_alrb_command_and_scripts) {
  auto job = fixture_job();
  merge_settings s;
  s.task_dir = "/o";
  s.containerengine = "singularity";
  s.containerextraargs = "export X=1";
  s.containerextrasetup = "source /site/setup.sh;";
  s.container_options = "-B /lustre,/cvmfs";
  auto task = make_task("HITS.40000001._000002.pool.root.1", {job.in_files[1]}, "/o", 8);
  auto c = build_merge_command(task, job, s, 1);
  BOOST_REQUIRE_EQUAL(c.argv.size(), 3u);
  BOOST_TEST(c.argv[0] == "/bin/bash");
  BOOST_TEST(c.argv[1] == "-c");
  BOOST_TEST(c.argv[2] ==
             "export ATLAS_LOCAL_ROOT_BASE=/cvmfs/atlas.cern.ch/repo/ATLASLocalRootBase;"
             "export thePlatform=x86_64-el9-gcc13-opt;export X=1;"
             "source \"${ATLAS_LOCAL_ROOT_BASE}/user/atlasLocalSetup.sh\" --swtype singularity -c \"$thePlatform\" "
             "-s /srv/release_setup.sh -r /srv/merge_transform.sh -e '-B /lustre,/cvmfs'");
  auto transform = file_named(c, "merge_transform.sh");
  auto setup = file_named(c, "release_setup.sh");
  BOOST_REQUIRE(transform);
  BOOST_REQUIRE(setup);
  BOOST_TEST(file_named(c, "file_list.txt"));
  BOOST_TEST(*transform ==
             "#!/bin/bash\nsource /site/setup.sh;HITSMerge_tf.py --AMITag s4006 --inputHitsFile "
             "@/srv/file_list.txt --outputHitsFile=/srv/HITS.40000001._000002.pool.root.1 --maxEvents=-1 "
             "--skipEvents=0\n");
  BOOST_TEST(*setup ==
             "#!/bin/bash\nasetup Athena,23.0.1,notest --platform x86_64-el9-gcc13-opt --makeflags='$MAKEFLAGS'\n");
}

BOOST_AUTO_TEST_CASE(container_mode_hostile_job_text_stays_data) {
  // The transform script and the host command are run by a real bash: job words must arrive intact
  // and nothing in them may execute.
  temp_dir t;
  auto job = fixture_job();
  job.merge_trans_path = "printf";
  job.merge_job_parameters =
      "'%s\\n' 'a b' \"\\$(touch PWNED)\" '`touch PWNED`' ';' 'x; touch PWNED' "
      "--inputHitsFile=@inputFor_${OUTPUT0} --outputHitsFile=${OUTPUT0} --DBRelease=current";
  job.platform = "el9;$(touch PWNED)";
  job.raw = {{"cmtConfig", "x' y"}};
  job.release = "23.0.1 && touch PWNED";
  merge_settings s;
  s.task_dir = t.str();
  s.containerengine = "apptainer $(touch PWNED)";
  s.container_options = "-B '/a b' $(touch PWNED)";
  s.alrb_root = (t.path / "alrb").string();
  // A stand-in atlasLocalSetup.sh that records the arguments it was sourced with.
  write_file(t.path / "alrb/user/atlasLocalSetup.sh", "printf '%s\\n' \"$@\" > \"$PWD/alrb-args\"\n");
  auto task = make_task("HITS.1._000001.pool.root.1", {job.in_files[0]}, t.str(), 2);
  auto c = build_merge_command(task, job, s, 1);
  auto prepared = rty::merge::prepare_work_dir(c);
  BOOST_REQUIRE_MESSAGE(prepared, prepared.error());

  BOOST_TEST(run({"/bin/bash", "merge_transform.sh"}, c.work_dir, c.work_dir + "/transform-out") == 0);
  BOOST_TEST(lines_of(read_file(fs::path(c.work_dir) / "transform-out")) ==
                 (strings{"a b", "$(touch PWNED)", "`touch PWNED`", ";", "x; touch PWNED", "--inputHitsFile",
                          "@/srv/file_list.txt", "--outputHitsFile=/srv/" + c.output_name}),
             boost::test_tools::per_element());

  BOOST_TEST(run(c.argv, c.work_dir, c.log_path) == 0);
  BOOST_TEST(lines_of(read_file(fs::path(c.work_dir) / "alrb-args")) ==
                 (strings{"--swtype", "apptainer $(touch PWNED)", "-c", "el9;$(touch PWNED)", "-s",
                          "/srv/release_setup.sh", "-r", "/srv/merge_transform.sh", "-e",
                          "-B '/a b' $(touch PWNED)"}),
             boost::test_tools::per_element());
  // release_setup.sh: asetup is not here, so define it to record its words.
  BOOST_TEST(run({"/bin/bash", "-c", "asetup() { printf '%s\\n' \"$@\"; }; source ./release_setup.sh"}, c.work_dir,
                 c.work_dir + "/setup-out") == 0);
  BOOST_TEST(lines_of(read_file(fs::path(c.work_dir) / "setup-out")) ==
                 (strings{"Athena,23.0.1 && touch PWNED,notest", "--platform", "x' y", "--makeflags=$MAKEFLAGS"}),
             boost::test_tools::per_element());
  for (auto& e : fs::recursive_directory_iterator(t.path)) BOOST_TEST(e.path().filename() != "PWNED");
  BOOST_TEST(fs::is_regular_file(fs::path(c.work_dir) / "file_list.txt"));
  BOOST_TEST(((fs::status(fs::path(c.work_dir) / "merge_transform.sh").permissions() & fs::perms::owner_exec) !=
              fs::perms::none));
}

BOOST_AUTO_TEST_CASE(none_mode_hostile_job_text_is_argv_words) {
  auto job = fixture_job();
  job.merge_trans_path = "/opt/my tf.py";
  job.merge_job_parameters = "--a=\"$(id)\" ';' 'b c' --inputHitsFile=@inputFor_${OUTPUT0} --outputHitsFile=${OUTPUT0}";
  auto c = build_merge_command(make_task("O.1", {"F"}, "/o", 1), job, none_settings("/o"), 1);
  BOOST_TEST(c.argv == (strings{"/opt/my tf.py", "--a=$(id)", ";", "b c", "--inputHitsFile",
                                "@/o/merge-tmp/O.1.1/file_list.txt", "--outputHitsFile=O.1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(validate_merge_parameters_names_the_problem) {
  auto job = fixture_job();
  BOOST_TEST(!rty::merge::validate_merge_parameters(job).has_value());
  auto bad = job;
  bad.merge_trans_path.clear();
  BOOST_TEST(rty::merge::validate_merge_parameters(bad).value().find("transPath") != std::string::npos);
  bad = job;
  bad.merge_job_parameters = "--inputHitsFile=a,b --outputHitsFile=${OUTPUT0}";
  BOOST_TEST(rty::merge::validate_merge_parameters(bad).value().find("@inputFor_${OUTPUT0}") != std::string::npos);
  bad = job;
  bad.merge_job_parameters = "--inputHitsFile=@inputFor_${OUTPUT0} --outputHitsFile=out";
  BOOST_TEST(rty::merge::validate_merge_parameters(bad).value().find("'${OUTPUT0}'") != std::string::npos);
  bad = job;
  bad.merge_job_parameters += " --x='oops";
  BOOST_TEST(rty::merge::validate_merge_parameters(bad).value().find("unterminated") != std::string::npos);
  bad = job;
  bad.output_files.push_back("../escape");
  BOOST_TEST(rty::merge::validate_merge_parameters(bad).value().find("'../escape'") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(remove_work_dir_only_inside_the_task_dir) {
  temp_dir t;
  auto job = fixture_job();
  auto c = build_merge_command(make_task("O.1", {"F"}, t.str(), 1), job, none_settings(t.str()), 1);
  BOOST_REQUIRE(rty::merge::prepare_work_dir(c));
  BOOST_TEST(fs::is_directory(c.work_dir));
  BOOST_TEST(fs::is_directory(t.path / "final"));
  BOOST_TEST(fs::is_directory(t.path / "job-reports"));

  auto outside = c;
  outside.work_dir = t.str();
  BOOST_TEST(rty::merge::remove_work_dir(outside) == std::make_error_code(std::errc::operation_not_permitted));
  outside.work_dir = c.work_dir + "/../../final";
  BOOST_TEST(rty::merge::remove_work_dir(outside) == std::make_error_code(std::errc::operation_not_permitted));
  outside.work_dir = (t.path / "merge-tmp").string();
  BOOST_TEST(rty::merge::remove_work_dir(outside) == std::make_error_code(std::errc::operation_not_permitted));
  BOOST_TEST(fs::is_directory(t.path / "final"));

  BOOST_TEST(!rty::merge::remove_work_dir(c));
  BOOST_TEST(!fs::exists(c.work_dir));
  BOOST_TEST(fs::is_directory(t.path / "merge-tmp"));
}

BOOST_AUTO_TEST_CASE(prepare_work_dir_replaces_a_leftover) {
  temp_dir t;
  auto c = build_merge_command(make_task("O.1", {"F"}, t.str(), 1), fixture_job(), none_settings(t.str()), 2);
  write_file(fs::path(c.work_dir) / "jobReport.json", "stale");
  BOOST_REQUIRE(rty::merge::prepare_work_dir(c));
  BOOST_TEST(!fs::exists(c.report_path));
  BOOST_TEST(read_file(fs::path(c.work_dir) / "file_list.txt") == t.str() + "/F-1.HITS.pool.root\n");
}

BOOST_AUTO_TEST_CASE(log_tail_returns_last_lines) {
  temp_dir t;
  std::string text;
  for (int i = 1; i <= 50; ++i) text += "line " + std::to_string(i) + "\n";
  write_file(t.path / "log", text);
  BOOST_TEST(rty::merge::log_tail((t.path / "log").string(), 3) == "line 48\nline 49\nline 50");
  BOOST_TEST(rty::merge::log_tail((t.path / "log").string(), 100) == text.substr(0, text.size() - 1));
  write_file(t.path / "short", "only");
  BOOST_TEST(rty::merge::log_tail((t.path / "short").string()) == "only");
  // Large file: only the end is read, and the cut first line is dropped.
  write_file(t.path / "big", std::string(200000, 'x') + "\nlast\n");
  BOOST_TEST(rty::merge::log_tail((t.path / "big").string(), 5) == "last");
  auto missing = rty::merge::log_tail((t.path / "nope").string());
  BOOST_TEST(missing.find((t.path / "nope").string()) == 0u);
}

// One way to start a merge, on the coordinator's node and on a stub (remote merges): its own process
// group and SIGKILL at its parent's death, so that nothing of a lost attempt races the next one.
BOOST_AUTO_TEST_CASE(merge_spawn_options_are_the_same_wherever_a_merge_runs) {
  auto o = rty::merge::merge_spawn_options({"/bin/bash", "-c", "x"}, "/o/merge-tmp/H.1.2", "/o/merge-tmp/H.1.2/merge.log");
  BOOST_TEST((o.argv == std::vector<std::string>{"/bin/bash", "-c", "x"}));
  BOOST_TEST(o.cwd == "/o/merge-tmp/H.1.2");
  BOOST_TEST(o.stdout_path == "/o/merge-tmp/H.1.2/merge.log");
  BOOST_TEST(o.stderr_path == "=stdout");
  BOOST_TEST(o.new_process_group);
  BOOST_TEST(o.parent_death_signal == SIGKILL);
}

BOOST_AUTO_TEST_CASE(strictly_inside_is_lexical_and_refuses_escapes_and_the_dir_itself) {
  using rty::merge::strictly_inside;
  // What the stub checks of a merge_run, and the coordinator of a remote merge's output.
  BOOST_TEST(strictly_inside("/o/merge-tmp", "/o/merge-tmp/H.1.2"));
  BOOST_TEST(strictly_inside("/o/merge-tmp/", "/o/merge-tmp/H.1.2/merge.log"));
  BOOST_TEST(strictly_inside("/o/merge-tmp", "/o/merge-tmp/./H.1.2"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/o/merge-tmp"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/o/merge-tmp/"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/o/merge-tmp/../final"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/o/merge-tmp/H/../../x"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/o/merge-tmpx/H"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "/etc"));
  BOOST_TEST(!strictly_inside("/o/merge-tmp", "o/merge-tmp/H"));  // relative against absolute
  BOOST_TEST(!strictly_inside("", "/x"));
  BOOST_TEST(!strictly_inside("/o", ""));
}
