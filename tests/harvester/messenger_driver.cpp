// Drives rty::harvester::messenger against a real (fake) Harvester on the file system, for the
// integration test: get the job, write task_workdir_path.txt, pull event ranges until the empty answer,
// report every range finished through status dumps, write the job report. Prints one line per step
// and a final "RESULT {json}" line the test script checks.
#include "common/file_util.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/messenger.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <set>
#include <string>
#include <thread>

namespace hv = rty::harvester;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  std::string cfg, endpoint;
  hv::messenger_options o;
  o.poll_interval = 100ms;
  o.max_backoff = 500ms;
  o.flush_interval = 1s;
  int n_ranges = 3;
  int deadline_s = 20;
  bool job_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--cfg") cfg = next();
    else if (a == "--endpoint") endpoint = next();
    else if (a == "--job-timeout") o.job_timeout = std::chrono::seconds(std::atoi(next().c_str()));
    else if (a == "--rerequest-after") o.rerequest_after = std::chrono::seconds(std::atoi(next().c_str()));
    else if (a == "--corrupt-after") o.corrupt_after = std::chrono::seconds(std::atoi(next().c_str()));
    else if (a == "--n-ranges") n_ranges = std::atoi(next().c_str());
    else if (a == "--deadline") deadline_s = std::atoi(next().c_str());
    else if (a == "--job-only") job_only = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  auto ini = hv::ini_file::load(cfg);
  if (!ini) {
    std::cerr << ini.error().to_string() << "\n";
    return 2;
  }
  auto files = hv::resolve_messenger_files(*ini, endpoint);
  if (!files) {
    std::cerr << files.error() << "\n";
    return 2;
  }
  hv::messenger m(*files, o);
  const auto deadline = hv::clock::now() + std::chrono::seconds(deadline_s);
  auto nap = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(std::min(d, std::chrono::milliseconds(100))); };

  rty::job_spec job;
  while (true) {
    if (hv::clock::now() > deadline) {
      std::cerr << "deadline waiting for the job\n";
      return 4;
    }
    auto r = m.poll_job(hv::clock::now());
    if (auto* f = std::get_if<hv::failed>(&r)) {
      std::cout << "FAILED " << f->message << std::endl;
      return 3;
    }
    if (auto* w = std::get_if<hv::waiting>(&r)) {
      nap(w->delay);
      continue;
    }
    job = std::move(std::get<hv::job_ready>(r).job);
    std::cout << "JOB " << job.panda_id << std::endl;
    break;
  }
  boost::json::object result{{"panda_id", job.panda_id}};
  if (job_only) {
    std::cout << "RESULT " << boost::json::serialize(result) << std::endl;
    return 0;
  }
  if (!hv::write_task_workdir_path(endpoint, endpoint + "/task")) return 5;

  std::set<std::string> seen;
  boost::json::array ids;
  int duplicates = 0;
  bool no_more = false;
  while (!no_more) {
    auto now = hv::clock::now();
    if (now > deadline) {
      std::cerr << "deadline waiting for ranges\n";
      return 4;
    }
    auto req = m.request_ranges(job.panda_id, n_ranges, job.task_id, job.jobset_id, now);
    if (!req) {
      std::cerr << req.error() << "\n";
      return 5;
    }
    auto r = m.poll_ranges(now);
    if (auto* f = std::get_if<hv::failed>(&r)) {
      std::cout << "FAILED " << f->message << std::endl;
      return 3;
    }
    if (auto* w = std::get_if<hv::waiting>(&r)) {
      m.flush_updates(now, false);
      nap(w->delay);
      continue;
    }
    auto& got = std::get<hv::ranges_ready>(r);
    std::cout << "RANGES " << got.ranges.size() << " " << got.archived_as << std::endl;
    if (got.ranges.empty()) no_more = true;
    std::vector<rty::range_update> updates;
    for (auto& range : got.ranges) {
      if (!seen.insert(range.id).second) ++duplicates;
      ids.push_back(boost::json::value(range.id));
      rty::range_update u;
      u.range_id = range.id;
      u.status = rty::range_status::finished;
      u.path = endpoint + "/out-" + range.id;
      u.type = "es_output";
      updates.push_back(u);
    }
    m.queue_update(job.panda_id, updates);
    m.flush_updates(now, false);
  }
  while (m.pending_updates() > 0 && hv::clock::now() < deadline) {
    m.flush_updates(hv::clock::now(), true);
    if (m.pending_updates() > 0) nap(100ms);
  }
  if (!hv::write_job_report(*files, boost::json::object{{"exitCode", 0}, {"ranges", ids.size()}})) return 5;
  result["ranges"] = ids;
  result["duplicates"] = duplicates;
  std::cout << "RESULT " << boost::json::serialize(result) << std::endl;
  return 0;
}
