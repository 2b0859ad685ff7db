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
