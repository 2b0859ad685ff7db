// The task progress checkpoint O/state.json as a resumed run reads it: JSON text → checkpoint_from_json →
// bookkeeper::restore for fixed jobs of the three geometries (1:1, one input → 2 outputs, 2 inputs → one
// output), the first with Harvester-supplied range ids.
// Properties (a resumed run must always be able to finish, whatever the file said):
//  - our own checkpoint of a parsed one reads back identically (to_json / checkpoint_from_json), and the
//    streamed state.json raythenad writes is exactly that rendering;
//  - after restore, ready + leased + finished + failed == total;
//  - leasing and finishing everything, then merging every ready group, completes the job;
//  - restoring the bookkeeper's own snapshot gives the same counts.
#include "bookkeeping/bookkeeper.hpp"
#include "bookkeeping/checkpoint.hpp"
#include "fuzz_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace {

namespace bk = rty::bookkeeping;

rty::job_spec make_job(int inputs, int e, int h) {
  rty::job_spec job;
  job.panda_id = "6000000001";
  job.task_id = "40000001";
  job.events_per_input = e;
  job.events_per_output = h;
  char buf[64];
  for (int i = 1; i <= inputs; ++i) {
    std::snprintf(buf, sizeof buf, "EVNT.40000000._%06d.pool.root.1", i);
    job.in_files.push_back(buf);
    job.guids.push_back("GUID-" + std::to_string(i));
  }
  const int outputs = h >= e ? inputs / (h / e) : inputs * (e / h);
  for (int j = 1; j <= outputs; ++j) {
    std::snprintf(buf, sizeof buf, "HITS.40000001._%06d.pool.root.1", j);
    job.output_files.push_back(buf);
  }
  return job;
}

bool sums(const bk::counts& c) { return c.ready + c.leased + c.finished + c.failed == c.total; }

bool same(const bk::counts& a, const bk::counts& b) {
  return a.total == b.total && a.ready == b.ready && a.leased == b.leased && a.finished == b.finished &&
         a.failed == b.failed && a.merged_events == b.merged_events && a.failed_events == b.failed_events &&
         a.merges_pending == b.merges_pending && a.merges_done == b.merges_done &&
         a.merges_failed == b.merges_failed && a.groups_failed == b.groups_failed;
}

void resume(const rty::job_spec& job, const bk::checkpoint& cp, bool external) {
  bk::options opts;
  opts.endpoint = "/ap";
  opts.task_dir = "/task";
  opts.max_attempts = 3;
  opts.external_ranges = external;
  bk::bookkeeper b(job, opts);
  b.restore(cp);
  const auto restored = b.get_counts();
  RTY_FUZZ_CHECK(sums(restored), "counts do not add up after restore");

  // Our own snapshot reads back as itself and restores to the same state.
  const bk::checkpoint snap = b.snapshot();
  auto back = bk::checkpoint_from_json(bk::to_json(snap), "snapshot");
  RTY_FUZZ_CHECK(back && *back == snap, "snapshot does not read back: " + boost::json::serialize(bk::to_json(snap)));
  // The streamed state.json (what raythenad writes) is byte for byte the rendering of the snapshot, in
  // small chunks so that chunk boundaries fall everywhere.
  std::string streamed;
  bk::json_stream out([&](std::string_view piece) { streamed.append(piece); return true; }, 7);
  b.write_snapshot(out);
  RTY_FUZZ_CHECK(out.finish(), "the streamed checkpoint failed to write");
  RTY_FUZZ_CHECK(streamed == boost::json::serialize(bk::to_json(snap)),
                 "streamed checkpoint differs: " + streamed + " vs " + boost::json::serialize(bk::to_json(snap)));
  bk::bookkeeper b2(job, opts);
  b2.restore(snap);
  RTY_FUZZ_CHECK(same(b2.get_counts(), restored), "restoring the snapshot changed the counts");

  if (external) {
    (void)b.source_exhausted();  // Harvester supplies nothing more: the job must still complete
    RTY_FUZZ_CHECK(sums(b.get_counts()), "counts do not add up after source_exhausted");
  }
  for (int round = 0; round < 64 && !b.exhausted(); ++round) {
    auto leased = b.lease(1, 16);
    if (leased.empty()) break;
    std::vector<rty::range_update> ups;
    for (const auto& r : leased) {
      rty::range_update u;
      u.range_id = r.id;
      u.status = rty::range_status::finished;
      u.path = "/task/" + r.id + ".HITS";
      u.type = "es_output";
      ups.push_back(std::move(u));
    }
    auto out = b.apply_update(1, ups);
    RTY_FUZZ_CHECK(out.finished + out.discarded + out.duplicates == ups.size(),
                   "a leased range could not be finished: " + (out.problems.empty() ? "" : out.problems[0]));
    RTY_FUZZ_CHECK(sums(b.get_counts()), "counts do not add up while running");
  }
  RTY_FUZZ_CHECK(b.exhausted(), "ranges left that can never be leased");
  for (int round = 0; round < 4; ++round)
    for (const auto& t : b.take_ready_merges())
      RTY_FUZZ_CHECK(b.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "GUID"),
                     "a ready merge is not running: " + t.output_name);
  RTY_FUZZ_CHECK(b.complete(), "job not complete after every range and merge finished");
  const auto end = b.get_counts();
  RTY_FUZZ_CHECK(end.merged_events + end.failed_events == end.total,
                 "events neither merged nor failed at the end");
}

}  // namespace

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(rty::fuzz::as_text(data, size), ec);
  if (ec) return 0;
  auto cp = bk::checkpoint_from_json(v, "state.json");
  if (!cp) {
    RTY_FUZZ_CHECK(cp.error().message().rfind("state.json", 0) == 0, "checkpoint error does not name the file");
    return 0;
  }
  auto again = bk::checkpoint_from_json(bk::to_json(*cp), "state.json");
  RTY_FUZZ_CHECK(again, "our own rendering of a checkpoint does not parse");
  RTY_FUZZ_CHECK(bk::to_json(*again) == bk::to_json(*cp), "checkpoint rendering is not stable");

  static const rty::job_spec one_to_one = make_job(2, 8, 8);
  static const rty::job_spec one_to_two = make_job(2, 8, 4);
  static const rty::job_spec two_to_one = make_job(4, 4, 8);
  resume(one_to_one, *cp, true);
  resume(one_to_one, *cp, false);
  resume(one_to_two, *cp, false);
  resume(two_to_one, *cp, false);
  return 0;
}
