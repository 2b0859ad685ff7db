// Bookkeeping benchmark: memory per event range held and lease+finish throughput.
//
//   bench_bookkeeping [--ranges N]     (default 10,000,000 single-event ranges)
//
// Job: N/1000 inputs x 1000 events (H = E, one output per input). 64 virtual nodes lease batches of 8
// ranges in turn and finish them with a per-range output path; ready merges are reported merged at once.
//
// Method:
// - bookkeeping_bytes_per_range = (VmRSS after constructing the bookkeeper - VmRSS just before) / N,
//   VmRSS read from /proc/self/status. The job spec (input names) is built before the first reading,
//   so only what the bookkeeper itself holds for the loaded ranges is counted (it keeps its own copy of
//   the names, which is counted). Per-range output paths are not part of this figure: they exist only
//   for finished ranges not yet merged; their peak count and the RSS growth during the run are printed
//   separately (bookkeeping_peak_unmerged_paths, bookkeeping_run_rss_growth_bytes).
// - bookkeeping_ranges_per_s = N / wall time of the lease/update/merge loop (steady_clock), covering id
//   synthesis, update parsing, path storage and merge-task building. One thread.
// - bookkeeping_checkpoint_ms: one snapshot()+to_json+serialize at half-way, for sizing the interval.
#include <boost/json/serialize.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "bookkeeping/bookkeeper.hpp"

namespace {

long vm_rss_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t ranges = 10'000'000;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ranges") == 0 && i + 1 < argc) {
      ranges = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::cerr << "usage: " << argv[0] << " [--ranges N]\n";
      return 2;
    }
  }
  const std::int64_t events = ranges >= 1000 ? 1000 : std::int64_t(std::max<std::uint64_t>(ranges, 1));
  const std::uint64_t inputs = std::max<std::uint64_t>(1, ranges / std::uint64_t(events));
  ranges = inputs * std::uint64_t(events);

  rty::job_spec job;
  job.panda_id = "6000000001";
  job.events_per_input = events;
  job.events_per_output = events;
  char name[96];
  for (std::uint64_t i = 1; i <= inputs; ++i) {
    std::snprintf(name, sizeof name, "EVNT.40000000._%06llu.pool.root.1", static_cast<unsigned long long>(i));
    job.in_files.emplace_back(name);
    job.guids.emplace_back("5CB58585-2D19-4FB5-91BA-4BFF2E8F" + std::to_string(1000 + i % 9000));
    std::snprintf(name, sizeof name, "HITS.40000001._%06llu.pool.root.1", static_cast<unsigned long long>(i));
    job.output_files.emplace_back(name);
  }
  rty::bookkeeping::options opts;
  opts.endpoint = "/scratch/harvester/endpoint";
  opts.task_dir = "/scratch/harvester/tasks/40000001";

  const long rss_before = vm_rss_kb();
  rty::bookkeeping::bookkeeper bk(job, opts);
  const long rss_loaded = vm_rss_kb();
  const double bytes_per_range = double(rss_loaded - rss_before) * 1024.0 / double(ranges);

  constexpr rty::bookkeeping::node_id nodes = 64;
  constexpr std::size_t batch = 8;
  std::uint64_t peak_unmerged = 0, done = 0;
  double checkpoint_ms = -1;
  std::vector<rty::range_update> updates;
  const auto start = std::chrono::steady_clock::now();
  while (!bk.complete()) {
    for (rty::bookkeeping::node_id node = 0; node < nodes; ++node) {
      auto leased = bk.lease(node, batch);
      if (leased.empty()) continue;
      updates.clear();
      for (auto& r : leased) {
        rty::range_update u;
        u.path = opts.task_dir + "/" + r.id + ".HITS.pool.root";
        u.range_id = std::move(r.id);
        u.status = rty::range_status::finished;
        u.type = "es_output";
        updates.push_back(std::move(u));
      }
      done += bk.apply_update(node, updates).finished;
      auto c = bk.get_counts();
      peak_unmerged = std::max(peak_unmerged, c.finished - c.merged_events);
      for (auto& t : bk.take_ready_merges())
        bk.merge_succeeded(t.output_name, opts.task_dir + "/final/" + t.output_name, "GUID");
    }
    if (checkpoint_ms < 0 && done >= ranges / 2) {
      const auto t0 = std::chrono::steady_clock::now();
      auto text = boost::json::serialize(rty::bookkeeping::to_json(bk.snapshot()));
      checkpoint_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      std::cout << "checkpoint at half-way: " << text.size() << " bytes\n";
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const long rss_end = vm_rss_kb();
  auto c = bk.get_counts();
  if (c.merged_events != ranges || done != ranges) {
    std::cerr << "bench_bookkeeping: expected " << ranges << " merged events, got " << c.merged_events << "\n";
    return 1;
  }
  std::cout << "ranges " << ranges << " (" << inputs << " inputs x " << events << " events), " << nodes
            << " nodes, batch " << batch << ", " << seconds << " s\n";
  std::cout << "VmRSS kB: before " << rss_before << ", loaded " << rss_loaded << ", end " << rss_end << "\n";
  std::cout << "BENCH bookkeeping_peak_unmerged_paths " << peak_unmerged << "\n";
  std::cout << "BENCH bookkeeping_run_rss_growth_bytes " << (rss_end - rss_loaded) * 1024 << "\n";
  std::cout << "BENCH bookkeeping_checkpoint_ms " << checkpoint_ms << "\n";
  std::cout << "BENCH bookkeeping_bytes_per_range " << bytes_per_range << "\n";
  std::cout << "BENCH bookkeeping_ranges_per_s " << static_cast<std::uint64_t>(double(ranges) / seconds) << "\n";
  return 0;
}
