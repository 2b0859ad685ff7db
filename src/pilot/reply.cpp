#include "pilot/reply.hpp"

#include <boost/json.hpp>

#include "common/error.hpp"

namespace rty::pilot {

std::string reply_status(int code) { return "{\"StatusCode\":" + std::to_string(code) + "}"; }

std::string reply_event_ranges(int code, const std::vector<rty::event_range>& ranges) {
  // Built in a stack arena and thrown away once serialised: no malloc per key and string (once per
  // getEventRanges on the stub's hot path).
  alignas(std::max_align_t) unsigned char arena[8192];
  boost::json::monotonic_resource mr(arena, sizeof arena);
  boost::json::storage_ptr sp(&mr);
  boost::json::array list(sp);
  list.reserve(ranges.size());
  for (const auto& r : ranges)
    list.emplace_back(boost::json::object({{"PFN", r.pfn},
                                           {"lastEvent", r.last_event},
                                           {"eventRangeID", r.id},
                                           {"startEvent", r.start_event},
                                           {"GUID", r.guid}},
                                          0, sp));
  return boost::json::serialize(boost::json::object({{"StatusCode", code}, {"eventRanges", std::move(list)}}, 0, sp));
}

std::string reply_api_success() { return R"({"success":true,"message":"","data":null})"; }

rty::result<std::string> reply_resource_types(std::string_view file_text,
                                                                   std::string_view origin) {
  const std::string o(origin);
  boost::system::error_code ec;
  auto doc = boost::json::parse(file_text, ec);
  if (ec) return rty::fail(o + ": not JSON (" + ec.message() + ")");
  const boost::json::value* list = &doc;
  for (int depth = 0; depth < 2 && list->is_object(); ++depth) {
    auto it = list->as_object().find("ResourceTypes");
    if (it == list->as_object().end()) return rty::fail(o + ": no \"ResourceTypes\" list");
    list = &it->value();
  }
  if (!list->is_array()) return rty::fail(o + ": \"ResourceTypes\" must be a list of resource types");
  boost::json::array out;
  std::size_t i = 0;
  for (const auto& e : list->as_array()) {
    const std::string where = o + ": ResourceTypes[" + std::to_string(i++) + "]";
    if (!e.is_object()) return rty::fail(where + " is not an object");
    const auto& entry = e.as_object();
    auto name = entry.find("resource_name");
    if (name == entry.end() || !name->value().is_string() || name->value().as_string().empty())
      return rty::fail(where + ": resource_name must be a non-empty string");
    boost::json::object kept{{"resource_name", name->value()}};
    for (const char* key : {"mincore", "maxcore", "minrampercore", "maxrampercore"}) {
      auto v = entry.find(key);
      if (v == entry.end() || v->value().is_null()) {
        kept[key] = nullptr;
        continue;
      }
      const bool whole = (v->value().is_int64() && v->value().as_int64() >= 0) || v->value().is_uint64();
      if (!whole)
        return rty::fail(where + " (" + std::string(name->value().as_string()) + "): " + key +
               " must be a whole number >= 0 or null, found " + boost::json::serialize(v->value()));
      kept[key] = v->value();
    }
    out.push_back(std::move(kept));
  }
  return rty::result<std::string>(
      boost::system::in_place_value,
      boost::json::serialize(boost::json::object{
          {"StatusCode", 0}, {"ResourceTypes", boost::json::object{{"ResourceTypes", std::move(out)}}}}));
}

std::string reply_job(const boost::json::object& job) { return boost::json::serialize(job); }

}  // namespace rty::pilot
