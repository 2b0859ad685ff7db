#define BOOST_TEST_MODULE pilot_payload_script
#include <boost/test/unit_test.hpp>

#include "common/file_util.hpp"
#include "pilot/payload_script.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

using namespace rty::pilot;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "rty-payload-XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_executable(const fs::path& p, const std::string& text) {
  std::ofstream(p) << text;
  fs::permissions(p, fs::perms::owner_all);
}

// Runs payload.sh the way the stub does: /bin/bash payload.sh from the node directory.
int run_script(const fs::path& dir, const std::string& script) {
  std::ofstream(dir / "payload.sh") << script;
  const std::string cmd = "cd '" + dir.string() + "' && /bin/bash payload.sh";
  const int status = std::system(cmd.c_str());
  BOOST_TEST_REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A wrapper stand-in: records its argv (one per line), an env var set by extrasetup, writes to both
// streams and exits 3.
const char* recording_wrapper =
    "#!/bin/bash\n"
    "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > argv.txt\n"
    "echo \"setup=$RTY_SETUP_MARK\" > env.txt\n"
    "echo wrapper-out\n"
    "echo wrapper-err >&2\n"
    "exit 3\n";

payload_options base_options(const fs::path& dir) {
  payload_options o;
  o.pilotwrapper = (dir / "wrapper dir" / "runpilot2-wrapper.sh").string();
  o.pilotdir = (dir / "pilot3-release").string();
  o.pandaqueue = "NERSC Perlmutter's 'queue'; touch pwned";
  o.prod_source_label = "managed";
  o.hpcresource = "cori";
  o.logfilename = "log.pilotwrapper";
  o.extrasetup = "export RTY_SETUP_MARK=from-extrasetup";
  o.extrapostpayload = "echo post-payload; true";
  return o;
}

}  // namespace

BOOST_AUTO_TEST_CASE(shell_quote_like_shlex) {
  BOOST_TEST(shell_quote("abc-1.2_x/y:z,@%+=") == "abc-1.2_x/y:z,@%+=");
  BOOST_TEST(shell_quote("") == "''");
  BOOST_TEST(shell_quote("a b") == "'a b'");
  BOOST_TEST(shell_quote("it's") == "'it'\"'\"'s'");
  BOOST_TEST(shell_quote("$HOME") == "'$HOME'");
  BOOST_TEST(shell_quote("a\nb") == "'a\nb'");
}

BOOST_AUTO_TEST_CASE(production_flags_exactly) {
  payload_options o;
  o.pandaqueue = "Q";
  o.prod_source_label = "managed";
  o.hpcresource = "cori";
  BOOST_TEST(production_flags(o) ==
             "--localpy --piloturl local -q Q -r Q -s Q --pilotversion 3 --pythonversion 3 -i PR -j managed --container "
             "--mute --pilot-user=atlas -t -u --es-executor-type=raythena -v 1 -d --cleanup=False -w generic "
             "--use-https False --allow-same-user=False --resource-type MCORE --hpc-resource cori");
}

BOOST_AUTO_TEST_CASE(runs_wrapper_and_keeps_its_exit_code) {
  temp_dir t;
  fs::create_directories(t.path / "wrapper dir");
  fs::create_directories(t.path / "pilot3-release");
  const auto o = base_options(t.path);
  write_executable(o.pilotwrapper, recording_wrapper);

  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);  // not extrapostpayload's 0

  const std::string q = o.pandaqueue;
  const std::vector<std::string> expected{"--localpy", "--piloturl", "local", "-q", q, "-r", q, "-s", q,
                                          "--pilotversion", "3", "--pythonversion", "3", "-i", "PR", "-j", "managed",
                                          "--container", "--mute", "--pilot-user=atlas", "-t", "-u",
                                          "--es-executor-type=raythena", "-v", "1", "-d", "--cleanup=False", "-w",
                                          "generic", "--use-https", "False", "--allow-same-user=False",
                                          "--resource-type", "MCORE", "--hpc-resource", "cori"};
  BOOST_TEST((lines(slurp(t.path / "argv.txt")) == expected));
  BOOST_TEST(!fs::exists(t.path / "pwned"));
  BOOST_TEST(slurp(t.path / "env.txt") == "setup=from-extrasetup\n");
  BOOST_TEST(fs::is_symlink(t.path / "pilot3"));
  BOOST_TEST(fs::read_symlink(t.path / "pilot3") == t.path / "pilot3-release");
  BOOST_TEST(slurp(t.path / "log.pilotwrapper") == "wrapper-out\npost-payload\n");
  BOOST_TEST(slurp(t.path / "log.pilotwrapper.stderr") == "wrapper-err\n");

  // A second run in the same directory (relaunch) replaces the link instead of failing.
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);
}

BOOST_AUTO_TEST_CASE(extrapostpayload_cannot_replace_the_status) {
  temp_dir t;
  fs::create_directories(t.path / "wrapper dir");
  fs::create_directories(t.path / "pilot3-release");
  auto o = base_options(t.path);
  write_executable(o.pilotwrapper, recording_wrapper);
  o.extrapostpayload = "exit 0";
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);
  o.extrapostpayload = "";
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);

  write_executable(o.pilotwrapper, "#!/bin/bash\nexit 0\n");
  o.extrapostpayload = "false";
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 0);
}

BOOST_AUTO_TEST_CASE(launch_failures_exit_127_with_a_message) {
  temp_dir t;
  auto o = base_options(t.path);
  o.extrasetup.clear();
  fs::create_directories(t.path / "pilot3-release");
  // Missing wrapper.
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 127);
  BOOST_TEST(slurp(t.path / "log.pilotwrapper.stderr").find("pilot wrapper") != std::string::npos);
  // Missing pilot directory.
  fs::create_directories(t.path / "wrapper dir");
  write_executable(o.pilotwrapper, recording_wrapper);
  o.pilotdir = (t.path / "no-such-release").string();
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 127);
  BOOST_TEST(slurp(t.path / "log.pilotwrapper.stderr").find("no-such-release") != std::string::npos);
  BOOST_TEST(!fs::exists(t.path / "argv.txt"));
  // No pilotdir configured: no link, the wrapper runs.
  o.pilotdir.clear();
  fs::remove(t.path / "pilot3");
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);
  BOOST_TEST(!fs::exists(t.path / "pilot3"));
}

BOOST_AUTO_TEST_CASE(default_log_name_is_wrapper) {
  temp_dir t;
  auto o = base_options(t.path);
  o.logfilename.clear();
  o.pilotdir.clear();
  o.extrasetup.clear();
  o.extrapostpayload.clear();
  fs::create_directories(t.path / "wrapper dir");
  write_executable(o.pilotwrapper, recording_wrapper);
  BOOST_TEST(run_script(t.path, build_payload_script(o)) == 3);
  BOOST_TEST(slurp(t.path / "wrapper") == "wrapper-out\n");
  BOOST_TEST(slurp(t.path / "wrapper.stderr") == "wrapper-err\n");
}
