#define BOOST_TEST_MODULE stub_node_files
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "common/file_util.hpp"
#include "stub/node_files.hpp"

namespace fs = std::filesystem;
using rty::stub::check_pilot_output;
using rty::stub::move_output;
using rty::stub::rewrite_pandaserver;

namespace {
struct dirs {
  fs::path root;
  fs::path pilot, task;
  dirs() {
    std::string tmpl = (fs::temp_directory_path() / "rty-stub-XXXXXX").string();
    root = ::mkdtemp(tmpl.data());
    pilot = root / "PanDA_Pilot-1" / "out";
    task = root / "task";
    fs::create_directories(pilot);
    fs::create_directories(task);
  }
  ~dirs() { fs::remove_all(root); }
  std::string out(const std::string& name, const std::string& content) const {
    auto p = (pilot / name).string();
    std::ofstream(p) << content;
    return p;
  }
};
std::string read(const std::string& p) { return *rty::file::read_all(p); }
}  // namespace

BOOST_AUTO_TEST_CASE(moves_into_the_flat_task_directory) {
  dirs d;
  auto src = d.out("F-1.HITS.pool.root", "one");
  auto moved = move_output(src, d.task.string(), "node2");
  BOOST_REQUIRE(moved);
  BOOST_TEST(*moved == (d.task / "F-1.HITS.pool.root").string());
  BOOST_TEST(read(*moved) == "one");
  BOOST_TEST(!fs::exists(src));
}

BOOST_AUTO_TEST_CASE(a_name_taken_by_another_node_is_never_overwritten) {
  dirs d;
  auto first = move_output(d.out("same.root", "from node1"), d.task.string(), "node1");
  auto second = move_output(d.out("same.root", "from node2"), d.task.string(), "node2");
  BOOST_REQUIRE(first && second);
  BOOST_TEST(*second == *first + ".node2");
  BOOST_TEST(read(*first) == "from node1");
  BOOST_TEST(read(*second) == "from node2");
}

// Issue 13: a forged update naming a pilot file that does not exist must not be matched with a file of
// the same name already in the task directory (another range's output): the probe had event 5 merged
// nine times that way.
BOOST_AUTO_TEST_CASE(a_missing_output_is_never_replaced_by_a_task_directory_file) {
  dirs d;
  auto src = d.out("F-2.HITS.pool.root", "x");
  auto first = move_output(src, d.task.string(), "n");
  BOOST_REQUIRE(first);
  auto again = move_output(src, d.task.string(), "n");
  BOOST_TEST(!again);
  BOOST_TEST((again.error().code() == std::errc::no_such_file_or_directory));
  BOOST_TEST(again.error().message().find("does not exist") != std::string::npos);
  // Nor the node-suffixed name of an earlier clash.
  std::ofstream(d.task / "F-3.HITS.pool.root") << "other node";
  auto clash = d.out("F-3.HITS.pool.root", "ours");
  auto stored = move_output(clash, d.task.string(), "n");
  BOOST_REQUIRE(stored);
  BOOST_TEST(*stored == (d.task / "F-3.HITS.pool.root.n").string());
  BOOST_TEST(!move_output(clash, d.task.string(), "n"));
  BOOST_TEST(read(*stored) == "ours");
}

