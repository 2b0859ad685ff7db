#pragma once
// A merge the bookkeeper found ready: the per-range outputs that make one final output file.
// Produced by src/bookkeeping, executed by src/merge.
#include <string>
#include <vector>

namespace rty {

struct merge_input {
  std::string range_id;  // eventRangeID
  std::string path;      // per-range output file, absolute
  bool operator==(const merge_input&) const = default;
};

struct merge_task {
  std::string output_name;               // final LFN from the job's outFiles (e.g. HITS.X._000001.pool.root.1)
  std::vector<std::string> input_files;  // input LFNs whose events it holds (1 for 1→N, k for N→1)
  std::vector<merge_input> inputs;       // ordered by input file, then event number
  bool operator==(const merge_task&) const = default;
};

}  // namespace rty
