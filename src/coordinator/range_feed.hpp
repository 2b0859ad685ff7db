#pragma once
// harvester.eventsource = harvester: ranges come from Harvester's event feed (docs/harvester-files.md).
// A request of ray.cachesizefactor batches (one batch: corepernode per node) is kept outstanding
// while less than half of that is leasable: Harvester's answers take minutes, and a pilot that finds
// nothing ready waits at most half its curl limit before one of its workers ends.
//
// No Asio: the daemon calls step() from a timer and waits the returned delay; the messenger does a
// few plain file operations per call.
#include <chrono>
#include <cstdint>
#include <vector>

#include "bookkeeping/bookkeeper.hpp"
#include "common/job_spec.hpp"
#include "harvester/messenger.hpp"

namespace rty::coordinator {

struct feed_sizes {
  std::uint64_t batch = 0;  // corepernode x nodes: one request of every core
  int ask = 0;              // ranges per request: batch x ray.cachesizefactor
};
feed_sizes range_feed_sizes(int corepernode, int nodes, int cachesizefactor);
// Whether another request should be outstanding with `leasable` ranges ready.
bool feed_wants_more(std::uint64_t leasable, const feed_sizes& sizes);

struct feed_step {
  bool supplied = false;  // the book changed (ranges added, or the feed ended): tell the engine
  bool ended = false;     // Harvester's feed failed: it is treated as exhausted, no more steps
  std::chrono::milliseconds delay{50};
};

// What goes to Harvester's event-status dump for range results: status only. An entry with a path
// would make Harvester stage out the per-range file, but the outputs are merged on site and reach
// Harvester through state.json's merged map.
std::vector<rty::range_update> status_only(const std::vector<rty::range_update>& updates);

class range_feed {
 public:
  range_feed(harvester::messenger& messenger, bookkeeping::bookkeeper& book, const rty::job_spec& job, feed_sizes sizes)
      : messenger_(messenger), book_(book), job_(job), sizes_(sizes) {}
  // More ranges are awaited from Harvester.
  bool active() const { return book_.awaiting_supply() > 0; }
  // Asks for more ranges if too few are leasable, and takes Harvester's answer if there is one.
  feed_step step(harvester::clock::time_point now);

 private:
  harvester::messenger& messenger_;
  bookkeeping::bookkeeper& book_;
  const rty::job_spec& job_;
  feed_sizes sizes_;
};

}  // namespace rty::coordinator
