#pragma once
// Event-range bookkeeping for one job (docs/architecture.md): which ranges are ready, leased to a node,
// finished (with their per-range output) or failed; which merge groups are ready, running, merged or
// failed; and what the checkpoint must hold. Pure logic: no I/O, no threads, no clock. The coordinator
// owns the event loop, calls in, and persists snapshot() with save_checkpoint().
//
// Memory: per range only 6 bytes (state, attempts, owner node) in per-input arrays; range ids, PFNs
// and GUIDs are synthesised when leased. Per-range output paths are kept, compressed (range_paths.hpp,
// 8 bytes for a typical path), only while their merge group needs them.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bookkeeping/checkpoint.hpp"
#include "bookkeeping/range_paths.hpp"
#include "common/event_range.hpp"
#include "common/job_spec.hpp"
#include "common/merge_task.hpp"

namespace rty::bookkeeping {

using node_id = std::uint32_t;

struct options {
  std::string endpoint;  // PFN = endpoint + "/" + LFN (not normalised, docs/pilot-protocol.md)
  int max_attempts = 3;  // attempts per range before its merge group fails (1..255)
  std::string task_dir;  // O: final paths are O/final/<output>
  // harvester.eventsource = harvester: a range is handed out only after Harvester supplied it (supply());
  // pilots see Harvester's eventRangeIDs. Default: every range of the job is ready at once (Raythena today).
  bool external_ranges = false;
  // Asked only about a finish from a node that does not hold the range's lease (below): is `path` a
  // regular file of `fsize` bytes? The one piece of I/O the rule needs, so it stays with the caller
  // (the daemon passes a stat); unset, such finishes are never counted.
  std::function<bool(const std::string& path, std::int64_t fsize)> output_present;
};

// A finish reported by a node that does not hold the range's lease (a node thought lost that comes
// back, a pilot that reports after its exit released the range, a forged update: issue 13) is counted
// only when all of these hold, and otherwise logged and not counted:
//  - the range is not leased to another node: leases belong to live nodes only (release_node on loss
//    and on pilot exit), and that node's own result will come;
//  - the output path lies under the task directory (output_under_task_dir);
//  - the file exists with the reported size (options.output_present).
// Counting it saves simulating the range again; refusing it costs only that. Every other finish,
// owned ones included, must name a path under the task directory too, or it counts as a failed attempt.
//
// Lexical: `path` is `task_dir`/<one or more components>, none of them empty, "." or "..".
bool output_under_task_dir(std::string_view path, std::string_view task_dir);

// Ranges: ready + leased + finished + failed == total at all times.
struct counts {
  std::uint64_t total = 0;
  std::uint64_t ready = 0;
  std::uint64_t leased = 0;
  std::uint64_t finished = 0;  // finished ranges of groups not failed (merged ones included)
  std::uint64_t failed = 0;    // ranges of failed groups, whatever each range's own fate
  std::uint64_t merged_events = 0;
  std::uint64_t failed_events = 0;
  std::uint64_t merges_pending = 0;  // ready to merge or merging
  std::uint64_t merges_done = 0;
  std::uint64_t merges_failed = 0;
  std::uint64_t groups_failed = 0;  // by range failures or merge failures
};

struct update_outcome {
  std::size_t finished = 0;    // ranges newly recorded finished
  std::size_t failed = 0;      // failure reports applied (retried or group failed)
  std::size_t retried = 0;     // of those, ranges made ready again
  std::size_t duplicates = 0;  // finishes of ranges already finished: output not merged
  std::size_t unknown = 0;     // unparsable/unknown range ids, or invalid statuses
  std::size_t not_owned = 0;   // entries from a node not holding the lease (of those, finishes counted:
                               // `trusted`; the rest are logged only)
  std::size_t trusted = 0;     // not-owned finishes that passed the rule above and were recorded
  std::size_t discarded = 0;   // entries for ranges of merge groups already failed
  std::size_t ignored = 0;     // "running" reports
  std::vector<std::string> problems;  // one line each, for the log
};

enum class output_state : std::uint8_t { open, ready, running, merged, failed };

// One final output (merge group) as the final report and the rename step need it.
struct output_info {
  std::size_t index = 0;
  std::string name;           // the current job's output name
  std::string recorded_name;  // name it was merged under (differs after a resume with new names)
  std::string final_path;     // merged file; empty until merged
  std::string guid;
  output_state state = output_state::open;
  std::vector<std::string> input_files;
};

class bookkeeper {
 public:
  // Throws std::invalid_argument when check_job() reports a problem; validate first.
  bookkeeper(const rty::job_spec& job, options opts);
  bookkeeper(const bookkeeper&) = delete;  // its lookup table points into its own strings
  bookkeeper& operator=(const bookkeeper&) = delete;
  bookkeeper(bookkeeper&&) = default;
  bookkeeper& operator=(bookkeeper&&) = default;

