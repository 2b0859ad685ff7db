#pragma once
// Reply bodies for pilot (always sent with HTTP 200 and Content-Type: application/json; spec §2.1).
// Compact JSON; pilot parses it with json.loads, so spacing does not matter.
#include "common/event_range.hpp"

#include <boost/json/object.hpp>
#include "common/error.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace rty::pilot {

// {"StatusCode":<code>}: 0 OK (updateJob, updateWorkerPilotStatus, updateEventRanges), 500 bad request,
// unknown path or unimplemented endpoint.
std::string reply_status(int code);

// {"StatusCode":<code>,"eventRanges":[{"PFN","lastEvent","eventRangeID","startEvent","GUID"},...]}: exactly
// those five keys per range, in that order. Code -1 (wrong pandaID) goes with an empty list.
std::string reply_event_ranges(int code, const std::vector<rty::event_range>& ranges);

// update_worker_node(_gpu): PanDA's API v1 answer, {"success":true,"message":"","data":null}.
std::string reply_api_success();

// getResourceTypes from a site's file (payload.resourcetypesfile), in the form pilot3 reads
// (pilot/util/https.py get_memory_limits): {"StatusCode":0,"ResourceTypes":{"ResourceTypes":[...]}}, each
// entry {resource_name, mincore, maxcore, minrampercore, maxrampercore}. The file holds the list, or an
// object with "ResourceTypes" (the list, or an object holding it) as PanDA answers. Errors name `origin`,
// the entry and the key: not JSON, no list, an entry without a resource_name string, a limit that is
// neither a whole number >= 0 nor null.
rty::result<std::string> reply_resource_types(std::string_view file_text,
                                                                   std::string_view origin);

// The job object as is ({} when no job is set: pilot then ends).
std::string reply_job(const boost::json::object& job);

}  // namespace rty::pilot
