#pragma once
// Where the next merge runs, sans-I/O (ray.remotemerges). A merge runs on the coordinator's node
// (local) or, through its stub, on a node whose pilot has ended and that has no more work (idle). Each
// place runs at most `per_place` (ray.mergemaxprocesses) merges at once. Idle nodes come first, the
// least loaded one (ties: the lowest id), so that the tail uses every idle node instead of one; the
// coordinator's node takes what they cannot (with no idle node, merges are local only, as Raythena's).
// With remote merges off, every merge is local.
//
// The engine asks place() before it takes a merge from the scheduler, records it with assign(), and
// release()s it when its result comes. A node lost mid-merge: node_lost() names its merges, which the
// engine gives back to the scheduler (merge_scheduler::requeue_lost) to run elsewhere.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rty::merge {

struct merge_place {
  std::optional<std::uint64_t> node;  // nullopt: the coordinator's node
  bool local() const { return !node; }
  bool operator==(const merge_place&) const = default;
};

class merge_placement {
 public:
  merge_placement(int per_place, bool remote) : per_place_(per_place < 1 ? 1 : per_place), remote_(remote) {}

  // Where a merge may start now, given the nodes idle now; nullopt when every place is full.
  std::optional<merge_place> place(const std::vector<std::uint64_t>& idle_nodes) const;
  void assign(const std::string& output_name, merge_place where);
  // The merge ended (its result came): where it ran; nullopt when it was not running (a stale result).
  std::optional<merge_place> release(const std::string& output_name);
  // Where `output_name` runs now.
  std::optional<merge_place> where(const std::string& output_name) const;
  // The node is gone: the merges that ran there (no longer running anywhere).
  std::vector<std::string> node_lost(std::uint64_t node);

  std::size_t running_on(std::uint64_t node) const;
  std::size_t local_running() const { return local_; }
  std::size_t remote_running() const { return running_.size() - local_; }
  std::size_t remote_started() const { return remote_started_; }  // over the run
  bool remote() const { return remote_; }

 private:
  int per_place_;
  bool remote_;
  std::map<std::string, merge_place> running_;
  std::map<std::uint64_t, std::size_t> per_node_;
  std::size_t local_ = 0;
  std::size_t remote_started_ = 0;
};

}  // namespace rty::merge
