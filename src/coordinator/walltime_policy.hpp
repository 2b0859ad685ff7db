#pragma once
// Walltime-aware dispatch: how long an event range takes, and whether one handed out now can still
// finish before the kill time. Pure: durations and times come in as arguments; the engine feeds the
// samples (lease -> finished report of each range) and asks before every lease.
//
// Why: at walltime - payload.pilotkilltime the kill file ends every payload, and the ranges pilots hold
// then are lost (their CPU time is wasted, and they are done again by the next batch job). A range
// handed out only when it can finish before the kill time is not lost: it stays ready, is written to the
// checkpoint, and the next batch job takes it. pilot3 reads [] as "no more events": its workers end
// cleanly (docs/pilot-protocol.md, section 5.2), so the node's cores go idle instead of burning.
//
// The estimate is a high quantile (p90) of the last few hundred lease -> finish durations: per node once
// that node has enough samples of its own and its quantile differs from the job's by more than
// node_band (a slow node holds back earlier, a fast one later), else over the job. The band keeps a
// node's few samples from deciding alone: the p90 of 50 log-normal samples (sigma 0.5) is off by about
// 12 %, and when alike nodes stop at scattered times the run's end waits for the last one while the
// others idle. It is
// kept twice. pilot3's ESProcess asks for nRanges = its worker count only when its cache is empty and a
// worker is ready (esprocess.py get_event_range_to_payload, baseexecutor.get_event_ranges with raythena's
// queue_factor 1), so of a full answer only the ranges for the free workers start at once; the others
// wait in the cache behind a running range, and their lease -> finish includes that wait. The estimate
// of "any range" (every sample) decides whether a full answer fits; the estimate of "a range a free
// worker starts at once" (samples of the ranges that went to free workers) decides whether the free
// workers may still get one each. Near the kill time a node is so given only what starts at once, and
// no range waits in a cache until it is too late. Both include pilot's report interval (conservative:
// pilot flushes finished ranges when it sees the kill file).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace rty::coordinator {

struct walltime_settings {
  bool aware = true;                              // ray.walltimeaware; false: Raythena's rule (hand out until the kill time)
  std::chrono::seconds margin{60};                // ray.walltimemargin: added to the estimate
  double quantile = 0.9;                          // of the duration samples
  std::size_t job_window = 400;                   // samples kept over the job
  std::size_t node_window = 50;                   // samples kept per node
  std::size_t node_min_samples = 10;              // a node's own estimate is used from this many samples,
  double node_band = 0.25;                        // and only when it is this fraction above or below the job's
};

// The last `capacity` durations and a quantile of them (recomputed only after a change).
class duration_window {
 public:
  using duration = std::chrono::steady_clock::duration;
  explicit duration_window(std::size_t capacity = 400) : capacity_(capacity < 1 ? 1 : capacity) {}
  void add(duration d);
  std::size_t size() const { return samples_.size(); }
  // The q-quantile (nearest rank) of the kept samples; nullopt when there are none.
  std::optional<duration> quantile(double q) const;

 private:
  std::size_t capacity_;
  std::vector<duration> samples_;  // a ring once full
  std::size_t next_ = 0;
  mutable std::optional<std::pair<double, duration>> cached_;
};

class duration_estimate {
 public:
  using duration = std::chrono::steady_clock::duration;
  explicit duration_estimate(const walltime_settings& s = {});
  // A finished range's lease -> finish time; `at_once`: it went to a worker that was free at the lease.
  void record(std::uint32_t node, duration d, bool at_once = true);
  void forget_node(std::uint32_t node) { nodes_.erase(node); }
  // Any range: the node's own quantile once it has node_min_samples and it is outside the job's
  // node_band, else the job's; nullopt: no sample yet.
  std::optional<duration> for_node(std::uint32_t node) const;
  // A range a free worker starts at once, the same way; a node with too few such samples of its own
  // takes the job's, scaled by its for_node / job() when for_node is its own; nullopt: no such sample yet.
  std::optional<duration> at_once_for_node(std::uint32_t node) const;
  std::optional<duration> job() const { return job_.quantile(s_.quantile); }
  std::optional<duration> job_at_once() const { return job_at_once_.quantile(s_.quantile); }
  std::size_t samples() const { return job_.size(); }

 private:
  struct node_windows {
    duration_window any, at_once;
  };
  std::optional<duration> pick(const duration_window* node, const duration_window& job) const;
  walltime_settings s_;
  duration_window job_, job_at_once_;
  std::map<std::uint32_t, node_windows> nodes_;
};

// May a range handed out at `now` with duration `estimate` be given? Yes without a kill time, with
// walltime awareness off, or without an estimate (nothing finished yet: nothing to go by); else only
// when now + estimate + margin is not past the kill time.
bool fits_before_kill(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                      std::chrono::steady_clock::time_point now,
                      std::optional<std::chrono::steady_clock::duration> estimate);

// One getEventRanges as the fit rule sees it.
struct request_timing {
  std::optional<std::chrono::steady_clock::duration> any;      // duration_estimate::for_node
  std::optional<std::chrono::steady_clock::duration> at_once;  // duration_estimate::at_once_for_node
  std::uint64_t free_workers = 1;  // of the asking pilot's workers, at least this many hold no range
};

// pilot3 asks with its cache empty, for its worker count `asked` (a worker it answered "No more events"
// has ended): of those, the workers neither running one of the `held` ranges leased to it and not yet
// reported nor `ended` are free, and the asking one surely is. A lower bound: a finished range not yet
// reported still counts as held.
inline std::uint64_t free_workers(std::uint64_t asked, std::uint64_t held, std::uint64_t ended) {
  const std::uint64_t busy = held + ended;
  return asked > busy ? asked - busy : 1;
}

// How many of `count` ranges a request may be given: all of them when a range that waits in pilot's
// cache still fits (fits_before_kill with `any`); else one for each free worker (at least the asking
// one) when a range started at once fits (`at_once`, or `any` without such a sample); else none: the
// request is held back.
std::uint64_t ranges_that_fit(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                              std::chrono::steady_clock::time_point now, const request_timing& r, std::uint64_t count);

}  // namespace rty::coordinator