BOOST_AUTO_TEST_CASE(a_missing_output_is_an_error_naming_it) {
  dirs d;
  auto src = (d.pilot / "never-written.root").string();
  auto moved = move_output(src, d.task.string(), "n");
  BOOST_TEST(!moved);
  BOOST_TEST(moved.error().message().find(src) != std::string::npos);
  BOOST_TEST(moved.error().message().find("does not exist") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_missing_task_directory_is_an_error) {
  dirs d;
  auto src = d.out("F-3.root", "x");
  auto moved = move_output(src, (d.root / "nope").string(), "n");
  BOOST_TEST(!moved);
  BOOST_TEST(moved.error().message().find("cannot move") != std::string::npos);
  BOOST_TEST(fs::exists(src));  // nothing lost
}

BOOST_AUTO_TEST_CASE(only_pandaserver_is_rewritten) {
  const std::string cfg =
      "# site pilot config\n[General]\npandaserver = untouched\n[Pilot]\nhttp_maxtime = 120\n"
      "pandaserver = http://127.0.0.1:8080\nkill_instruction_time = 60\n[Information]\ncache_dir =\n";
  auto out = rewrite_pandaserver(cfg, "http://127.0.0.1:41234");
  BOOST_TEST(out ==
             "# site pilot config\n[General]\npandaserver = untouched\n[Pilot]\nhttp_maxtime = 120\n"
             "pandaserver = http://127.0.0.1:41234\nkill_instruction_time = 60\n[Information]\ncache_dir =\n");
}

BOOST_AUTO_TEST_CASE(pandaserver_is_added_when_missing) {
  BOOST_TEST(rewrite_pandaserver("[Pilot]\nhttp_maxtime = 120\n[Other]\nx = 1\n", "http://127.0.0.1:9") ==
             "[Pilot]\nhttp_maxtime = 120\npandaserver = http://127.0.0.1:9\n[Other]\nx = 1\n");
  BOOST_TEST(rewrite_pandaserver("", "http://127.0.0.1:9") == "[Pilot]\npandaserver = http://127.0.0.1:9\n");
}

BOOST_AUTO_TEST_CASE(outputs_must_be_regular_files_inside_the_pilot_directory) {
  dirs d;
  const std::string node = (d.root / "PanDA_Pilot-1").string();  // the node's pilot directory
  auto good = d.out("F-4.root", "x");
  auto ok = check_pilot_output(good, node);
  BOOST_REQUIRE(ok);
  BOOST_TEST(*ok == fs::canonical(good).string());
  BOOST_TEST(*check_pilot_output("out/F-4.root", node) == *ok);  // relative: to the pilot directory

  auto passwd = check_pilot_output("/etc/passwd", node);
  BOOST_TEST(!passwd);
  BOOST_TEST(passwd.error().message().find("outside this node's pilot directory") != std::string::npos);
  BOOST_TEST(!check_pilot_output(node + "/out/../../task/x", node));
  BOOST_TEST(!check_pilot_output("../task", node));

  fs::create_symlink("/etc/passwd", d.pilot / "link.root");  // a symlink inside, pointing out
  auto link = check_pilot_output((d.pilot / "link.root").string(), node);
  BOOST_TEST(!link);
  BOOST_TEST(link.error().message().find("not a regular file") != std::string::npos);
  fs::create_directory_symlink("/etc", d.pilot / "etc");  // a directory symlink out of it
  auto through = check_pilot_output((d.pilot / "etc" / "passwd").string(), node);
  BOOST_TEST(!through);
  BOOST_TEST(through.error().message().find("outside") != std::string::npos);
  BOOST_TEST(fs::exists("/etc/passwd"));
  BOOST_TEST(!check_pilot_output(node + "/out/", node));  // not a file name
}

BOOST_AUTO_TEST_CASE(symlinks_that_stay_inside_are_fine_by_either_path) {
  dirs d;
  const std::string node = (d.root / "PanDA_Pilot-1").string();
  rty::stub::pilot_dir_guard guard(node);
  auto good = d.out("F-5.root", "x");
  const auto canonical = fs::canonical(good).string();
  fs::create_directory_symlink(d.pilot, d.pilot / "again");  // inside, to inside (openat2 path)
  auto via_inner = guard.check((d.pilot / "again" / "F-5.root").string());
  BOOST_REQUIRE_MESSAGE(via_inner, via_inner.error());
  BOOST_TEST(fs::equivalent(*via_inner, canonical));
  fs::create_directory_symlink(node, d.root / "alias");  // another spelling of the pilot directory (realpath path)
  auto via_alias = guard.check((d.root / "alias" / "out" / "F-5.root").string());
  BOOST_REQUIRE_MESSAGE(via_alias, via_alias.error());
  BOOST_TEST(*via_alias == canonical);
  auto out = guard.check((d.root / "alias" / ".." / "task" / "x").string());
  BOOST_TEST(!out);
  BOOST_TEST(out.error().message().find("outside") != std::string::npos);
  auto missing = guard.check((d.pilot / "missing-dir" / "x").string());
  BOOST_TEST(!missing);
  BOOST_TEST(missing.error().message().find("No such file or directory") != std::string::npos);
  rty::stub::pilot_dir_guard gone((d.root / "nowhere").string());
  auto unresolved = gone.check(good);
  BOOST_TEST(!unresolved);
  BOOST_TEST(unresolved.error().message().find("pilot directory") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_batch_opens_each_directory_once_and_still_checks_every_file) {
  dirs d;
  const std::string node = (d.root / "PanDA_Pilot-1").string();
  rty::stub::pilot_dir_guard guard(node);
  auto a = d.out("F-6.root", "x");
  auto b = d.out("F-7.root", "y");
  fs::create_symlink("/etc/passwd", d.pilot / "link.root");
  fs::create_directory_symlink("/etc", d.pilot / "etc");
  rty::stub::pilot_dir_guard::batch batch(guard);
  auto ok_a = batch.check(a);
  BOOST_REQUIRE_MESSAGE(ok_a, ok_a.error());
  BOOST_TEST(*ok_a == fs::canonical(a).string());
  auto ok_b = batch.check(b);
  BOOST_REQUIRE_MESSAGE(ok_b, ok_b.error());
  BOOST_TEST(*ok_b == fs::canonical(b).string());
  BOOST_TEST(batch.opened() == 1u);  // one directory, one open
  // Each file on its own: a symlink next to the good outputs is refused, with the directory reused.
  auto link = batch.check((d.pilot / "link.root").string());
  BOOST_TEST(!link);
  BOOST_TEST(link.error().message().find("not a regular file") != std::string::npos);
  BOOST_TEST(batch.opened() == 1u);
  // Another directory (out of the pilot directory through a symlink) is refused.
  auto through = batch.check((d.pilot / "etc" / "passwd").string());
  BOOST_TEST(!through);
  BOOST_TEST(through.error().message().find("outside") != std::string::npos);
  BOOST_TEST(*batch.check(a) == *ok_a);  // and back: the refused directory took no good one's place
  BOOST_TEST(batch.opened() == 1u);
}

BOOST_AUTO_TEST_CASE(a_checked_output_is_moved_from_the_directory_that_was_checked) {
  dirs d;
  const std::string node = (d.root / "PanDA_Pilot-1").string();
  rty::stub::pilot_dir_guard guard(node);
  rty::stub::pilot_dir_guard::batch batch(guard);
  auto src = d.out("F-8.root", "checked");
  auto checked = batch.check(src);
  BOOST_REQUIRE_MESSAGE(checked, checked.error());
  BOOST_TEST(batch.last().dir_fd >= 0);
  BOOST_TEST(batch.last().name == "F-8.root");
  // The path is re-pointed after the check: the move still takes the file it checked.
  fs::rename(d.pilot, d.pilot.string() + ".checked");
  fs::create_directories(d.pilot);
  d.out("F-8.root", "swapped in");
  const int task_fd = ::open(d.task.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  BOOST_REQUIRE(task_fd >= 0);
  auto moved = move_output(*checked, batch.last(), d.task.string(), task_fd, "n");
  BOOST_REQUIRE_MESSAGE(moved, moved.error());
  BOOST_TEST(*moved == (d.task / "F-8.root").string());
  BOOST_TEST(read(*moved) == "checked");
  BOOST_TEST(read((d.pilot / "F-8.root").string()) == "swapped in");
  // A name taken in the task directory gets the node's suffix, through the descriptor too.
  rty::stub::pilot_dir_guard::batch next(guard);
  auto second = d.out("F-9.root", "second");
  fs::copy_file(second, d.task / "F-9.root");
  auto checked2 = next.check(second);
  BOOST_REQUIRE_MESSAGE(checked2, checked2.error());
  auto moved2 = move_output(*checked2, next.last(), d.task.string(), task_fd, "n");
  BOOST_REQUIRE_MESSAGE(moved2, moved2.error());
  BOOST_TEST(*moved2 == (d.task / "F-9.root").string() + ".n");
  BOOST_TEST(read(*moved2) == "second");
  // A file gone since the check: ENOENT, and the task directory's file of that name is not taken.
  auto third = d.out("F-10.root", "third");
  auto checked3 = next.check(third);
  BOOST_REQUIRE_MESSAGE(checked3, checked3.error());
  fs::remove(third);
  std::ofstream(d.task / "F-10.root") << "not yours";
  auto moved3 = move_output(*checked3, next.last(), d.task.string(), task_fd, "n");
  BOOST_TEST(!moved3);
  BOOST_TEST((moved3.error().code() == std::errc::no_such_file_or_directory));
  BOOST_TEST(read((d.task / "F-10.root").string()) == "not yours");
  // A refused check leaves no directory to move from.
  BOOST_TEST(!next.check((d.pilot / "missing").string() + "/x"));
  BOOST_TEST(next.last().dir_fd == -1);
  ::close(task_fd);
}
