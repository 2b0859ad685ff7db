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
// that node has enough samples of its own (a slow node holds back earlier), else over the job. The
// sample includes the time a range waits in pilot's cache and pilot's report interval, which makes it
// conservative (pilot flushes finished ranges when it sees the kill file).
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
  std::size_t node_min_samples = 10;              // a node's own estimate is used from this many samples
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
  void record(std::uint32_t node, duration d);
  void forget_node(std::uint32_t node) { nodes_.erase(node); }
  // The node's own quantile once it has node_min_samples, else the job's; nullopt: no sample yet.
  std::optional<duration> for_node(std::uint32_t node) const;
  std::optional<duration> job() const { return job_.quantile(s_.quantile); }
  std::size_t samples() const { return job_.size(); }

 private:
  walltime_settings s_;
  duration_window job_;
  std::map<std::uint32_t, duration_window> nodes_;
};

// May a range handed out at `now` with duration `estimate` be given? Yes without a kill time, with
// walltime awareness off, or without an estimate (nothing finished yet: nothing to go by); else only
// when now + estimate + margin is not past the kill time.
bool fits_before_kill(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                      std::chrono::steady_clock::time_point now,
                      std::optional<std::chrono::steady_clock::duration> estimate);

}  // namespace rty::coordinator
