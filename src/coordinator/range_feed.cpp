// Harvester's event range feed (range_feed.hpp).
#include "coordinator/range_feed.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "common/log.hpp"

namespace rty::coordinator {
namespace {
constexpr const char* log_name = "Driver";
using namespace std::chrono_literals;
}  // namespace

feed_sizes range_feed_sizes(int corepernode, int nodes, int cachesizefactor) {
  feed_sizes s;
  nodes = std::max(1, nodes);
  s.batch = static_cast<std::uint64_t>(std::max(0, corepernode)) * static_cast<std::uint64_t>(nodes);
  s.ask = std::max(0, corepernode) * nodes * std::max(1, cachesizefactor);
  return s;
}

bool feed_wants_more(std::uint64_t leasable, const feed_sizes& sizes) {
  return leasable < std::max<std::uint64_t>(sizes.batch, static_cast<std::uint64_t>(sizes.ask) / 2);
}

std::vector<rty::range_update> status_only(const std::vector<rty::range_update>& updates) {
  std::vector<rty::range_update> out;
  out.reserve(updates.size());
  for (const auto& u : updates) {
    rty::range_update e;
    e.range_id = u.range_id;
    e.status = u.status;
    e.error_code = u.error_code;
    out.push_back(std::move(e));
  }
  return out;
}

feed_step range_feed::step(harvester::clock::time_point now) {
  feed_step out;
  if (feed_wants_more(book_.leasable(), sizes_)) {
    auto req = messenger_.request_ranges(job_.panda_id, sizes_.ask, job_.task_id, job_.jobset_id, now);
    if (!req) RTY_LOG(error, log_name) << "event range request: " << req.error();
  }
  auto result = messenger_.poll_ranges(now);
  if (auto* got = std::get_if<harvester::ranges_ready>(&result)) {
    out.supplied = true;
    if (got->ranges.empty()) {
      auto groups = book_.source_exhausted();
      RTY_LOG(info, log_name) << "Harvester has no more event ranges for job " << job_.panda_id
                              << (groups ? "; " + std::to_string(groups) +
                                               " output(s) it never completed here are reported as not merged"
                                         : std::string());
    } else {
      std::vector<std::string> problems;
      auto added = book_.supply(got->ranges, &problems);
      for (auto& p : problems) RTY_LOG(warning, log_name) << "Harvester ranges: " << p;
      RTY_LOG(info, log_name) << "Harvester supplied " << added << " event range(s) (" << got->archived_as << ")";
    }
  } else if (auto* failed = std::get_if<harvester::failed>(&result)) {
    RTY_LOG(critical, log_name) << "event ranges from Harvester: " << failed->message
                                << "; treating it as the end of the event feed";
    book_.source_exhausted();
    out.supplied = true;
    out.ended = true;
  } else {
    out.delay = std::min<std::chrono::milliseconds>(std::get<harvester::waiting>(result).delay, 1000ms);
    if (out.delay.count() == 0) out.delay = 50ms;
  }
  return out;
}

}  // namespace rty::coordinator
