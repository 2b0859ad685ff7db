#pragma once
// The status endpoint: GET /status (JSON) and /metrics (Prometheus) on ray.statusaddress, and the
// status.url file that `raythenad status` reads. The answers are built by answer_http_request
// (status_report.hpp) from what `snapshot` returns; this is only the socket side.
#include <boost/asio.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "coordinator/status_report.hpp"
#include "net/admission.hpp"

namespace rty::coordinator {

class status_server : public std::enable_shared_from_this<status_server> {
 public:
  status_server(boost::asio::io_context& io, std::function<status_input()> snapshot);
  // Listens on `statusaddress` (the loader checked its form) and writes <workdir>/status.url (inside a
  // Slurm job also the run registry's entry, common/run_registry.hpp). A failure is logged and the run
  // goes on without the endpoint.
  void start(const std::string& statusaddress, const std::string& workdir);
  // Stops listening and removes status.url.
  void stop();

 private:
  void record_job(const std::string& workdir);
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);

  boost::asio::io_context& io_;
  std::function<status_input()> snapshot_;
  std::optional<boost::asio::ip::tcp::acceptor> acceptor_;
  admission_queue clients_{32};
  std::uint64_t sessions_ = 0;
  std::string url_file_;
  std::string job_id_, registry_dir_, workdir_;  // the run registry's entry, when one was written
};

}  // namespace rty::coordinator
