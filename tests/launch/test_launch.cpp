#define BOOST_TEST_MODULE launch
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/process.hpp"
#include "launch/launcher.hpp"
#include "rty_test/support.hpp"

namespace fs = std::filesystem;
using namespace rty::launch;

namespace {

using rty::test::read_file;
struct temp_dir : rty::test::temp_dir {
  temp_dir() : rty::test::temp_dir("rty-launch-test") {}
};

// Restores an environment variable when the test ends.
struct env_guard {
  std::string name;
  std::optional<std::string> old;
  explicit env_guard(std::string n) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) old = v;
  }
  ~env_guard() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

launch_request base_request() {
  launch_request r;
  r.stub_executable = "/opt/rty/raythena-stub";
  r.coordinator = "10.0.0.1:4242";
  r.secret = "s3cr3t-value";
  r.secret_file = "/shared/work/.raythena-secret";
  return r;
}

// A free TCP port on 127.0.0.1 with nothing listening (bound, read, released).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

}  // namespace

BOOST_AUTO_TEST_CASE(stub_argv_full_and_minimal) {
  auto r = base_request();
  r.debug = true;
  std::vector<std::string> expected = {"/opt/rty/raythena-stub", "--coordinator", "10.0.0.1:4242", "--node-id", "node7",
                                       "--secret-file", "/shared/work/.raythena-secret", "--debug"};
  BOOST_TEST(stub_argv(r, "node7") == expected, boost::test_tools::per_element());

  r.debug = false;
  r.secret_file.clear();
  std::vector<std::string> minimal = {"/opt/rty/raythena-stub", "--coordinator", "10.0.0.1:4242"};
  BOOST_TEST(stub_argv(r, "") == minimal, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stub_argv_never_carries_the_secret) {
  auto r = base_request();
  for (const auto& w : stub_argv(r, "n1")) BOOST_TEST(w.find(r.secret) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(resolve_auto_follows_slurm_job_id) {
  using rty::config::launcher_kind;
  env_guard g("SLURM_JOB_ID");
  ::unsetenv("SLURM_JOB_ID");
  BOOST_TEST((resolve(launcher_kind::automatic) == kind::local));
  ::setenv("SLURM_JOB_ID", "1234", 1);
  BOOST_TEST((resolve(launcher_kind::automatic) == kind::srun));
  ::setenv("SLURM_JOB_ID", "", 1);
  BOOST_TEST((resolve(launcher_kind::automatic) == kind::local));
  // An explicit choice wins over the environment.
  ::setenv("SLURM_JOB_ID", "1234", 1);
  BOOST_TEST((resolve(launcher_kind::ssh) == kind::ssh));
  BOOST_TEST((resolve(launcher_kind::local) == kind::local));
  BOOST_TEST((resolve(launcher_kind::srun) == kind::srun));
}

BOOST_AUTO_TEST_CASE(srun_node_count_leaves_the_batch_node_out_unless_alone) {
  env_guard n("SLURM_JOB_NUM_NODES"), b("SLURMD_NODENAME");
  launch_request r;
  r.nodes = 0;  // no --nodes: the allocation decides
  ::setenv("SLURM_JOB_NUM_NODES", "3", 1);
  ::setenv("SLURMD_NODENAME", "node1", 1);
  BOOST_TEST(srun_node_count(r) == 2);  // the coordinator's node runs no stub (Raythena's head node)
  r.include_batch_node = true;
  BOOST_TEST(srun_node_count(r) == 3);
  r.include_batch_node = false;
  ::setenv("SLURM_JOB_NUM_NODES", "1", 1);
  BOOST_TEST(srun_node_count(r) == 1);  // a one-node allocation keeps its node
  ::setenv("SLURM_JOB_NUM_NODES", "3", 1);
  ::unsetenv("SLURMD_NODENAME");  // salloc: the coordinator is not on an allocated node
  BOOST_TEST(srun_node_count(r) == 3);
  r.nodes = 5;  // --nodes wins
  BOOST_TEST(srun_node_count(r) == 5);
}

BOOST_AUTO_TEST_CASE(make_launcher_one_per_kind) {
  for (auto k : {kind::local, kind::srun, kind::ssh}) BOOST_TEST(make_launcher(k)->name() == to_string(k));
  BOOST_TEST(make_launcher(rty::config::launcher_kind::local)->name() == "local");
  BOOST_TEST(make_launcher(kind::local)->remote_alive() == 0);
}

BOOST_AUTO_TEST_CASE(parse_launcher_kind_knows_the_four_names_only) {
  using rty::config::launcher_kind;
  BOOST_TEST((parse_launcher_kind("auto") == launcher_kind::automatic));
  BOOST_TEST((parse_launcher_kind("local") == launcher_kind::local));
  BOOST_TEST((parse_launcher_kind("srun") == launcher_kind::srun));
  BOOST_TEST((parse_launcher_kind("ssh") == launcher_kind::ssh));
  BOOST_TEST(!parse_launcher_kind("pbs"));
  BOOST_TEST(!parse_launcher_kind("Local"));
}

BOOST_AUTO_TEST_CASE(local_launcher_starts_n_stubs_with_secret_in_env_only) {
  temp_dir tmp;
  fs::path stub = tmp.path / "stub.sh";
  fs::path records = tmp.path / "records";
  fs::create_directories(records);
  {
    std::ofstream s(stub);
    // Records its argv (one word per line) and the secret it got from the environment.
    s << "#!/bin/sh\n"
         "node=$4\n"
         "printf '%s\\n' \"$@\" > '"
      << records.string() << "'/$node.argv\n"
      << "printf '%s' \"$RAYTHENA_STUB_SECRET\" > '" << records.string() << "'/$node.secret\n"
      << "echo \"stub $node says hello\"\n"
      << "echo \"stub $node on stderr\" >&2\n";
  }
  fs::permissions(stub, fs::perms::owner_all);
  auto r = base_request();
  r.stub_executable = stub.string();
  r.secret_file = (tmp.path / "secret").string();
  r.log_dir = (tmp.path / "logs").string();
  r.nodes = 3;

  auto l = make_local_launcher();
  auto result = l->launch(r);
  BOOST_TEST(result.failures.empty());
  BOOST_TEST(result.expected_nodes == 3);
  BOOST_REQUIRE(result.processes.size() == 3u);
  for (int i = 0; i < 3; ++i) {
    const auto& p = result.processes[i];
    std::string node = "local-" + std::to_string(i);
    BOOST_TEST(p.pid > 0);
    BOOST_TEST(p.node_ids == std::vector<std::string>{node}, boost::test_tools::per_element());
    BOOST_TEST(p.log_path == r.log_dir + "/" + node + ".log");
    auto st = rty::process::wait(p.pid);
    BOOST_TEST(st.code == 0);

    std::string argv = read_file(records / (node + ".argv"));
    std::string expected;  // "$@" of the stand-in: the stub's argv without argv[0]
    auto words = stub_argv(r, node);
    for (size_t k = 1; k < words.size(); ++k) expected += words[k] + "\n";
    BOOST_TEST(argv == expected);
    BOOST_TEST(argv.find(r.secret) == std::string::npos);
    BOOST_TEST(read_file(records / (node + ".secret")) == r.secret);
    // stdout and stderr both land in the node's log file.
    std::string log = read_file(p.log_path);
    BOOST_TEST(log.find("stub " + node + " says hello") != std::string::npos);
    BOOST_TEST(log.find("stub " + node + " on stderr") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(local_launcher_reports_a_missing_stub_per_node) {
  temp_dir tmp;
  auto r = base_request();
  r.stub_executable = (tmp.path / "no-such-stub").string();
  r.log_dir = (tmp.path / "logs").string();
  r.nodes = 2;
  auto result = make_local_launcher()->launch(r);
  BOOST_TEST(result.processes.empty());
  BOOST_REQUIRE(result.failures.size() == 2u);
  BOOST_TEST(result.failures[0].find("local-0") != std::string::npos);
  BOOST_TEST(result.failures[0].find("no-such-stub") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(srun_launcher_outside_an_allocation_fails_clearly) {
  env_guard g("SLURM_JOB_ID");
  ::unsetenv("SLURM_JOB_ID");
  temp_dir tmp;
  auto r = base_request();
  r.log_dir = (tmp.path / "logs").string();
  auto result = make_srun_launcher()->launch(r);
  BOOST_TEST(result.processes.empty());
  BOOST_REQUIRE(result.failures.size() == 1u);
  BOOST_TEST(result.failures[0].find("not inside a Slurm allocation") != std::string::npos);
  BOOST_TEST(result.failures[0].find("SLURM_JOB_ID") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ssh_launcher_rejects_malformed_host_specs) {
  auto r = base_request();
  r.ssh_hosts = {"root@", "host:99999", "host:abc", "[::1"};
  auto l = make_ssh_launcher();
  auto result = l->launch(r);
  BOOST_TEST(result.processes.empty());
  BOOST_REQUIRE(result.failures.size() == 4u);
  BOOST_TEST(result.failures[0].find("'root@'") != std::string::npos);
  BOOST_TEST(result.failures[0].find("empty host") != std::string::npos);
  BOOST_TEST(result.failures[1].find("'host:99999'") != std::string::npos);
  BOOST_TEST(result.failures[1].find("1..65535") != std::string::npos);
  BOOST_TEST(result.failures[2].find("'abc'") != std::string::npos);
  BOOST_TEST(result.failures[3].find("']'") != std::string::npos);
  BOOST_TEST(l->remote_alive() == 0);
  l->stop_all();
}

BOOST_AUTO_TEST_CASE(ssh_launcher_reports_connection_refused_naming_the_host) {
  auto r = base_request();
  std::string spec = "nobody@127.0.0.1:" + std::to_string(closed_port());
  r.ssh_hosts = {spec};
  auto l = make_ssh_launcher();
  auto result = l->launch(r);
  BOOST_TEST(result.processes.empty());
  BOOST_TEST(result.expected_nodes == 0);
  BOOST_REQUIRE(result.failures.size() == 1u);
  BOOST_TEST_MESSAGE(result.failures[0]);
  BOOST_TEST(result.failures[0].find("ssh " + spec) == 0u);
  BOOST_TEST(result.failures[0].find("connection refused") != std::string::npos);
  BOOST_TEST(l->remote_alive() == 0);
}
