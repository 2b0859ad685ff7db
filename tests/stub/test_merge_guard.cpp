#include <boost/test/unit_test.hpp>

#include "stub/merge_guard.hpp"

using rty::protocol::merge_run;
using rty::stub::refuse_merge_run;

namespace {
merge_run run_in(const std::string& work_dir, const std::string& log) {
  return merge_run{"H.pool.root.1", 1, {"/opt/HITSMerge_tf.py", "--x"}, work_dir, log};
}
}  // namespace

BOOST_AUTO_TEST_CASE(a_merge_run_only_runs_in_a_work_dir_under_the_task_dirs_merge_tmp) {
  const std::string o = "/scratch/O";
  BOOST_TEST(!refuse_merge_run(o, run_in("/scratch/O/merge-tmp/H.pool.root.1.1", "/scratch/O/merge-tmp/H.pool.root.1.1/merge.log")));
  // Anywhere else (final/, above the task dir, merge-tmp itself, through ..) is refused, naming why.
  for (const char* dir : {"/scratch/O/final", "/scratch/O/merge-tmp", "/scratch/O/merge-tmp/../final/x", "/etc",
                          "/scratch/O/merge-tmpx/H", "merge-tmp/H"}) {
    auto why = refuse_merge_run(o, run_in(dir, std::string(dir) + "/merge.log"));
    BOOST_REQUIRE_MESSAGE(why, dir);
    BOOST_TEST(why->find("is not under /scratch/O/merge-tmp") != std::string::npos, *why);
  }
  auto log = refuse_merge_run(o, run_in("/scratch/O/merge-tmp/H.1", "/home/u/.bashrc"));
  BOOST_REQUIRE(log);
  BOOST_TEST(log->find("log_path '/home/u/.bashrc' is not in the work dir") != std::string::npos);
  BOOST_TEST(refuse_merge_run("", run_in("/scratch/O/merge-tmp/H.1", "/scratch/O/merge-tmp/H.1/l")).has_value());
  auto empty = run_in("/scratch/O/merge-tmp/H.1", "/scratch/O/merge-tmp/H.1/l");
  empty.argv = {""};
  BOOST_TEST(*refuse_merge_run(o, empty) == "no command");
  // A control character in a refused path cannot forge a log line.
  auto forged = refuse_merge_run(o, run_in("/x\nERROR | forged", "/x/l"));
  BOOST_REQUIRE(forged);
  BOOST_TEST(forged->find('\n') == std::string::npos);
}
