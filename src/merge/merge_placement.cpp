#include "merge/merge_placement.hpp"

namespace rty::merge {

std::optional<merge_place> merge_placement::place(const std::vector<std::uint64_t>& idle_nodes) const {
  if (remote_) {
    std::optional<std::uint64_t> best;
    std::size_t best_load = 0;
    for (auto node : idle_nodes) {
      const std::size_t load = running_on(node);
      if (load >= static_cast<std::size_t>(per_place_)) continue;
      if (!best || load < best_load || (load == best_load && node < *best)) {
        best = node;
        best_load = load;
      }
    }
    if (best) return merge_place{best};
  }
  if (local_ < static_cast<std::size_t>(per_place_)) return merge_place{};
  return std::nullopt;
}

void merge_placement::assign(const std::string& output_name, merge_place where) {
  if (running_.count(output_name)) return;
  running_.emplace(output_name, where);
  if (where.local()) {
    ++local_;
  } else {
    ++per_node_[*where.node];
    ++remote_started_;
  }
}

std::optional<merge_place> merge_placement::release(const std::string& output_name) {
  auto it = running_.find(output_name);
  if (it == running_.end()) return std::nullopt;
  merge_place where = it->second;
  running_.erase(it);
  if (where.local()) {
    --local_;
  } else if (auto n = per_node_.find(*where.node); n != per_node_.end() && --n->second == 0) {
    per_node_.erase(n);
  }
  return where;
}

std::optional<merge_place> merge_placement::where(const std::string& output_name) const {
  auto it = running_.find(output_name);
  if (it == running_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> merge_placement::node_lost(std::uint64_t node) {
  std::vector<std::string> lost;
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->second.node == node) {
      lost.push_back(it->first);
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  per_node_.erase(node);
  return lost;
}

std::size_t merge_placement::running_on(std::uint64_t node) const {
  auto it = per_node_.find(node);
  return it == per_node_.end() ? 0 : it->second;
}

}  // namespace rty::merge
