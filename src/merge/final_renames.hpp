#pragma once
// End-of-job renames (docs/architecture.md): merged outputs recorded under names from an
// earlier attempt's outFiles get the current job's names for the same input file; every rename is
// logged in the commit log before it happens, so re-running after a crash finishes the job.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/job_spec.hpp"
#include "merge/commit_log.hpp"

namespace rty::merge {

// One entry of the checkpoint's `merged` map: input LFN → output name → {path, guid}.
struct final_output {
  std::string input_file;
  std::string output_name;
  std::string path;
  std::string guid;
  bool operator==(const final_output&) const = default;
};

// The current job's output names for each input file (in_files order), as upstream's
// input/output mapping: N→1 (H ≥ E) input i → outputs[i / (H/E)]; 1→N input i → outputs[i·(E/H) …
// +E/H). Inputs beyond what outFiles covers get no names.
std::vector<std::vector<std::string>> current_output_names(const rty::job_spec& job);

// (old, new) pairs, old ≠ new, in the order of first appearance in `merged`. Per input: a recorded
// name that is already one of its current names stays; the others (sorted, so _000001 before _000002)
// take the input's unused current names in order. A name shared by several inputs (N→1) is mapped once.
// Recorded names with no current name left are not renamed.
std::vector<std::pair<std::string, std::string>> plan_renames(const std::vector<final_output>& merged,
                                                              const rty::job_spec& job);

// For each pair: append to the log unless it already says so, then rename final_dir/old →
// final_dir/new. Idempotent: target present and source absent = already done. Both present (would
// overwrite) or both absent is an error for that pair; the other pairs still proceed. The directory is
// fsync'ed at the end. The error has the first problem's code and one line per problem.
rty::result<void> apply_renames(commit_log& log, const std::vector<std::pair<std::string, std::string>>& renames,
                                const std::string& final_dir);

// Renames the log announced but a crash left undone (each line is written before its rename, and a
// restarted run knows outputs by the names the log gives them): for every name the log renames files
// to that is absent from final_dir, the one earlier name of its chain still present is renamed to it.
// Pairs done go to `done`; several earlier names present is an error (nothing is overwritten or
// guessed). The error has the first problem's code and one line per problem; `done` holds the pairs
// renamed either way.
rty::result<void> complete_logged_renames(const commit_log& log, const std::string& final_dir,
                                          std::vector<std::pair<std::string, std::string>>* done = nullptr);

// `merged` with names (and the path's last component) mapped through `renamed`, for the checkpoint.
std::vector<final_output> with_current_names(const std::vector<final_output>& merged,
                                             const std::map<std::string, std::string>& renamed);

}  // namespace rty::merge
