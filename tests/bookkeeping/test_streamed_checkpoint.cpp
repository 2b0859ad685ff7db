// bookkeeper::write_snapshot (state.json streamed, never built) against the document path it replaces:
// the same bytes as serialize(to_json(snapshot())) in every state, and group_paths' compression.
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/test/unit_test.hpp>

#include <string>

#include "bookkeeping/checkpoint.hpp"
#include "bookkeeping/range_paths.hpp"
#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;

namespace {

std::string streamed(const bookkeeper& bk, std::size_t chunk = 7) {
  std::string text;
  std::size_t chunks = 0;
  json_stream out(
      [&](std::string_view c) {
        text.append(c);
        ++chunks;
        return true;
      },
      chunk);
  bk.write_snapshot(out);
  BOOST_TEST(out.finish());
  BOOST_TEST(chunks > 1u);  // small chunks: the sink is fed piece by piece
  return text;
}

void check_same(const bookkeeper& bk) {
  BOOST_TEST(streamed(bk) == boost::json::serialize(to_json(bk.snapshot())));
}

void merge_all(bookkeeper& bk) {
  for (auto& t : bk.take_ready_merges())
    BOOST_TEST(bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(streamed_checkpoint)

BOOST_AUTO_TEST_CASE(same_bytes_as_the_document_one_to_one) {
  // 25 events: ids -1..-25 sort as strings ("-1", "-10".."-19", "-2", "-20"..), as std::map does.
  bookkeeper bk(make_job(3, 25, 25), make_options(1));
  check_same(bk);
  auto got = bk.lease(1, 60);
  std::vector<rty::range_update> u;
  for (auto& r : got) {
    if (r.id == rid(2, 7))
      u.push_back(fail(r.id));  // max_attempts 1: output 2 fails
    else if (r.id != rid(3, 11))
      u.push_back(fin(r.id, "/task/dir \"q\"\\\t/" + r.id + ".pool.root"));  // escaping, id inside the name
  }
  bk.apply_update(1, u);
  check_same(bk);
  merge_all(bk);  // output 1 merged; output 3 still open
  check_same(bk);
}

BOOST_AUTO_TEST_CASE(same_bytes_as_the_document_n_to_one_and_one_to_n) {
  bookkeeper n1(make_job(4, 12, 24), make_options());
  n1.apply_update(1, finish_all(n1.lease(1, 30)));
  check_same(n1);
  merge_all(n1);
  check_same(n1);

  bookkeeper one_n(make_job(2, 24, 6), make_options(1));  // 4 outputs per input
  auto got = one_n.lease(1, 40);
  std::vector<rty::range_update> u;
  for (auto& r : got) u.push_back(r.id == rid(2, 20) ? fail(r.id) : fin(r.id, "/elsewhere/out." + r.id));
  one_n.apply_update(1, u);
  for (auto& t : one_n.take_ready_merges())  // half of them merged: input 1 is partly merged ("merging")
    if (t.output_name == out_name(2) || t.output_name == out_name(5))
      one_n.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name);
  check_same(one_n);
  merge_all(one_n);
  check_same(one_n);
}

BOOST_AUTO_TEST_CASE(same_bytes_after_a_resume_and_with_harvester_ids) {
  bookkeeper bk(make_job(2, 12, 4), make_options());
  bk.apply_update(1, finish_all(bk.lease(1, 15)));
  for (auto& t : bk.take_ready_merges())
    if (t.output_name == out_name(2)) bk.merge_succeeded(t.output_name, "/task/final/x", "G");
  bookkeeper again(make_job(2, 12, 4), make_options());
  auto cp = checkpoint_from_json(boost::json::parse(streamed(bk)), "state.json");
  BOOST_REQUIRE(cp.has_value());
  again.restore(*cp);
  check_same(again);
  BOOST_TEST(streamed(again) == streamed(bk));

  auto o = make_options();
  o.external_ranges = true;
  bookkeeper ext(make_job(1, 12, 12), o);
  std::vector<rty::event_range> supplied;
  for (int n : {3, 1, 12, 5}) {
    rty::event_range r;
    r.id = "Range-" + std::to_string(100 - n);
    r.pfn = "/ep/" + in_name(1);
    r.start_event = r.last_event = n;
    supplied.push_back(r);
  }
  BOOST_TEST(ext.supply(supplied) == 4u);
  ext.apply_update(1, finish_all(ext.lease(1, 4)));
  check_same(ext);
}

BOOST_AUTO_TEST_CASE(a_failing_sink_is_reported) {
  bookkeeper bk(make_job(1, 20, 20), make_options());
  bk.apply_update(1, finish_all(bk.lease(1, 20)));
  int calls = 0;
  json_stream out([&](std::string_view) { return ++calls < 2; }, 16);
  bk.write_snapshot(out);
  BOOST_TEST(!out.finish());
  BOOST_TEST(calls == 2);  // nothing more is offered once it failed
}

BOOST_AUTO_TEST_CASE(group_paths_round_trip_and_share_names) {
  dir_table dirs;
  group_paths g(6);
  g.set(0, "/task/HITS.pool.root.F-1", "F-1", dirs);
  g.set(1, "/task/node-2/HITS.pool.root.F-2", "F-2", dirs);
  g.set(2, "no-slash-F-3-F-3.x", "F-3", dirs);  // the last occurrence is the one replaced
  g.set(3, "/task/other-name", "F-4", dirs);
  g.set(5, "", "F-6", dirs);
  BOOST_TEST(g.get(0, "F-1", dirs) == "/task/HITS.pool.root.F-1");
  BOOST_TEST(g.get(1, "F-2", dirs) == "/task/node-2/HITS.pool.root.F-2");
  BOOST_TEST(g.get(2, "F-3", dirs) == "no-slash-F-3-F-3.x");
  BOOST_TEST(g.get(3, "F-4", dirs) == "/task/other-name");
  BOOST_TEST(g.get(4, "F-5", dirs) == "");
  BOOST_TEST(g.get(5, "F-6", dirs) == "");
  BOOST_TEST(dirs.size() == 2u);
  g.set(0, "/task/x", "F-1", dirs);  // overwritten
  BOOST_TEST(g.get(0, "F-1", dirs) == "/task/x");
}

BOOST_AUTO_TEST_SUITE_END()
