// O/commit_log as a resumed run replays it (rename lines, possibly cut mid-line by a crash or hostile),
// then a fixed checkpoint restored with the resulting renames (chains and cycles included). Property:
// the restore completes with consistent counts.
#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "fuzz_support.hpp"
#include "merge/commit_log.hpp"

#include <cstddef>
#include <cstdint>

namespace bk = rty::bookkeeping;

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The parser production uses (a malformed line is an error; a torn last line is ignored).
  const auto log = rty::merge::commit_log::parse(rty::fuzz::as_text(data, size), "/task/commit_log");
  if (!log) return 0;
  const auto& renamed = log->renamed();

  static const rty::job_spec job = [] {
    rty::job_spec j;
    j.panda_id = "6000000001";
    j.events_per_input = 2;
    j.events_per_output = 2;
    j.in_files = {"EVNT.1", "EVNT.2"};
    j.guids = {"G1", "G2"};
    j.output_files = {"HITS.1", "HITS.2"};
    return j;
  }();
  static const bk::checkpoint cp = [] {
    bk::checkpoint c;
    c.merged["EVNT.1"]["HITS.old.1"] = bk::merged_record{"/task/final/HITS.old.1", "G"};
    c.merging["EVNT.2"]["HITS.old.2"]["EVNT.2-1"] = bk::range_record{"EVNT.2-1", 1, 1, "/task/r1", "G2"};
    c.simulated["EVNT.2"]["EVNT.2-2"] = bk::range_record{"EVNT.2-2", 2, 2, "/task/r2", ""};
    return c;
  }();
  bk::options opts;
  opts.endpoint = "/ap";
  opts.task_dir = "/task";
  bk::bookkeeper b(job, opts);
  b.restore(cp, renamed);
  const auto c = b.get_counts();
  RTY_FUZZ_CHECK(c.ready + c.leased + c.finished + c.failed == c.total, "counts do not add up after restore");
  return 0;
}