  // nullopt if the bookkeeper can handle `job`, else a message naming the field and the problem.
  static std::optional<std::string> check_job(const rty::job_spec& job);

  // Resume from a checkpoint (spec §3.7, with §7 items 1 and 9 fixed): recorded finished ranges go
  // straight to merging, failed groups stay failed, already-merged outputs are done, everything else
  // ready. `renamed` maps old output names to current ones (from the commit log). Discards any state
  // this bookkeeper had. Inconsistencies are logged and listed in restore_problems().
  void restore(const checkpoint& cp, const std::map<std::string, std::string>& renamed = {});
  const std::vector<std::string>& restore_problems() const { return restore_problems_; }

  // Up to n ready ranges, contiguous in file order; fewer or none if not available now. Ranges that
  // failed on `node` go to other nodes first.
  std::vector<rty::event_range> lease(node_id node, std::size_t n);
  update_outcome apply_update(node_id node, const std::vector<rty::range_update>& entries);
  // Node lost / pilot exited: its leases go back to ready (not counted as attempts). Returns how many.
  std::size_t release_node(node_id node);
  // Ranges a node received but could not deliver to its pilot (pilot gave up on the request): back
  // to ready without counting an attempt. Ids not leased to `node` are ignored. Returns how many.
  std::size_t return_ranges(node_id node, const std::vector<std::string>& range_ids);
  std::size_t leased_to(node_id node) const;

  bool exhausted() const;  // nothing ready, nothing leased: answer "no more" to pilots

  // --- external range source (options.external_ranges) ---
  // Ranges from Harvester (docs/harvester-files.md): each names an input LFN (its PFN's last
  // component) and one event (startEvent == lastEvent). They become ready under Harvester's id.
  // Ranges that are unknown, multi-event, or already supplied/recorded are skipped with a problem line.
  std::size_t supply(const std::vector<rty::event_range>& ranges, std::vector<std::string>* problems = nullptr);
  // Harvester answered "no more": ranges it never supplied belong to nobody here; their merge groups
  // are failed (reported as not merged) so that the task can complete. Returns the groups failed.
  std::size_t source_exhausted();
  // Ranges of the job Harvester has not supplied yet (0 without an external source or once exhausted).
  std::uint64_t awaiting_supply() const { return unsupplied_ready_; }
  // Ready ranges that can be leased now.
  std::uint64_t leasable() const { return counts_.ready - unsupplied_ready_; }
  std::vector<rty::merge_task> take_ready_merges();  // each task returned once
  // Both return false (and change nothing) when `output_name` is not a merge that is running.
  bool merge_succeeded(const std::string& output_name, const std::string& final_path, const std::string& guid);
  bool merge_failed(const std::string& output_name);  // permanent: the group's events count as failed
  bool complete() const;  // exhausted() and no merge ready or running

