#include "coordinator/walltime_policy.hpp"

#include <algorithm>
#include <cmath>

namespace rty::coordinator {

void duration_window::add(duration d) {
  if (d < duration::zero()) d = duration::zero();
  if (samples_.size() < capacity_) {
    samples_.push_back(d);
  } else {
    samples_[next_] = d;
    next_ = (next_ + 1) % capacity_;
  }
  cached_.reset();
}

std::optional<duration_window::duration> duration_window::quantile(double q) const {
  if (samples_.empty()) return std::nullopt;
  if (cached_ && cached_->first == q) return cached_->second;
  q = std::clamp(q, 0.0, 1.0);
  std::vector<duration> v = samples_;
  // Nearest rank: the smallest sample with at least q of them at or below it.
  auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(rank - 1), v.end());
  const duration result = v[rank - 1];
  cached_ = std::make_pair(q, result);
  return result;
}

duration_estimate::duration_estimate(const walltime_settings& s)
    : s_(s), job_(s.job_window), job_at_once_(s.job_window) {}

void duration_estimate::record(std::uint32_t node, duration d, bool at_once) {
  auto& w = nodes_.try_emplace(node, node_windows{duration_window(s_.node_window), duration_window(s_.node_window)})
                .first->second;
  job_.add(d);
  w.any.add(d);
  if (at_once) {
    job_at_once_.add(d);
    w.at_once.add(d);
  }
}

std::optional<duration_estimate::duration> duration_estimate::pick(const duration_window* node,
                                                                   const duration_window& job) const {
  auto j = job.quantile(s_.quantile);
  if (!node || node->size() < std::max<std::size_t>(1, s_.node_min_samples)) return j;
  auto n = node->quantile(s_.quantile);
  if (!j) return n;
  const double ratio = std::chrono::duration<double>(*n) / std::chrono::duration<double>(*j);
  return (ratio > 1.0 + s_.node_band || ratio < 1.0 - s_.node_band) ? n : j;
}

std::optional<duration_estimate::duration> duration_estimate::for_node(std::uint32_t node) const {
  auto it = nodes_.find(node);
  return pick(it == nodes_.end() ? nullptr : &it->second.any, job_);
}

std::optional<duration_estimate::duration> duration_estimate::at_once_for_node(std::uint32_t node) const {
  auto it = nodes_.find(node);
  if (it == nodes_.end()) return job_at_once();
  const std::size_t min_samples = std::max<std::size_t>(1, s_.node_min_samples);
  if (it->second.at_once.size() >= min_samples) return pick(&it->second.at_once, job_at_once_);
  // Too few of its own (a node of many workers gets about one a request): the job's, scaled by how
  // much slower or faster the node's ranges are over all samples when that is outside the band.
  const auto job_at_once = this->job_at_once();
  const auto own_any = for_node(node);
  const auto job_any = job();
  if (!job_at_once || !own_any || !job_any || *own_any == *job_any || job_any->count() <= 0) return job_at_once;
  const double ratio = std::chrono::duration<double>(*own_any) / std::chrono::duration<double>(*job_any);
  return std::chrono::duration_cast<duration>(std::chrono::duration<double>(*job_at_once) * ratio);
}

bool fits_before_kill(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                      std::chrono::steady_clock::time_point now,
                      std::optional<std::chrono::steady_clock::duration> estimate) {
  if (!s.aware || !kill_at || !estimate) return true;
  return now + *estimate + s.margin <= *kill_at;
}

std::uint64_t ranges_that_fit(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                              std::chrono::steady_clock::time_point now, const request_timing& r, std::uint64_t count) {
  if (fits_before_kill(s, kill_at, now, r.any)) return count;
  if (fits_before_kill(s, kill_at, now, r.at_once ? r.at_once : r.any))
    return std::min(count, std::max<std::uint64_t>(1, r.free_workers));
  return 0;
}

}  // namespace rty::coordinator
