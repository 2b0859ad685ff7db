// open_task (task_setup.hpp) on real directories: a fresh task, a state.json that cannot be read,
// and a state.json.tmp someone planted.
#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <string>

#include "coordinator/daemon.hpp"
#include "coordinator/task_setup.hpp"
#include "rty_test/support.hpp"

using namespace rty::coordinator;
namespace fs = std::filesystem;

namespace {
struct task_fixture {
  rty::test::temp_dir dir{"rty-task-setup"};
  rty::config::settings cfg;
  rty::job_spec job = rty::test::make_job(2, 4, 4);
  rty::file::task_lock lock;
  open_task_result out;
  task_fixture() {
    cfg.ray.workdir = dir.str();
    cfg.harvester.endpoint = dir.str();
  }
  std::string task_dir() const { return dir / job.task_id; }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(task_setup)

BOOST_AUTO_TEST_CASE(a_fresh_task_gets_its_directories_and_an_empty_book) {
  task_fixture f;
  auto opened = open_task(f.cfg, f.job, f.lock, f.out);
  BOOST_REQUIRE_MESSAGE(opened, opened.error().message());
  BOOST_TEST(f.out.dir == f.task_dir());
  BOOST_TEST(fs::is_directory(f.task_dir() + "/final"));
  BOOST_TEST(fs::is_directory(f.task_dir() + "/job-reports"));
  BOOST_TEST(fs::exists(f.dir / "task_workdir_path.txt"));
  BOOST_REQUIRE(f.out.book);
  BOOST_TEST(f.out.commit_log.has_value());
  BOOST_TEST(f.out.book->get_counts().finished == 0u);
  BOOST_TEST(checkpoint_path(f.out.dir) == f.task_dir() + "/state.json");
}

BOOST_AUTO_TEST_CASE(an_unreadable_checkpoint_stops_the_run_and_leaves_no_book_to_write_over_it) {
  task_fixture f;
  rty::test::write_file(f.task_dir() + "/state.json", "{ not json");
  auto failure = open_task(f.cfg, f.job, f.lock, f.out);
  BOOST_REQUIRE(!failure);
  BOOST_TEST((failure.error().code() == exit_error(exit_runtime_error)));
  BOOST_TEST(failure.error().message().find("state.json") != std::string::npos);
  BOOST_TEST(!f.out.book);  // the error path's checkpoint must not replace the refused file
  BOOST_TEST(rty::test::read_file(f.task_dir() + "/state.json") == "{ not json");
}

BOOST_AUTO_TEST_CASE(a_planted_checkpoint_temporary_is_refused) {
  task_fixture f;
  rty::test::write_file(f.dir / "elsewhere.json", "{}");
  fs::create_directories(f.task_dir());
  fs::create_symlink(f.dir / "elsewhere.json", f.task_dir() + "/state.json.tmp");
  auto failure = open_task(f.cfg, f.job, f.lock, f.out);
  BOOST_REQUIRE(!failure);
  BOOST_TEST((failure.error().code() == exit_error(exit_config_error)));
  BOOST_TEST(failure.error().message().find("state.json.tmp") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_job_the_bookkeeper_cannot_process_is_a_harvester_error) {
  task_fixture f;
  f.job.events_per_output = 3;  // neither a multiple nor a divisor of 4 events per input
  auto failure = open_task(f.cfg, f.job, f.lock, f.out);
  BOOST_REQUIRE(!failure);
  BOOST_TEST((failure.error().code() == exit_error(exit_harvester_error)));
  BOOST_TEST(failure.error().message().find(f.job.panda_id) != std::string::npos);
  BOOST_TEST(!f.out.book);
}

BOOST_AUTO_TEST_SUITE_END()
