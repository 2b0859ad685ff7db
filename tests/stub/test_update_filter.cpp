// What of pilot's updateEventRanges is forwarded and what pilot hears, with a sink that records every
// action: no sockets, no files.
#include <boost/test/unit_test.hpp>

#include <cerrno>
#include <map>

#include "stub/update_filter.hpp"

using namespace rty;
using namespace rty::stub;

namespace {

struct recording_sink : update_sink {
  std::map<std::string, int> store_errors;  // output path -> errno its move fails with (0: moves)
  bool send_ok = true;
  std::vector<protocol::ranges_update> sent;
  std::vector<std::string> log;

  rty::result<std::string> store_output(const std::string& path) override {
    log.push_back("store " + path);
    auto it = store_errors.find(path);
    if (it == store_errors.end()) return "/task/" + path.substr(path.rfind('/') + 1);
    return rty::fail(std::error_code(it->second, std::generic_category()), "cannot move");
  }
  bool forward(const protocol::ranges_update& u) override {
    sent.push_back(u);
    return send_ok;
  }
  void unreachable() override { log.push_back("unreachable"); }
  void refused(const std::string& id) override { log.push_back("refused " + id); }
  void repeated(std::size_t n, const std::string& first) override {
    log.push_back("repeated " + std::to_string(n) + " " + first);
  }
  void withheld(const std::string& id, const std::string&) override { log.push_back("withheld " + id); }
  void output_failed(const std::string& id, const std::string&) override { log.push_back("failed " + id); }
};

event_range range(const std::string& id) {
  event_range r;
  r.id = id;
  r.pfn = "/hv/EVNT";
  r.guid = "G";
  return r;
}

range_update finished(const std::string& id) {
  range_update u;
  u.range_id = id;
  u.status = range_status::finished;
  u.path = "/pilot/out/" + id + ".root";
  u.type = "es_output";
  return u;
}

ranges_broker handed_out(std::vector<std::string> ids) {
  ranges_broker b(std::chrono::seconds(10));
  std::vector<event_range> rs;
  for (auto& id : ids) rs.push_back(range(id));
  b.delivered(rs);
  return b;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(update_filter_suite)

BOOST_AUTO_TEST_CASE(delivered_results_are_moved_and_forwarded_once) {
  auto b = handed_out({"A-1", "A-2"});
  recording_sink s;
  range_update running;
  running.range_id = "A-2";
  running.status = range_status::running;
  BOOST_TEST(filter_updates(b, {finished("A-1"), running}, false, s) == 0);
  BOOST_TEST_REQUIRE(s.sent.size() == 1u);
  BOOST_TEST_REQUIRE(s.sent[0].updates.size() == 2u);
  BOOST_TEST(s.sent[0].updates[0].path == "/task/A-1.root");  // the moved file, not pilot's
  BOOST_TEST((s.sent[0].updates[1].status == range_status::running));
  BOOST_TEST(b.outstanding() == 1u);  // A-2 is still out
  // pilot's retry of A-1 after a lost answer: skipped, answered 0, nothing sent, nothing moved.
  s.log.clear();
  BOOST_TEST(filter_updates(b, {finished("A-1")}, false, s) == 0);
  BOOST_TEST(s.sent.size() == 1u);
  BOOST_TEST(s.log == std::vector<std::string>{"repeated 1 A-1"});
}

BOOST_AUTO_TEST_CASE(a_range_never_handed_out_is_refused_and_the_rest_goes_on) {
  auto b = handed_out({"A-1"});
  recording_sink s;
  BOOST_TEST(filter_updates(b, {finished("FORGED-9"), finished("A-1")}, false, s) == 500);
  BOOST_TEST(s.log.front() == "refused FORGED-9");
  BOOST_TEST_REQUIRE(s.sent.size() == 1u);
  BOOST_TEST_REQUIRE(s.sent[0].updates.size() == 1u);
  BOOST_TEST(s.sent[0].updates[0].range_id == "A-1");
  BOOST_TEST(s.log.size() == 2u);  // the forged path is never touched
}

BOOST_AUTO_TEST_CASE(an_output_that_cannot_be_moved_is_reported_failed) {
  auto b = handed_out({"A-1"});
  recording_sink s;
  s.store_errors["/pilot/out/A-1.root"] = ENOENT;
  BOOST_TEST(filter_updates(b, {finished("A-1")}, false, s) == 0);
  BOOST_TEST_REQUIRE(s.sent.size() == 1u);
  BOOST_TEST((s.sent[0].updates[0].status == range_status::failed));  // simulated again
  BOOST_TEST(s.sent[0].updates[0].path.empty());
  BOOST_TEST(s.log.back() == "failed A-1");
}

BOOST_AUTO_TEST_CASE(a_full_task_directory_withholds_the_range_for_a_later_report) {
  auto b = handed_out({"A-1", "A-2"});
  recording_sink s;
  s.store_errors["/pilot/out/A-1.root"] = ENOSPC;
  BOOST_TEST(filter_updates(b, {finished("A-1"), finished("A-2")}, false, s) == 500);
  BOOST_TEST_REQUIRE(s.sent.size() == 1u);
  BOOST_TEST_REQUIRE(s.sent[0].updates.size() == 1u);  // only A-2: A-1 is not spent as a failure
  BOOST_TEST(s.sent[0].updates[0].range_id == "A-2");
  BOOST_TEST(b.outstanding() == 1u);
  s.store_errors.clear();  // space again: pilot's next report of A-1 goes on
  BOOST_TEST(filter_updates(b, {finished("A-1")}, false, s) == 0);
  BOOST_TEST(s.sent.size() == 2u);
}

BOOST_AUTO_TEST_CASE(nothing_is_recorded_without_a_channel) {
  auto b = handed_out({"A-1"});
  recording_sink s;
  BOOST_TEST(filter_updates(b, {finished("A-1")}, true, s) == 500);
  BOOST_TEST(s.log == std::vector<std::string>{"unreachable"});
  BOOST_TEST(b.outstanding() == 1u);  // pilot may report it when the channel is back
  s.log.clear();
  s.send_ok = false;  // a frame too large, or the channel going as it is sent
  BOOST_TEST(filter_updates(b, {finished("A-1")}, false, s) == 500);
  BOOST_TEST(b.outstanding() == 1u);
  s.send_ok = true;
  BOOST_TEST(filter_updates(b, {finished("A-1")}, false, s) == 0);  // the retry is no repeat
  BOOST_TEST(b.outstanding() == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
