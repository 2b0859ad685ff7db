// The stub's getEventRanges broker without sockets or timers: every wait ends by its deadline, well
// inside pilot's curl limit; "no more" ends every wait and sticks until a new pilot starts; ranges
// nobody can receive go back to the coordinator.
#include <boost/test/unit_test.hpp>

#include "stub/ranges_broker.hpp"

using namespace rty;
using namespace rty::stub;
using namespace std::chrono_literals;
using wait_end = ranges_broker::wait_end;
using outcome = ranges_broker::outcome;

namespace {
const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));

event_range range(int n) {
  event_range r;
  r.id = "EVNT.X._000001.pool.root.1-" + std::to_string(n);
  r.pfn = "/hv/EVNT.X._000001.pool.root.1";
  r.guid = "GA";
  r.start_event = r.last_event = n;
  return r;
}
protocol::ranges_reply reply(std::uint64_t id, std::vector<event_range> ranges, bool no_more = false) {
  protocol::ranges_reply r;
  r.request_id = id;
  r.ranges = std::move(ranges);
  r.no_more = no_more;
  return r;
}
}  // namespace

BOOST_AUTO_TEST_SUITE(ranges_broker_suite)

BOOST_AUTO_TEST_CASE(the_hold_limit_is_half_of_pilots_http_maxtime_capped) {
  BOOST_TEST(hold_limit(std::nullopt).count() == 60000);  // pilot's default 120 s
  BOOST_TEST(hold_limit(120).count() == 60000);
  BOOST_TEST(hold_limit(300).count() == 60000);  // never longer than a minute
  BOOST_TEST(hold_limit(12).count() == 6000);
  BOOST_TEST(hold_limit(1).count() == 1000);  // at least a second
  BOOST_TEST(*pilot_http_maxtime("[Pilot]\npandaserver = http://127.0.0.1:8080\nhttp_maxtime = 12\n") == 12);
  BOOST_TEST(*pilot_http_maxtime("[Other]\nhttp_maxtime = 5\n[Pilot]\nHTTP_MAXTIME: 40\n") == 40);
  BOOST_TEST(!pilot_http_maxtime("[Other]\nhttp_maxtime = 5\n").has_value());
  BOOST_TEST(!pilot_http_maxtime("[Pilot]\nhttp_maxtime = soon\n").has_value());
  BOOST_TEST(!pilot_http_maxtime("[Pilot]\n# http_maxtime = 5\n").has_value());
}

BOOST_AUTO_TEST_CASE(a_reply_wakes_its_request_and_pilot_gets_the_ranges) {
  ranges_broker b(6s);
  auto a = b.pilot_asks(4, t0);
  BOOST_TEST(!a.answer_now);
  BOOST_TEST((a.deadline == t0 + 6s));
  auto d = b.coordinator_replied(reply(a.request_id, {range(1), range(2)}));
  BOOST_TEST((d.woken == std::vector<std::uint64_t>{a.request_id}));
  BOOST_TEST(d.give_back.ranges.empty());
  auto o = b.finish_wait(a.request_id, wait_end::woken);
  BOOST_TEST((o.what == outcome::ranges));
  BOOST_TEST(o.delivered.size() == 2u);
  BOOST_TEST(!o.cancel);
  BOOST_TEST(b.waiting() == 0u);
  BOOST_TEST(b.outstanding() == 2u);  // pilot may report these two now
}

BOOST_AUTO_TEST_CASE(an_empty_reply_is_not_final) {
  ranges_broker b(6s);
  auto a = b.pilot_asks(4, t0);
  b.coordinator_replied(reply(a.request_id, {}));
  auto o = b.finish_wait(a.request_id, wait_end::woken);
  BOOST_TEST((o.what == outcome::ranges));
  BOOST_TEST(o.delivered.empty());  // [] for this request ...
  BOOST_TEST(!b.no_more());
  BOOST_TEST(!b.pilot_asks(4, t0).answer_now);  // ... and the next one asks the coordinator again
}

