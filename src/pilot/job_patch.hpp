#pragma once
// The per-node edits Raythena makes to the job before pilot gets it (docs/pilot-protocol.md;
// ray: esdriver.py `run`, esworker.py `modify_job`).
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>

namespace rty::pilot {

// Returns a copy of `job` with:
//  - eventService = "true" and jobPars prefixed with "--eventService=True " (not doubled if present);
//  - only if `--inputEVNTFile=<list> -` occurs exactly once in jobPars:
//    * the list reduced to its first file, joined under `endpoint` like os.path.join (an absolute LFN
//      stays as is; `endpoint` is used as given: expand variables before calling);
//    * every `--outputHITSFile=PFX[n1,n2,...].pool.root` becomes `PFX<n1>.pool.root`;
//    * `--jobNumber=<digits>` set to max(attempt_nr-1, 0)*node_count + node_index + 1, or appended;
//    * `--maxEvents=<digits>` set to min(500, events_per_input), or appended; `--maxEvents=-1` is left as
//      is (no digits right after '='), as in Raythena. Skipped when events_per_input <= 0 (unknown).
// Appends use Raythena's exact spacing: jobPars + " --jobNumber=N " (the spec §5 example relies on it).
boost::json::object patch_job_for_node(const boost::json::object& job, const std::string& endpoint, int node_index,
                                       int node_count, int attempt_nr, std::int64_t events_per_input);

}  // namespace rty::pilot
