#include "launch/launcher.hpp"

#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "common/log.hpp"
#include "common/process.hpp"

namespace rty::launch {

std::vector<std::string> stub_argv(const launch_request& request, const std::string& node_id) {
  std::vector<std::string> argv = {request.stub_executable, "--coordinator", request.coordinator};
  if (!node_id.empty()) {
    argv.push_back("--node-id");
    argv.push_back(node_id);
  }
  if (!request.secret_file.empty()) {
    argv.push_back("--secret-file");
    argv.push_back(request.secret_file);
  }
  if (request.debug) argv.push_back("--debug");
  return argv;
}

std::string_view to_string(kind k) {
  switch (k) {
    case kind::local: return "local";
    case kind::srun: return "srun";
    case kind::ssh: return "ssh";
  }
  return "local";
}

kind resolve(config::launcher_kind configured) {
  switch (configured) {
    case config::launcher_kind::local: return kind::local;
    case config::launcher_kind::srun: return kind::srun;
    case config::launcher_kind::ssh: return kind::ssh;
    case config::launcher_kind::automatic: break;
  }
  const char* job = std::getenv("SLURM_JOB_ID");
  return (job && *job) ? kind::srun : kind::local;
}

std::unique_ptr<launcher> make_launcher(kind k) {
  switch (k) {
    case kind::srun: return make_srun_launcher();
    case kind::ssh: return make_ssh_launcher();
    case kind::local: break;
  }
  return make_local_launcher();
}

std::optional<config::launcher_kind> parse_launcher_kind(std::string_view name) {
  if (name == "auto") return config::launcher_kind::automatic;
  if (name == "local") return config::launcher_kind::local;
  if (name == "srun") return config::launcher_kind::srun;
  if (name == "ssh") return config::launcher_kind::ssh;
  return std::nullopt;
}

namespace {
int allocated_nodes() {
  const char* n = std::getenv("SLURM_JOB_NUM_NODES");
  return n ? std::max(1, std::atoi(n)) : 1;
}

// The batch node, when it gets no stub: Raythena kept the head node for itself; so do we, unless the
// allocation has one node. nullptr when every node gets one.
const char* excluded_batch_node(const launch_request& request) {
  const char* batch_node = std::getenv("SLURMD_NODENAME");
  const bool exclude = !request.include_batch_node && allocated_nodes() > 1 && batch_node && *batch_node;
  return exclude ? batch_node : nullptr;
}
}  // namespace

int srun_node_count(const launch_request& request) {
  if (request.nodes > 0) return request.nodes;
  return excluded_batch_node(request) ? allocated_nodes() - 1 : allocated_nodes();
}

namespace {

class local_launcher final : public launcher {
 public:
  std::string name() const override { return "local"; }

  launch_result launch(const launch_request& request) override {
    launch_result result;
    result.expected_nodes = request.nodes;
    std::error_code ec;
    std::filesystem::create_directories(request.log_dir, ec);
    for (int i = 0; i < request.nodes; ++i) {
      std::string node = "local-" + std::to_string(i);
      process::spawn_options o;
      o.argv = stub_argv(request, node);
      o.env_set["RAYTHENA_STUB_SECRET"] = request.secret;
      o.stdout_path = request.log_dir + "/" + node + ".log";
      o.stderr_path = "=stdout";
      o.append_output = true;
      o.new_process_group = true;
      auto pid = process::spawn(o);
      if (!pid) {
        result.failures.push_back("node " + node + ": " + pid.error().message());
        continue;
      }
      pids_.push_back(*pid);
      result.processes.push_back({*pid, "stub " + node, {node}, o.stdout_path});
    }
    return result;
  }

  void stop_all() override {
    for (pid_t p : pids_) process::signal_group(p, SIGTERM);
  }

 private:
  std::vector<pid_t> pids_;
};

class srun_launcher final : public launcher {
 public:
  std::string name() const override { return "srun"; }

  launch_result launch(const launch_request& request) override {
    launch_result result;
    const char* job = std::getenv("SLURM_JOB_ID");
    if (!job || !*job) {
      result.failures.push_back("srun launcher: not inside a Slurm allocation (SLURM_JOB_ID is unset)");
      return result;
    }
    const int nodes = srun_node_count(request);
    const char* batch_node = excluded_batch_node(request);
    std::vector<std::string> argv = {"srun", "--overlap", "--nodes=" + std::to_string(nodes),
                                     "--ntasks=" + std::to_string(nodes), "--ntasks-per-node=1",
                                     "--kill-on-bad-exit=0", "--no-kill"};
    if (batch_node) argv.push_back(std::string("--exclude=") + batch_node);
    std::error_code ec;
    std::filesystem::create_directories(request.log_dir, ec);
    argv.push_back("--output=" + request.log_dir + "/stub-%N-%n.log");
    auto stub = stub_argv(request, "");  // node id from SLURMD_NODENAME on each node
    argv.insert(argv.end(), stub.begin(), stub.end());
    process::spawn_options o;
    o.argv = argv;
    o.env_set["RAYTHENA_STUB_SECRET"] = request.secret;
    o.stdout_path = request.log_dir + "/srun.log";
    o.stderr_path = "=stdout";
    o.append_output = true;
    auto pid = process::spawn(o);
    if (!pid) {
      result.failures.push_back("srun: " + pid.error().message());
      return result;
    }
    pid_ = *pid;
    result.expected_nodes = nodes;
    result.processes.push_back({*pid, "srun step on " + std::to_string(nodes) + " node(s)", {}, o.stdout_path});
    return result;
  }

  void stop_all() override {
    // srun forwards SIGTERM to every task of the step.
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }

 private:
  pid_t pid_ = -1;
};

}  // namespace

std::unique_ptr<launcher> make_local_launcher() { return std::make_unique<local_launcher>(); }
std::unique_ptr<launcher> make_srun_launcher() { return std::make_unique<srun_launcher>(); }

}  // namespace rty::launch