BOOST_AUTO_TEST_CASE(the_deadline_answers_empty_and_withdraws_the_request) {
  ranges_broker b(6s);
  auto a = b.pilot_asks(4, t0);
  auto o = b.finish_wait(a.request_id, wait_end::deadline);
  BOOST_TEST((o.what == outcome::empty));
  BOOST_REQUIRE(o.cancel.has_value());
  BOOST_TEST(o.cancel->request_id == a.request_id);
  // the coordinator's ranges for it, sent before it saw the cancel, go straight back
  auto d = b.coordinator_replied(reply(a.request_id, {range(3)}));
  BOOST_TEST(d.woken.empty());
  BOOST_TEST((d.give_back.ranges == std::vector<std::string>{range(3).id}));
}

BOOST_AUTO_TEST_CASE(a_reply_in_the_same_turn_as_the_deadline_is_delivered) {
  ranges_broker b(6s);
  auto a = b.pilot_asks(4, t0);
  b.coordinator_replied(reply(a.request_id, {range(1)}));
  auto o = b.finish_wait(a.request_id, wait_end::deadline);
  BOOST_TEST((o.what == outcome::ranges));
  BOOST_TEST(o.delivered.size() == 1u);
  BOOST_TEST(!o.cancel);
}

BOOST_AUTO_TEST_CASE(no_more_ends_every_wait_and_sticks_until_a_new_pilot) {
  ranges_broker b(6s);
  auto a1 = b.pilot_asks(4, t0);
  auto a2 = b.pilot_asks(4, t0);
  auto a3 = b.pilot_asks(4, t0);
  auto d = b.coordinator_replied(reply(a2.request_id, {}, true));
  BOOST_TEST(d.woken.size() == 3u);
  for (auto id : {a1.request_id, a2.request_id, a3.request_id}) {
    auto o = b.finish_wait(id, wait_end::woken);
    BOOST_TEST((o.what == outcome::ranges));
    BOOST_TEST(o.delivered.empty());
  }
  BOOST_TEST(b.no_more());
  BOOST_TEST(b.pilot_asks(4, t0).answer_now);
  b.pilot_started();
  BOOST_TEST(!b.pilot_asks(4, t0).answer_now);
}

BOOST_AUTO_TEST_CASE(a_pilot_that_hung_up_gives_its_ranges_back) {
  ranges_broker b(6s);
  auto a = b.pilot_asks(4, t0);
  auto o = b.finish_wait(a.request_id, wait_end::client_gone);  // before any reply
  BOOST_TEST((o.what == outcome::no_answer));
  BOOST_TEST(o.cancel.has_value());
  auto a2 = b.pilot_asks(4, t0);
  b.coordinator_replied(reply(a2.request_id, {range(1), range(2)}));
  auto o2 = b.finish_wait(a2.request_id, wait_end::client_gone);  // the reply came, pilot had gone
  BOOST_TEST((o2.what == outcome::no_answer));
  BOOST_REQUIRE(o2.give_back.has_value());
  BOOST_TEST(o2.give_back->ranges.size() == 2u);
  BOOST_TEST(!o2.cancel);
}

BOOST_AUTO_TEST_CASE(nranges_zero_is_answered_at_once_and_shutdown_is_an_error) {
  ranges_broker b(6s);
  BOOST_TEST(b.pilot_asks(0, t0).answer_now);
  auto a = b.pilot_asks(2, t0);
  auto o = b.finish_wait(a.request_id, wait_end::shutdown);
  BOOST_TEST((o.what == outcome::server_error));
  BOOST_TEST((b.finish_wait(999, wait_end::woken).what == outcome::server_error));
}

namespace {
range_update update(int n, range_status st) {
  range_update u;
  u.range_id = range(n).id;
  u.status = st;
  if (st == range_status::finished) {
    u.path = "/pilot/out-" + std::to_string(n);
    u.fsize = 10;
  }
  return u;
}
}  // namespace