  counts get_counts() const { return counts_; }
  checkpoint snapshot() const;  // what state.json must hold now
  // Streams snapshot() as state.json, the same bytes as serialize(to_json(snapshot())) without building
  // either (for a 10 M-range job those are gigabytes and seconds). With `renamed`, merged outputs appear
  // under their current names, at final_dir/<name> (coordinator::with_current_names's rule).
  void write_snapshot(json_stream& out, const std::map<std::string, std::string>& renamed = {},
                      const std::string& final_dir = {}) const;
  std::vector<output_info> outputs() const;
  // "ready", "leased", "finished", "failed", "merged" or nullopt for an unknown id.
  std::optional<std::string> state_of(std::string_view range_id) const;

 private:
  enum range_state : std::uint8_t { ready = 0, leased = 1, finished = 2, closed = 3 };
  static constexpr node_id no_node = 0xffffffffu;

  struct file_state {
    std::string lfn;
    std::string guid;
    // Per range, index n-1. Freed once every output holding this file's events is closed.
    std::vector<std::uint8_t> state;
    std::vector<std::uint8_t> attempts;
    std::vector<node_id> owner;  // leased: the lessee; ready after a failure: the node it failed on
    std::vector<std::uint8_t> supplied;  // external source only: Harvester handed this range to us
    std::uint32_t ready = 0;
    std::uint32_t first_ready = 0;  // no ready range below this index
    std::uint32_t open_outputs = 0;
  };
  struct output_slot {
    output_state state = output_state::open;
    std::uint32_t finished = 0;
    std::unique_ptr<group_paths> paths;  // by position in the group, while needed
  };
  struct merged_meta {
    std::string recorded_name, final_path, guid;
  };
  struct range_ref {
    std::uint32_t file = 0, index = 0;  // index = event number - 1
  };

  void reset();
  std::optional<range_ref> parse_id(std::string_view id) const;
  std::string make_id(range_ref r) const;
  void make_id(range_ref r, std::string& out) const;  // into a reused buffer
  std::string path_of(std::uint32_t output, range_ref r, std::uint32_t pos) const;
  bool all_outputs_merged(std::uint32_t file) const;
  // f(range_ref, std::string_view id) for the ranges of `file` with index in [lo, hi) that keep(range_ref)
  // accepts, in the order of their ids as strings (std::map's order in checkpoint), without sorting
  // synthesised ids.
  template <class K, class F>
  void for_each_in_id_order(std::uint32_t file, std::uint32_t lo, std::uint32_t hi, K&& keep, F&& f) const;
  std::uint32_t output_of(range_ref r) const;
  std::uint32_t position_in_output(range_ref r) const;
  template <class F>
  void for_each_range(std::uint32_t output, F&& f) const;
  std::vector<std::uint32_t> files_of(std::uint32_t output) const;
  std::vector<std::uint32_t> outputs_of(std::uint32_t file) const;
  std::uint64_t key(range_ref r) const { return std::uint64_t(r.file) * events_per_input_ + r.index; }

  void scan(node_id node, std::size_t n, bool skip_own_failures, std::vector<rty::event_range>& out,
            bool& skipped);
  void make_ready(range_ref r, node_id failed_on);
  void drop_lease(range_ref r);
  void record_finish(range_ref r, std::string_view path);
  void apply_unowned(node_id node, const rty::range_update& e, range_ref r, std::uint8_t st, bool in_task_dir,
                     update_outcome& res);
  void apply_failed_attempt(node_id node, const rty::range_update& e, range_ref r, update_outcome& res);
  void fail_group(std::uint32_t output);
  void close_output(std::uint32_t output, output_state final_state);
  void maybe_queue_merge(std::uint32_t output);
  // External source: `r` leaves the ready state without having been supplied (restore, late finish, failed group).
  void settle_unsupplied(range_ref r);
  void recount_unsupplied();
  int output_by_name(const std::string& name) const;

