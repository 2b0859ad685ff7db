// "Kill the coordinator at random points": a seeded simulation of whole runs with several nodes,
// random finishes, failures, node losses, late updates, merge results, checkpoints and crashes. A crash
// throws the bookkeeper (and everything in flight) away and restores a new one from the last saved
// state.json text. The union of all runs must merge every event exactly once or fail its group, never
// hand out a range after it was recorded, and never repeat a recorded merge.
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;

namespace {

struct geometry {
  int inputs, e, h;
};

struct sim {
  std::mt19937_64 rng;
  rty::job_spec job;
  options opts = make_options(3);
  std::unique_ptr<bookkeeper> bk;
  std::string saved;  // last state.json text written
  std::set<std::string> poison;  // ranges that fail on every attempt
  std::map<node_id, std::vector<rty::event_range>> in_flight;
  std::vector<std::pair<node_id, std::vector<rty::event_range>>> zombies;  // work of lost nodes/old runs
  std::vector<rty::merge_task> merging;
  // Checks across runs.
  std::set<std::string> recorded;        // ranges finished/failed in some saved checkpoint
  std::map<std::string, std::string> first_path;  // range -> path the current run recorded first
  std::map<std::string, std::vector<std::string>> merged_by_output;  // output -> its range ids
  std::set<std::string> merge_started_after_record;
  int crashes = 0, steps = 0, counter = 0;
  std::size_t not_owned = 0, duplicates = 0, discarded = 0, retried = 0;