// Issue 13: range ids are predictable (<LFN>-<n>); an update for a range this stub never handed to its
// pilot, or one already reported, is not forwarded.
BOOST_AUTO_TEST_CASE(only_ranges_out_with_pilot_may_be_reported_and_only_once) {
  ranges_broker b(1s);
  b.delivered({range(1), range(2), range(3)});
  BOOST_TEST(b.outstanding() == 3u);
  auto s = b.screen_updates({update(1, range_status::finished), update(9, range_status::finished),
                             update(2, range_status::running)});
  BOOST_REQUIRE(s.accepted.size() == 2u);
  BOOST_TEST(s.accepted[0].range_id == range(1).id);
  BOOST_TEST(s.accepted[1].range_id == range(2).id);
  BOOST_REQUIRE(s.refused.size() == 1u);
  BOOST_TEST(s.refused[0] == range(9).id);  // never delivered
  // finished once: a second report of range 1 (pilot's retry after a lost answer) is a repeat, not
  // forwarded and not an error; "running" kept 2 out
  s = b.screen_updates({update(1, range_status::finished), update(2, range_status::failed),
                        update(3, range_status::finished), update(3, range_status::finished)});
  BOOST_TEST(s.accepted.size() == 2u);
  BOOST_TEST(s.refused.empty());
  BOOST_REQUIRE(s.repeated.size() == 2u);
  BOOST_TEST(s.repeated[0] == range(1).id);
  BOOST_TEST(s.repeated[1] == range(3).id);  // twice in one request: the first one counts
  BOOST_TEST(b.outstanding() == 0u);
  // A new pilot's reports of the old pilot's ranges are not repeats: refused.
  b.pilot_started();
  s = b.screen_updates({update(1, range_status::finished)});
  BOOST_TEST(s.repeated.empty());
  BOOST_TEST(s.refused.size() == 1u);
}

BOOST_AUTO_TEST_CASE(the_memory_of_reports_is_bounded) {
  ranges_broker b(1s);
  std::vector<rty::event_range> many;
  for (int i = 0; i < 5000; ++i) many.push_back(range(i));
  b.delivered(many);
  std::vector<rty::range_update> all;
  for (int i = 0; i < 5000; ++i) all.push_back(update(i, range_status::finished));
  BOOST_TEST(b.screen_updates(std::move(all)).accepted.size() == 5000u);
  // The newest 4096 are remembered as reported; the oldest are forgotten and count as never given.
  BOOST_TEST(b.screen_updates({update(4999, range_status::finished)}).repeated.size() == 1u);
  BOOST_TEST(b.screen_updates({update(0, range_status::finished)}).refused.size() == 1u);
}

BOOST_AUTO_TEST_CASE(an_update_the_stub_could_not_forward_may_come_again) {
  ranges_broker b(1s);
  b.delivered({range(4)});
  BOOST_TEST(b.screen_updates({update(4, range_status::finished)}).accepted.size() == 1u);
  b.still_outstanding(range(4).id);  // e.g. the task directory was full: pilot will try again
  BOOST_TEST(b.screen_updates({update(4, range_status::finished)}).accepted.size() == 1u);
}

BOOST_AUTO_TEST_CASE(ranges_given_back_or_of_an_ended_pilot_may_not_be_reported) {
  ranges_broker b(1s);
  b.delivered({range(5), range(6), range(7)});
  b.not_delivered({range(5).id});  // pilot hung up before the answer reached it
  BOOST_TEST(b.screen_updates({update(5, range_status::finished)}).refused.size() == 1u);
  b.pilot_started();  // the old pilot's ranges went back with its exit
  BOOST_TEST(b.screen_updates({update(6, range_status::finished)}).refused.size() == 1u);
  BOOST_TEST(b.screen_updates({update(7, range_status::finished)}).refused.size() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