  // write_snapshot's sections and their helpers.
  struct path_scratch;
  merged_meta meta_of(std::uint32_t output) const;
  std::pair<std::uint32_t, std::uint32_t> outputs_of_file(std::uint32_t file) const;  // [first, first + n)
  std::pair<std::uint32_t, std::uint32_t> span_in_file(std::uint32_t output) const;   // 1->N: its events' indexes
  template <class P>
  bool any_output(std::uint32_t file, P pred) const;
  const std::string_view* range_path(range_ref r, std::string_view id, path_scratch& scratch) const;
  template <class K, class E>
  void ranges_of_file(json_stream& out, std::uint32_t file, std::uint32_t lo, std::uint32_t hi, bool& keyed, K keep,
                      E emit) const;
  void write_simulated(json_stream& out) const;
  void write_merging(json_stream& out) const;
  void write_merging_name(json_stream& out, std::uint32_t file,
                          const std::vector<std::pair<std::string, std::uint32_t>>& names, std::size_t i,
                          std::size_t j) const;
  void write_merged(json_stream& out, const std::map<std::string, std::string>& renamed,
                    const std::string& final_dir) const;
  void write_failed(json_stream& out) const;

  // restore's sections and their helpers.
  struct restore_state;
  void restore_problem(std::string text);  // logged once, kept for restore_problems()
  static std::string current_name(std::string name, const std::map<std::string, std::string>& renamed);
  int file_index(const std::string& lfn) const;
  std::optional<range_ref> locate(const std::string& lfn, const range_record& rec);
  std::string final_path(const std::string& name) const;
  void restore_merged_file(restore_state& st, const std::string& lfn, const std::map<std::string, merged_record>& outs);
  void restore_merging_output(restore_state& st, const std::string& lfn, const std::string& old_name,
                              const range_map& ranges);
  void restore_failed(restore_state& st, const checkpoint& cp);
  void apply_merged(restore_state& st, std::uint32_t output);
  void restore_simulated(const checkpoint& cp);

  rty::job_spec job_;
  options opts_;
  std::uint32_t events_per_input_ = 0;  // E
  std::uint32_t group_size_ = 0;        // H
  std::uint32_t inputs_per_output_ = 1;  // N→1 k (1 otherwise)
  std::uint32_t outputs_per_input_ = 1;  // 1→N k (1 otherwise)
  bool n_to_one_ = true;

  std::vector<file_state> files_;
  std::unordered_map<std::string_view, std::uint32_t> file_by_lfn_;  // views into files_[i].lfn
  std::vector<std::uint32_t> files_by_lfn_;  // file indexes sorted by LFN (the checkpoint's key order)
  dir_table path_dirs_;
  mutable std::string id_buf_;  // scratch for range ids
  std::vector<output_slot> outputs_;
  std::unordered_map<std::string, std::uint32_t> output_by_name_;
  std::unordered_map<std::uint32_t, merged_meta> merged_meta_;
  std::unordered_map<node_id, std::unordered_set<std::uint64_t>> leases_;
  std::deque<std::uint32_t> merge_queue_;
  std::uint32_t first_ready_file_ = 0;  // no ready range in files below this index
  std::uint64_t unsupplied_ready_ = 0;  // external source: ready ranges Harvester has not supplied
  bool source_done_ = false;
  std::unordered_map<std::string, std::uint64_t> external_key_;  // Harvester id -> key()
  std::unordered_map<std::uint64_t, std::string> external_id_;   // key() -> Harvester id
  counts counts_;
  std::vector<std::string> restore_problems_;
};

// ray.retryfailedgroups (--retry-failed): a resumed run simulates the ranges of failed merge groups
// again. Takes the checkpoint's `failed` section out of `cp` before bookkeeper::restore(), which then
// finds those groups open and their ranges ready (a failed group's per-range outputs are not in the
// checkpoint, so every range of it is simulated again, also when only its merge had failed). Returns
// what was taken, input LFN -> number of its ranges, for the log. A range also recorded as merged stays
// merged (restore's rule).
struct requeued_input {
  std::string lfn;
  std::size_t ranges = 0;
  bool operator==(const requeued_input&) const = default;
};
std::vector<requeued_input> take_failed_for_retry(checkpoint& cp);

}  // namespace rty::bookkeeping
