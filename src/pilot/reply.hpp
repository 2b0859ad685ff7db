#pragma once
// Reply bodies for pilot (always sent with HTTP 200 and Content-Type: application/json; spec §2.1).
// Compact JSON; pilot parses it with json.loads, so spacing does not matter.
#include "common/event_range.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace rty::pilot {

// {"StatusCode":<code>}: 0 OK (updateJob, updateWorkerPilotStatus, updateEventRanges), 500 bad request,
// unknown path or unimplemented endpoint.
std::string reply_status(int code);

// {"StatusCode":<code>,"eventRanges":[{"PFN","lastEvent","eventRangeID","startEvent","GUID"},...]}: exactly
// those five keys per range, in that order. Code -1 (wrong pandaID) goes with an empty list.
std::string reply_event_ranges(int code, const std::vector<rty::event_range>& ranges);

// The job object as is ({} when no job is set: pilot then ends).
std::string reply_job(const boost::json::object& job);

}  // namespace rty::pilot
