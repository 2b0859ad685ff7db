// The status endpoint's sockets (status_server.hpp).
#include "coordinator/status_server.hpp"

#include <unistd.h>

#include <array>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "common/run_registry.hpp"
#include "config/command_line.hpp"
#include "config/address.hpp"
#include "net/channel.hpp"
#include "net/spawn.hpp"

namespace rty::coordinator {
namespace {
namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr const char* log_name = "Driver";
}  // namespace

status_server::status_server(asio::io_context& io, std::function<status_input()> snapshot)
    : io_(io), snapshot_(std::move(snapshot)) {}

void status_server::start(const std::string& statusaddress, const std::string& workdir) {
  const auto where = config::parse_listen_address(statusaddress);  // the loader checked the form
  if (!where || !where->enabled) {
    RTY_LOG(info, log_name) << "no status endpoint (ray.statusaddress " << statusaddress << ")";
    return;
  }
  boost::system::error_code ec;
  acceptor_.emplace(io_);
  tcp::endpoint ep(asio::ip::make_address(where->host, ec), static_cast<unsigned short>(where->port));
  if (!ec) net::listen_on(*acceptor_, ep, ec, 64);
  if (ec) {
    // Monitoring is not worth losing a batch allocation over: the run goes on without it.
    RTY_LOG(warning, log_name) << "no status endpoint: cannot listen on ray.statusaddress " << statusaddress << ": "
                               << ec.message();
    acceptor_.reset();
    return;
  }
  // status.url names a host the login node can reach: the listen address, or for a wildcard this host's name.
  auto bound = acceptor_->local_endpoint();
  char host_name[256] = {};
  if (::gethostname(host_name, sizeof host_name - 1) != 0) host_name[0] = '\0';
  std::string url = status_url_for(bound.address().to_string(), bound.port(), host_name);
  url_file_ = file::join(workdir, status_url_file);
  if (auto r = file::write_atomic(url_file_, url + "\n"); !r) {
    RTY_LOG(warning, log_name) << "status endpoint " << url << ": " << r.error();
    url_file_.clear();
  }
  record_job(workdir);
  RTY_LOG(info, log_name) << "status at " << url << "/status and /metrics (listening on " << bound.address().to_string()
                          << ", port " << bound.port() << "; raythenad status --workdir " << workdir << ")";
  asio::co_spawn(io_, accept_loop(), net::log_exceptions(log_name, "status listener"));
}

void status_server::stop() {
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  if (!url_file_.empty()) ::unlink(url_file_.c_str());
  url_file_.clear();
  if (!job_id_.empty()) registry::forget_run(registry_dir_, job_id_, workdir_);
  job_id_.clear();
}

// Inside a Slurm job, `raythenad status --jobid N` must find this run even when ray.workdir is neither the
// job's WorkDir nor its StdOut's directory (common/run_registry.hpp).
void status_server::record_job(const std::string& workdir) {
  auto env = config::current_environment();
  auto id = env.find("SLURM_JOB_ID");
  if (id == env.end() || id->second.empty()) return;
  auto dir = registry::registry_dir(env);
  if (!dir) return;
  std::string absolute = workdir;
  if (absolute.empty() || absolute.front() != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return;
    absolute = file::join(cwd, workdir);
  }
  if (auto recorded = registry::record_run(*dir, id->second, absolute); !recorded) {
    RTY_LOG(info, log_name) << "status --jobid " << id->second << " will not find this run: " << recorded.error();
    return;
  }
  job_id_ = id->second;
  registry_dir_ = *dir;
  workdir_ = absolute;
}

asio::awaitable<void> status_server::accept_loop() {
  auto self = shared_from_this();
  asio::steady_timer pause(io_);
  while (acceptor_ && acceptor_->is_open()) {
    auto [ec, socket] = co_await acceptor_->async_accept(as_tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      co_await net::after_accept_error(ec, clients_, pause);
      continue;
    }
    asio::co_spawn(io_, session(std::move(socket)), net::log_exceptions(log_name, "status session"));
  }
}

// GCC inlines Asio's coroutine frame allocation (aligned_alloc) and release (aligned_delete, which
// calls free) into this coroutine and then mistakes them for a mismatched pair.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
asio::awaitable<void> status_server::session(tcp::socket socket) {
  auto self = shared_from_this();
  auto sock = std::make_shared<tcp::socket>(std::move(socket));
  auto deadline = std::make_shared<asio::steady_timer>(io_, 5s);  // slow or silent clients are cut off
  deadline->async_wait([sock](boost::system::error_code ec) {
    if (!ec) sock->close(ec);
  });
  // At most 32 clients at once (the endpoint may listen beyond loopback): past that the oldest goes.
  const std::uint64_t id = ++sessions_;
  clients_.admit(id, [weak = std::weak_ptr<tcp::socket>(sock)] {
    boost::system::error_code ignored;
    if (auto s = weak.lock()) s->close(ignored);
  });
  struct settle_on_exit {
    admission_queue& q;
    std::uint64_t id;
    ~settle_on_exit() { q.settle(id); }
  } settle{clients_, id};
  std::string head;
  std::array<char, 2048> buf{};
  while (!request_head_complete(head) && head.size() < max_request_head) {
    auto [ec, n] = co_await sock->async_read_some(asio::buffer(buf), as_tuple_awaitable);
    if (ec) co_return;
    head.append(buf.data(), n);
  }
  std::string answer = answer_http_request(head, snapshot_());
  co_await asio::async_write(*sock, asio::buffer(answer), as_tuple_awaitable);
  deadline->cancel();
  boost::system::error_code ec;
  sock->shutdown(tcp::socket::shutdown_both, ec);
  sock->close(ec);
}
#pragma GCC diagnostic pop

}  // namespace rty::coordinator
