#pragma once
// Output paths of finished ranges, held until their merge group closes, at a few bytes per range
// instead of a std::string each (32 bytes plus a heap block of the path's length: ~200 bytes for a
// task-dir path, over a gigabyte for a 10 M-range job).
//
// A path is cut at its last '/'. The directory (the task dir, or a node's directory) is interned once
// per job in a dir_table. The file name goes into its group's arena with the range's id, when the name
// contains it, replaced by a marker: the per-range names of a group ("HITS.pool.root.<id>" and the
// like) then share one arena entry, and a range costs 8 bytes. Names without the id cost their length.
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rty::bookkeeping {

// Directories of the job's per-range outputs: a handful on a real site (the task dir), one per node
// in some layouts. Bounded: past max_dirs a path is stored whole in its group's arena instead.
class dir_table {
 public:
  static constexpr std::uint32_t none = 0xffffffffu;
  static constexpr std::size_t max_dirs = 1u << 20;

  // The id of `dir`, or none when the table is full.
  std::uint32_t intern(std::string_view dir);
  std::string_view at(std::uint32_t id) const { return dirs_[id]; }
  std::size_t size() const { return dirs_.size(); }

 private:
  std::deque<std::string> dirs_;  // a deque: the views in index_ stay valid as it grows (and when moved)
  std::unordered_map<std::string_view, std::uint32_t> index_;
};

// The paths of one merge group, by position in the group.
class group_paths {
 public:
  explicit group_paths(std::uint32_t size) : entries_(size) {}

  // An empty path is stored as "no path" (get() gives "" for both).
  void set(std::uint32_t pos, std::string_view path, std::string_view range_id, dir_table& dirs);
  // Appends the path of `pos` to `out` (nothing when unset). `range_id` must be the id given to set().
  void append(std::string& out, std::uint32_t pos, std::string_view range_id, const dir_table& dirs) const;
  std::string get(std::uint32_t pos, std::string_view range_id, const dir_table& dirs) const {
    std::string s;
    append(s, pos, range_id, dirs);
    return s;
  }

 private:
  static constexpr std::uint32_t unset = 0xffffffffu;
  struct entry {
    std::uint32_t dir = dir_table::none;
    std::uint32_t name = unset;  // offset of the name's record in arena_
  };
  // One record: head length and tail length (varints; tail length 0 with a flag for "no id"), then
  // head bytes and tail bytes. The name is head + id + tail, or just head.
  std::uint32_t add_name(std::string_view head, std::string_view tail, bool with_id);

  std::vector<entry> entries_;
  std::string arena_;
  std::uint32_t last_name_ = unset;  // consecutive finishes nearly always share their name record
};

}  // namespace rty::bookkeeping
