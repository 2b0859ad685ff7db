#include <boost/test/unit_test.hpp>

#include "pilot/reply.hpp"

#include <boost/json.hpp>

using namespace rty::pilot;

BOOST_AUTO_TEST_CASE(status_replies_exact_bytes) {
  BOOST_TEST(reply_status(0) == R"({"StatusCode":0})");
  BOOST_TEST(reply_status(500) == R"({"StatusCode":500})");
  BOOST_TEST(reply_status(-1) == R"({"StatusCode":-1})");
}

BOOST_AUTO_TEST_CASE(event_ranges_reply_exact_bytes) {
  const std::vector<rty::event_range> ranges{
      {"EVNT.X._000001.pool.root.1-1", "/hv/EVNT.X._000001.pool.root.1", "GA", 1, 1},
      {"EVNT.X._000001.pool.root.1-2", "/hv/EVNT.X._000001.pool.root.1", "GA", 2, 2}};
  BOOST_TEST(reply_event_ranges(0, ranges) ==
             R"({"StatusCode":0,"eventRanges":[)"
             R"({"PFN":"/hv/EVNT.X._000001.pool.root.1","lastEvent":1,"eventRangeID":"EVNT.X._000001.pool.root.1-1","startEvent":1,"GUID":"GA"},)"
             R"({"PFN":"/hv/EVNT.X._000001.pool.root.1","lastEvent":2,"eventRangeID":"EVNT.X._000001.pool.root.1-2","startEvent":2,"GUID":"GA"}]})");
  BOOST_TEST(reply_event_ranges(0, {}) == R"({"StatusCode":0,"eventRanges":[]})");
  BOOST_TEST(reply_event_ranges(-1, {}) == R"({"StatusCode":-1,"eventRanges":[]})");
  // Exactly five keys per range.
  const auto v = boost::json::parse(reply_event_ranges(0, ranges));
  BOOST_TEST(v.at("eventRanges").at(0).as_object().size() == 5u);
}

BOOST_AUTO_TEST_CASE(job_reply_is_the_job) {
  boost::json::object job{{"PandaID", "6000000001"}, {"coreCount", 2}, {"StatusCode", 0}};
  BOOST_TEST(reply_job(job) == R"({"PandaID":"6000000001","coreCount":2,"StatusCode":0})");
  BOOST_TEST(reply_job({}) == "{}");
}

BOOST_AUTO_TEST_CASE(api_success_reply) {
  BOOST_TEST(reply_api_success() == R"({"success":true,"message":"","data":null})");
}

// getResourceTypes in the form pilot3's get_memory_limits reads: ResourceTypes.ResourceTypes is the list.
BOOST_AUTO_TEST_CASE(resource_types_reply_from_the_site_file) {
  const std::string list =
      R"([{"resource_name":"MCORE","mincore":2,"maxcore":null,"minrampercore":0,"maxrampercore":2000,"extra":1},)"
      R"({"resource_name":"MCORE_HIMEM","mincore":2,"maxcore":null,"minrampercore":2001,"maxrampercore":null}])";
  const std::string expected =
      R"({"StatusCode":0,"ResourceTypes":{"ResourceTypes":[)"
      R"({"resource_name":"MCORE","mincore":2,"maxcore":null,"minrampercore":0,"maxrampercore":2000},)"
      R"({"resource_name":"MCORE_HIMEM","mincore":2,"maxcore":null,"minrampercore":2001,"maxrampercore":null}]}})";
  auto plain = reply_resource_types(list, "rt.json");
  BOOST_REQUIRE(plain);
  BOOST_TEST(*plain == expected);
  // The same list inside PanDA's answer, either shape, gives the same reply.
  auto wrapped = reply_resource_types(R"({"StatusCode":0,"ResourceTypes":)" + list + "}", "rt.json");
  BOOST_REQUIRE(wrapped);
  BOOST_TEST(*wrapped == expected);
  auto nested = reply_resource_types(R"({"ResourceTypes":{"ResourceTypes":)" + list + "}}", "rt.json");
  BOOST_REQUIRE(nested);
  BOOST_TEST(*nested == expected);
  // The reply parses back to what pilot takes (maxrampercore per resource name).
  auto back = boost::json::parse(*plain).at("ResourceTypes").at("ResourceTypes").as_array();
  BOOST_TEST(back.at(0).at("maxrampercore").as_int64() == 2000);
}

BOOST_AUTO_TEST_CASE(resource_types_file_errors_name_the_file_entry_and_key) {
  auto err = [](std::string_view text) {
    auto r = reply_resource_types(text, "/site/rt.json");
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message().find("/site/rt.json") == 0u);
    return r.error().message();
  };
  BOOST_TEST(err("[{").find("not JSON") != std::string::npos);
  BOOST_TEST(err(R"({"x":[]})").find("no \"ResourceTypes\" list") != std::string::npos);
  BOOST_TEST(err(R"([{"mincore":1}])").find("ResourceTypes[0]: resource_name must be a non-empty string") != std::string::npos);
  BOOST_TEST(err(R"([{"resource_name":"SCORE","maxrampercore":"2000"}])")
                 .find("ResourceTypes[0] (SCORE): maxrampercore must be a whole number >= 0 or null, found \"2000\"") !=
             std::string::npos);
  BOOST_TEST(err(R"([{"resource_name":"SCORE","mincore":-1}])").find("mincore") != std::string::npos);
}
