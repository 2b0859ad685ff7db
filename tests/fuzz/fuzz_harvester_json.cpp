// The files Harvester writes for us, as JSON text: the job spec (HPCJobs.json), the event ranges answer
// (JobsEventRanges.json) and an event status dump we may merge back. Every input goes through all three
// readers, so one corpus covers them. Properties: a parsed job spec has the fields the bookkeeper relies
// on (one GUID per input, positive event counts); parsed ranges have an id and a PFN.
#include "fuzz_support.hpp"
#include "harvester/job_spec_parser.hpp"
#include "harvester/messenger.hpp"

#include <boost/json/parse.hpp>

#include <cstddef>
#include <cstdint>

namespace hv = rty::harvester;

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto text = rty::fuzz::as_text(data, size);
  if (auto job = hv::parse_job_spec_text(text, "HPCJobs.json")) {
    RTY_FUZZ_CHECK(!job->panda_id.empty(), "job without PandaID");
    RTY_FUZZ_CHECK(job->guids.size() == job->in_files.size(), "GUIDs not parallel to inFiles");
    RTY_FUZZ_CHECK(job->events_per_input > 0 && job->events_per_output > 0, "non-positive event counts");
    RTY_FUZZ_CHECK(!job->raw.empty(), "job without its raw dict");
  } else {
    RTY_FUZZ_CHECK(job.error().message().rfind("HPCJobs.json", 0) == 0, "job spec error does not name the file");
  }

  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  if (ec) return 0;
  for (std::string_view panda_id : {std::string_view(), std::string_view("6000000001")}) {
    if (auto a = hv::parse_ranges_answer(v, panda_id, "JobsEventRanges.json", "/ap")) {
      RTY_FUZZ_CHECK(!a->present || !a->panda_id.empty(), "ranges for no PandaID");
      for (const auto& r : a->ranges) RTY_FUZZ_CHECK(!r.id.empty() && !r.pfn.empty(), "range without id or PFN");
    }
  }
  (void)hv::is_status_dump(v);
  return 0;
}
