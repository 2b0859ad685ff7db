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

duration_estimate::duration_estimate(const walltime_settings& s) : s_(s), job_(s.job_window) {}

void duration_estimate::record(std::uint32_t node, duration d) {
  job_.add(d);
  nodes_.try_emplace(node, s_.node_window).first->second.add(d);
}

std::optional<duration_estimate::duration> duration_estimate::for_node(std::uint32_t node) const {
  if (auto it = nodes_.find(node); it != nodes_.end() && it->second.size() >= std::max<std::size_t>(1, s_.node_min_samples))
    return it->second.quantile(s_.quantile);
  return job();
}

bool fits_before_kill(const walltime_settings& s, std::optional<std::chrono::steady_clock::time_point> kill_at,
                      std::chrono::steady_clock::time_point now,
                      std::optional<std::chrono::steady_clock::duration> estimate) {
  if (!s.aware || !kill_at || !estimate) return true;
  return now + *estimate + s.margin <= *kill_at;
}

}  // namespace rty::coordinator
