#include "pilot/reply.hpp"

#include <boost/json/serialize.hpp>

namespace rty::pilot {

std::string reply_status(int code) { return "{\"StatusCode\":" + std::to_string(code) + "}"; }

std::string reply_event_ranges(int code, const std::vector<rty::event_range>& ranges) {
  boost::json::array list;
  list.reserve(ranges.size());
  for (const auto& r : ranges)
    list.emplace_back(boost::json::object{{"PFN", r.pfn},
                                          {"lastEvent", r.last_event},
                                          {"eventRangeID", r.id},
                                          {"startEvent", r.start_event},
                                          {"GUID", r.guid}});
  return boost::json::serialize(boost::json::object{{"StatusCode", code}, {"eventRanges", std::move(list)}});
}

std::string reply_job(const boost::json::object& job) { return boost::json::serialize(job); }

}  // namespace rty::pilot