  explicit sim(std::uint64_t seed, geometry g) : rng(seed), job(make_job(g.inputs, g.e, g.h)) {
    bk = std::make_unique<bookkeeper>(job, opts);
    save();
    // two poison ranges per run: their groups must end failed
    for (int i = 0; i < 2; ++i) {
      int f = 1 + int(rng() % g.inputs), n = 1 + int(rng() % g.e);
      poison.insert(rid(f, n));
    }
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  node_id any_node() { return 1 + node_id(rng() % 5); }

  void save() {
    auto cp = bk->snapshot();
    saved = boost::json::serialize(to_json(cp));
    for (auto& [f, ranges] : cp.simulated)
      for (auto& [id, r] : ranges) recorded.insert(id);
    for (auto& [f, ranges] : cp.failed)
      for (auto& [id, r] : ranges) recorded.insert(id);
    for (auto& [f, outs] : cp.merging)
      for (auto& [o, ranges] : outs)
        for (auto& [id, r] : ranges) recorded.insert(id);
    for (auto& [f, outs] : cp.merged)
      for (int n = 1; n <= job.events_per_input; ++n) recorded.insert(f + "-" + std::to_string(n));
  }

  void crash() {
    ++crashes;
    for (auto& [node, batch] : in_flight)
      if (!batch.empty()) zombies.emplace_back(node, std::move(batch));  // pilots of the old run may still talk
    in_flight.clear();
    merging.clear();  // merge subprocesses die with the coordinator: their results are never reported
    auto parsed = checkpoint_from_json(boost::json::parse(saved), "state.json");
    BOOST_REQUIRE(parsed.has_value());
    bk = std::make_unique<bookkeeper>(job, opts);
    bk->restore(*parsed);
    BOOST_REQUIRE(bk->restore_problems().empty());
    first_path.clear();
    for (auto& [f, ranges] : parsed->simulated)
      for (auto& [id, r] : ranges) first_path[id] = r.path;
  }

  void report(node_id node, const std::vector<rty::event_range>& batch) {
    std::vector<rty::range_update> u;
    for (auto& r : batch) {
      if (chance(0.2)) continue;  // not reported (pilot died mid-way): comes back on release
      if (poison.count(r.id) || chance(0.05)) {
        u.push_back(fail(r.id));
      } else {
        auto path = "/task/" + r.id + ".out" + std::to_string(++counter);
        u.push_back(fin(r.id, path));
      }
    }
    std::set<std::string> finished_before;
    for (auto& e : u)
      if (e.status == rty::range_status::finished) {
        auto st = bk->state_of(e.range_id);
        if (st && (*st == "ready" || *st == "leased")) finished_before.insert(e.range_id);
      }
    auto res = bk->apply_update(node, u);
    BOOST_TEST(res.unknown == 0u);
    not_owned += res.not_owned;
    duplicates += res.duplicates;
    discarded += res.discarded;
    retried += res.retried;
    for (auto& e : u)
      if (finished_before.count(e.range_id) && !first_path.count(e.range_id)) {
        auto st = bk->state_of(e.range_id);
        if (st && *st != "failed" && *st != "ready" && *st != "leased") first_path[e.range_id] = e.path;
      }
  }

  void step() {
    ++steps;
    const int action = int(rng() % 100);
    const node_id node = any_node();
    if (action < 35) {  // a node without work asks for ranges
      auto& batch = in_flight[node];
      if (batch.empty()) {
        batch = bk->lease(node, 1 + rng() % 4);
        for (auto& r : batch) BOOST_REQUIRE_MESSAGE(!recorded.count(r.id), "range " << r.id << " handed out after being recorded");
      }
    } else if (action < 70) {  // a node reports its batch
      auto it = in_flight.find(node);
      if (it != in_flight.end() && !it->second.empty()) {
        auto batch = std::move(it->second);
        it->second.clear();
        report(node, batch);
        // unreported ranges stay leased until the node's pilot exits
        if (chance(0.3)) bk->release_node(node);
      }
    } else if (action < 75) {  // node lost
      auto& batch = in_flight[node];
      if (!batch.empty() && chance(0.5)) zombies.emplace_back(node, batch);
      batch.clear();
      bk->release_node(node);
    } else if (action < 80) {  // late update from a lost node or an earlier run
      if (!zombies.empty()) {
        auto [zn, batch] = std::move(zombies.back());
        zombies.pop_back();
        report(zn, batch);
      }
    } else if (action < 92) {  // merges: start and finish some
      for (auto& t : bk->take_ready_merges()) {
        BOOST_REQUIRE_MESSAGE(!merged_by_output.count(t.output_name), "merge of " << t.output_name << " repeated");
        for (auto& in : t.inputs) {
          BOOST_REQUIRE_MESSAGE(first_path.count(in.range_id) == 1u, "no recorded finish for " << in.range_id);
          BOOST_CHECK_MESSAGE(in.path == first_path[in.range_id], "first finish wins for " << in.range_id);
        }
        merging.push_back(std::move(t));
      }
      if (!merging.empty()) {
        auto t = merging.front();
        merging.erase(merging.begin());
        if (chance(0.05)) {
          BOOST_TEST(bk->merge_failed(t.output_name));
        } else {
          BOOST_TEST(bk->merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G" + t.output_name));
          std::vector<std::string> ids;
          for (auto& in : t.inputs) ids.push_back(in.range_id);
          merged_by_output[t.output_name] = ids;
        }
        save();  // the coordinator records merge results at once, so a merge is never redone
      }
    } else if (action < 97) {
      save();
    } else if (crashes < 8) {
      crash();
    }
    check_invariant(*bk);
  }

  void run() {
    while (!bk->complete() || !merging.empty()) {
      BOOST_REQUIRE(steps < 200000);
      step();
      if (bk->exhausted() && merging.empty() && bk->get_counts().merges_pending > 0) step();
    }
    save();
  }

  void verify() {
    auto c = bk->get_counts();
    BOOST_TEST(c.ready == 0u);
    BOOST_TEST(c.leased == 0u);
    BOOST_TEST(c.merged_events + c.failed_events == c.total);
    // every event in exactly one merged output or in a failed one
    std::map<std::string, int> seen;
    for (auto& [out, ids] : merged_by_output)
      for (auto& id : ids) ++seen[id];
    std::set<std::string> failed_outputs;
    std::size_t merged_outputs = 0;
    for (auto& o : bk->outputs()) {
      BOOST_TEST((o.state == output_state::merged || o.state == output_state::failed));
      if (o.state == output_state::failed) failed_outputs.insert(o.name);
      if (o.state == output_state::merged) {
        ++merged_outputs;
        BOOST_TEST(merged_by_output.count(o.name) == 1u);
      }
    }
    BOOST_TEST(merged_outputs == merged_by_output.size());
    for (int f = 1; f <= int(job.in_files.size()); ++f)
      for (int n = 1; n <= job.events_per_input; ++n) {
        const auto id = rid(f, n);
        auto st = bk->state_of(id);
        BOOST_REQUIRE(st);
        if (*st == "merged")
          BOOST_CHECK_MESSAGE(seen[id] == 1, id << " merged " << seen[id] << " times");
        else
          BOOST_CHECK_MESSAGE(*st == "failed" && seen[id] == 0, id << " is " << *st);
      }
    for (auto& p : poison) BOOST_TEST(*bk->state_of(p) == "failed");
    // The final checkpoint says the same.
    auto cp = bk->snapshot();
    BOOST_TEST(cp.simulated.empty());
  }
};

}  // namespace

BOOST_AUTO_TEST_CASE(random_crashes_never_lose_or_repeat_recorded_work) {
  const geometry shapes[] = {{12, 10, 5}, {12, 5, 10}, {10, 8, 8}, {6, 12, 3}, {16, 2, 8}};
  std::size_t not_owned = 0, duplicates = 0, discarded = 0, retried = 0, groups_failed = 0;
  for (std::uint64_t seed : {1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 10u}) {
    const auto g = shapes[seed % 5];
    BOOST_TEST_MESSAGE("resume simulation seed " << seed << " (inputs " << g.inputs << ", E " << g.e << ", H "
                                                 << g.h << ")");
    BOOST_TEST_CONTEXT("seed " << seed) {
      sim s(seed, g);
      s.run();
      s.verify();
      BOOST_TEST_MESSAGE("  " << s.steps << " steps, " << s.crashes << " crashes, " << s.merged_by_output.size()
                              << " outputs merged");
      BOOST_TEST(s.crashes > 0);
      not_owned += s.not_owned;
      duplicates += s.duplicates;
      discarded += s.discarded;
      retried += s.retried;
      groups_failed += s.bk->get_counts().groups_failed;
    }
  }
  BOOST_TEST_MESSAGE("totals: not owned " << not_owned << ", duplicates " << duplicates << ", discarded "
                                          << discarded << ", retried " << retried << ", groups failed (last runs) "
                                          << groups_failed);
  // The simulation must exercise the paths it is meant to check.
  BOOST_TEST(not_owned > 0u);
  BOOST_TEST(duplicates > 0u);
  BOOST_TEST(retried > 0u);
  BOOST_TEST(groups_failed > 0u);
}
