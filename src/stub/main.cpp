// raythena-stub: the node program started by raythenad's launcher on every node.
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/file_util.hpp"
#include "common/host_port.hpp"
#include "common/log.hpp"
#include "rty/version.hpp"
#include "stub/stub.hpp"

namespace po = boost::program_options;

namespace {
const char* const usage_head =
    "Usage: raythena-stub --coordinator HOST:PORT [--node-id ID] [--secret-file PATH] [options]\n"
    "\n"
    "The per-node program of raythenad. raythenad's launcher (local processes, srun or SSH) starts one\n"
    "per node; you do not normally run it by hand. It connects back to the coordinator over one\n"
    "authenticated TCP channel, serves pilot3's PanDA API on 127.0.0.1 (payload.serverport), runs\n"
    "pilot, and exits when pilot ends or when the coordinator has been gone for the grace period\n"
    "(ray.stubgrace), killing pilot's whole process group.\n"
    "\n"
    "The run's secret is read from RAYTHENA_STUB_SECRET, else from --secret-file (mode 0600 in the\n"
    "shared workdir); it never appears on the command line.\n"
    "\n";
}  // namespace

int main(int argc, char** argv) {
  po::options_description desc("Options");
  std::string coordinator, node_id, secret_file, log_file;
  desc.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("coordinator", po::value(&coordinator), "coordinator address HOST:PORT (required)")
      ("node-id", po::value(&node_id), "node name (default: $SLURMD_NODENAME, else the host name)")
      ("secret-file", po::value(&secret_file), "file holding the run's secret (when RAYTHENA_STUB_SECRET is unset)")
      ("log-file", po::value(&log_file), "append log lines here instead of stderr")
      ("debug,d", "debug logging");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "raythena-stub: " << e.what() << "\n(see raythena-stub --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << usage_head << desc;
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "raythena-stub " << rty::version << "\n";
    return 0;
  }
  rty::log::set_level(vm.count("debug") ? rty::log::level::debug : rty::log::level::info);
  if (!log_file.empty()) {
    if (auto r = rty::log::set_file(log_file); !r) {
      std::cerr << "raythena-stub: " << r.error() << "\n";
      return 2;
    }
  }
  auto address = rty::parse_host_port(coordinator);
  if (!address || address->port == 0) {
    std::cerr << "raythena-stub: --coordinator needs HOST:PORT with a numeric address and a port 1-65535"
              << (coordinator.empty() ? "" : ", not '" + coordinator + "'") << "\n";
    return 2;
  }
  rty::stub::options opts;
  opts.host = address->host;
  opts.port = static_cast<unsigned short>(address->port);
  if (node_id.empty()) {
    if (const char* n = std::getenv("SLURMD_NODENAME")) node_id = n;
  }
  if (node_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    node_id = host;
  }
  opts.node_id = node_id;
  rty::file::harden_umask();  // srun and ssh hand down whatever umask the user's shell had
  if (char* s = std::getenv("RAYTHENA_STUB_SECRET"); s && *s) {
    opts.secret = s;
    // unsetenv only drops the pointer: the bytes stay in the environment block the kernel shows in
    // /proc/<pid>/environ for the process's whole life (issue 13). Overwrite them in place first.
    // getenv points into that block (nothing set this variable since exec), so this clears it there.
    // The owner (and root) can read environ; any other uid cannot, and pilot never inherits it.
    std::fill(s, s + std::strlen(s), '\0');
    ::unsetenv("RAYTHENA_STUB_SECRET");
  } else if (!secret_file.empty()) {
    auto text = rty::file::read_all(secret_file);
    if (!text) {
      std::cerr << "raythena-stub: " << text.error() << "\n";
      return 2;
    }
    opts.secret = *text;
    while (!opts.secret.empty() && (opts.secret.back() == '\n' || opts.secret.back() == ' ')) opts.secret.pop_back();
  }
  if (opts.secret.empty()) {
    std::cerr << "raythena-stub: no secret (set RAYTHENA_STUB_SECRET or --secret-file)\n";
    return 2;
  }
  return rty::stub::run(std::move(opts));
}
