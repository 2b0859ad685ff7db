// state.json format, atomic save/load, commit log, snapshots and resume from each checkpoint shape
// (spec §3.6, §3.7, §7 items 1 and 9).
#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "helpers.hpp"

using namespace rty::bookkeeping;
using namespace rty::bookkeeping::test;
namespace fs = std::filesystem;
BOOST_TEST_DONT_PRINT_LOG_VALUE(rty::bookkeeping::checkpoint)

namespace {

checkpoint round_trip(const checkpoint& cp) {
  auto text = boost::json::serialize(to_json(cp));
  auto parsed = checkpoint_from_json(boost::json::parse(text), "state.json");
  BOOST_REQUIRE(parsed.has_value());
  return *parsed;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(checkpoint_format)

// An emulation of Raythena's driver wrote it, in the shape Raythena HEAD writes (tests/fixtures/FIXTURES.md).
BOOST_AUTO_TEST_CASE(reads_and_rewrites_the_emulated_raythena_checkpoint) {
  const std::string path = std::string(RTY_TEST_FIXTURES_DIR) + "/emulated/raythena-late-binding-merged/task-dir-state.json";
  auto v = rty::json::read_file(path);
  BOOST_REQUIRE_MESSAGE(v, v.error());
  auto cp = checkpoint_from_json(*v, path);
  BOOST_REQUIRE(cp.has_value());
  BOOST_TEST(cp->simulated.empty());
  BOOST_TEST(cp->failed.empty());
  BOOST_REQUIRE_EQUAL(cp->merged.size(), 2u);
  const auto& m = cp->merged.at("EVNT.40000000._000001.pool.root.1").at("HITS.40000001._000001.pool.root.1");
  BOOST_TEST(m.path == "/scratch/harvester/ap2.tasks/40000001/final/HITS.40000001._000001.pool.root.1");
  BOOST_TEST(m.guid == "5CB58585-2D19-4FB5-91BA-4BFF2E8F0864");
  // Written back, it is the same JSON document (object comparison ignores key order).
  BOOST_TEST(boost::json::value(to_json(*cp)) == *v);
}

BOOST_AUTO_TEST_CASE(range_entries_have_the_original_fields) {
  checkpoint cp;
  cp.simulated["F"]["F-3"] = range_record{"F-3", 3, 3, "/o/F-3.HITS", ""};
  cp.failed["F"]["F-4"] = range_record{"F-4", 4, 4, "", ""};
  cp.merging["G"]["OUT"]["G-1"] = range_record{"G-1", 1, 1, "/o/G-1.HITS", "GUID-OUT"};
  cp.merged["H"]["OUT2"] = merged_record{"/o/final/OUT2", "GUID2"};
  auto j = to_json(cp);
  BOOST_TEST(boost::json::serialize(j["simulated"]) ==
             R"({"F":{"F-3":{"eventRangeID":"F-3","startEvent":3,"lastEvent":3,"path":"/o/F-3.HITS"}}})");
  BOOST_TEST(boost::json::serialize(j["failed"]) ==
             R"({"F":{"F-4":{"eventRangeID":"F-4","startEvent":4,"lastEvent":4}}})");
  BOOST_TEST(boost::json::serialize(j["merged"]) == R"({"H":{"OUT2":{"path":"/o/final/OUT2","guid":"GUID2"}}})");
  BOOST_TEST(j["merging"].at("G").at("OUT").at("G-1").at("guid") == "GUID-OUT");
  BOOST_TEST(round_trip(cp) == cp);
}

BOOST_AUTO_TEST_CASE(accepts_the_older_upstream_example_shape) {
  // Shape of ray: example/state.json: blank start/last, `merged` as a list of names.
  const char* text = R"({"simulated": {"INPUTFILE1": {"RANGEID1": {"startEvent": "", "lastEvent": "",
      "eventRangeID": "RANGEID1", "path": ""}}, "INPUTFILE3": {}},
    "failed": {"INPUTFILE1": {"RANGEID5": {"startEvent": "5", "lastEvent": "5", "eventRangeID": "RANGEID5"}}},
    "merging": {"INPUTFILE1": {"OUTPUTFILE1-1": {"RANGEID6": {"startEvent": 6, "lastEvent": 6,
      "eventRangeID": "RANGEID6", "path": "p6"}}}},
    "merged": {"INPUTFILE6": ["OUTPUTFILE6-1", "OUTPUTFILE6-2"]}})";
  auto cp = checkpoint_from_json(boost::json::parse(text), "example");
  BOOST_REQUIRE(cp.has_value());
  BOOST_TEST(cp->simulated.at("INPUTFILE1").at("RANGEID1").start_event == 0);
  BOOST_TEST(cp->failed.at("INPUTFILE1").at("RANGEID5").start_event == 5);
  BOOST_TEST(cp->merging.at("INPUTFILE1").at("OUTPUTFILE1-1").at("RANGEID6").path == "p6");
  BOOST_TEST(cp->merged.at("INPUTFILE6").size() == 2u);
  // startEvent blank: taken from the id's number.
  auto cp2 = checkpoint_from_json(
      boost::json::parse(R"({"simulated":{"F":{"F-7":{"eventRangeID":"F-7","startEvent":"","path":"x"}}}})"), "o");
  BOOST_REQUIRE(cp2.has_value());
  BOOST_TEST(cp2->simulated.at("F").at("F-7").start_event == 7);
  BOOST_TEST(cp2->merged.empty());
}

BOOST_AUTO_TEST_CASE(errors_name_origin_and_key) {
  auto bad = [](const char* text) {
    auto r = checkpoint_from_json(boost::json::parse(text), "/o/state.json");
    BOOST_REQUIRE(!r.has_value());
    return r.error().message();
  };
  BOOST_TEST(bad("[1]").find("/o/state.json") != std::string::npos);
  auto e = bad(R"({"simulated": {"F": {"F-1": 3}}})");
  BOOST_TEST(e.find("/o/state.json: simulated[\"F\"][\"F-1\"]") != std::string::npos);
  BOOST_TEST(e.find("expected an object") != std::string::npos);
  BOOST_TEST(bad(R"({"merged": 5})").find("\"merged\"") != std::string::npos);
  BOOST_TEST(bad(R"({"merged": {"F": {"O": {"path": 1}}}})").find("merged[\"F\"][\"O\"].path") != std::string::npos);
  BOOST_TEST(bad(R"({"merging": {"F": []}})").find("merging[\"F\"]") != std::string::npos);
  BOOST_TEST(bad(R"({"failed": {"F": {"F-1": {"eventRangeID": 7}}}})").find("eventRangeID") != std::string::npos);
}

// Issue 13 item 5: names read back from state.json become paths (node and merge inputs, final/):
// the same check as the job spec's, and paths without '..' components or control characters.
BOOST_AUTO_TEST_CASE(names_that_become_paths_are_refused) {
  auto bad = [](const std::string& text) {
    auto r = checkpoint_from_json(boost::json::parse(text), "/o/state.json");
    BOOST_REQUIRE(!r.has_value());
    BOOST_TEST_MESSAGE(r.error());
    return r.error().message();
  };
  auto has = [](const std::string& e, const char* part) { return e.find(part) != std::string::npos; };
  BOOST_TEST(has(bad(R"({"simulated": {"../F": {"F-1": {"path": "/t/x"}}}})"), "input file '../F'"));
  BOOST_TEST(has(bad(R"({"failed": {"..": {}}})"), "input file '..'"));
  BOOST_TEST(has(bad(R"({"simulated": {"F": {"a/b": {"path": "/t/x"}}}})"), "event range id 'a/b'"));
  BOOST_TEST(has(bad(R"({"simulated": {"F": {"F-1": {"eventRangeID": "../F-1", "path": "/t/x"}}}})"), "eventRangeID"));
  BOOST_TEST(has(bad(R"({"simulated": {"F": {"F-1": {"path": "/t/../../etc/x"}}}})"), "'..' component"));
  BOOST_TEST(has(bad(R"({"merging": {"F": {"../../O": {}}}})"), "output file '../../O'"));
  BOOST_TEST(has(bad(R"({"merging": {"F": {"O": {"F-1": {"path": "/t/x", "guid": "g/1"}}}}})"), "guid 'g/1'"));
  BOOST_TEST(has(bad(R"({"merged": {"F": {"../../../x": {"path": "/t/final/x", "guid": "g"}}}})"), "output file"));
  BOOST_TEST(has(bad(R"({"merged": {"F": ["ok", "../up"]}})"), "output file '../up'"));
  BOOST_TEST(has(bad(R"({"merged": {"F": {"O": {"path": "/t/final/../../O", "guid": "g"}}}})"), "'..' component"));
  BOOST_TEST(has(bad(R"({"merged": {"F": {"O": {"path": "/t/final/O", "guid": "a\nb"}}}})"), "guid 'a\\nb'"));
  // '..' inside a name is fine.
  BOOST_TEST(checkpoint_from_json(boost::json::parse(R"({"merged": {"F..1": {"O..1": {"path": "/t/O..1", "guid": "g"}}}})"),
                                  "o")
                 .has_value());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(checkpoint_files)

BOOST_AUTO_TEST_CASE(save_and_load) {
  temp_dir dir;
  const auto path = dir / "state.json";
  BOOST_TEST(!load_checkpoint(path)->has_value());  // missing: no progress
  checkpoint cp;
  cp.simulated["F"]["F-1"] = range_record{"F-1", 1, 1, "/p", ""};
  BOOST_TEST(bool(save_checkpoint(cp, path)));
  BOOST_TEST(!fs::exists(path + ".tmp"));
  auto loaded = load_checkpoint(path);
  BOOST_REQUIRE(loaded.has_value());
  BOOST_REQUIRE(loaded->has_value());
  BOOST_TEST(**loaded == cp);
}

BOOST_AUTO_TEST_CASE(load_refuses_a_checkpoint_with_a_path_name) {
  temp_dir t;
  write_file(t / "state.json", R"({"merged": {"F": {"../../x": {"path": "/t/final/x", "guid": "g"}}}})");
  auto r = load_checkpoint(t / "state.json");
  BOOST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find(t / "state.json") != std::string::npos, r.error().message());
  BOOST_TEST(r.error().message().find("'../../x' is not a usable file name") != std::string::npos, r.error().message());
}

BOOST_AUTO_TEST_CASE(falls_back_to_tmp_only_when_main_file_is_missing) {
  temp_dir dir;
  const auto path = dir / "state.json";
  checkpoint cp;
  cp.failed["F"]["F-2"] = range_record{"F-2", 2, 2, "", ""};
  write_file(path + ".tmp", boost::json::serialize(to_json(cp)));
  auto loaded = load_checkpoint(path);
  BOOST_REQUIRE(loaded.has_value() && loaded->has_value());
  BOOST_TEST(**loaded == cp);
  // A main file that exists but is broken is an error, not a silent fallback or a fresh start.
  write_file(path, "{\"simulated\": {");
  auto broken = load_checkpoint(path);
  BOOST_REQUIRE(!broken.has_value());
  BOOST_TEST(broken.error().message().find(path) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(failed_save_keeps_previous_checkpoint) {
  if (::geteuid() == 0) return;  // root ignores directory permissions
  temp_dir dir;
  const auto path = dir / "state.json";
  checkpoint a;
  a.simulated["F"]["F-1"] = range_record{"F-1", 1, 1, "/a", ""};
  BOOST_REQUIRE(save_checkpoint(a, path));
  fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
  checkpoint b = a;
  b.simulated["F"]["F-2"] = range_record{"F-2", 2, 2, "/b", ""};
  auto saved = save_checkpoint(b, path);
  fs::permissions(dir.path, fs::perms::owner_all);
  BOOST_REQUIRE(!saved);
  BOOST_TEST(saved.error().message().find("state.json.tmp") != std::string::npos);
  BOOST_TEST((saved.error().code() == std::errc::permission_denied));  // the kind travels with the message
  BOOST_TEST(**load_checkpoint(path) == a);
}

BOOST_AUTO_TEST_CASE(save_into_missing_directory_reports_error) {
  auto saved = save_checkpoint(checkpoint{}, "/nonexistent-rty-dir/state.json");
  BOOST_REQUIRE(!saved);
  BOOST_TEST(!saved.error().message().empty());
  BOOST_TEST(bool(saved.error().code()));
}

BOOST_AUTO_TEST_SUITE_END()



BOOST_AUTO_TEST_SUITE(snapshot_and_resume)

// Takes every ready merge and reports it merged with a GUID derived from the output name.
void merge_all(bookkeeper& bk) {
  for (auto& t : bk.take_ready_merges())
    BOOST_TEST(bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name));
}

BOOST_AUTO_TEST_CASE(one_to_n_partial_and_full_merges) {
  bookkeeper bk(make_job(2, 4, 2), make_options());  // outputs 1,2 from input 1; 3,4 from input 2
  bk.apply_update(1, finish_all(bk.lease(1, 7)));  // all but input 2 event 4
  // merge outputs 2 (input 1) and 3 (input 2) only
  for (auto& t : bk.take_ready_merges()) {
    if (t.output_name == out_name(2) || t.output_name == out_name(3))
      bk.merge_succeeded(t.output_name, "/task/final/" + t.output_name, "G-" + t.output_name);
  }
  auto cp = round_trip(bk.snapshot());
  // input 1: output 2 merged, output 1 merge still running -> merging + simulated
  BOOST_TEST(cp.merging.at(in_name(1)).size() == 1u);
  const auto& m = cp.merging.at(in_name(1)).at(out_name(2));
  BOOST_TEST(m.size() == 2u);
  BOOST_TEST(m.at(rid(1, 3)).path == "/task/" + rid(1, 3) + ".HITS");
  BOOST_TEST(m.at(rid(1, 3)).output_guid == "G-" + out_name(2));
  BOOST_TEST(cp.simulated.at(in_name(1)).size() == 2u);
  BOOST_TEST(cp.simulated.at(in_name(1)).count(rid(1, 1)) == 1u);
  BOOST_TEST(cp.simulated.at(in_name(2)).size() == 1u);  // event 3 of input 2
  BOOST_TEST(cp.merged.empty());

  // Resume: the right outputs are identified by their events, not by popping names (§7 item 9).
  bookkeeper again(make_job(2, 4, 2), make_options());
  again.restore(cp);
  BOOST_TEST(again.restore_problems().empty());
  auto c = again.get_counts();
  BOOST_TEST(c.merged_events == 4u);
  BOOST_TEST(c.ready == 1u);
  BOOST_TEST(again.state_of(rid(1, 3)).value_or("?") == "merged");
  auto tasks = again.take_ready_merges();  // output 1 straight to merging, no range re-leased
  BOOST_REQUIRE_EQUAL(tasks.size(), 1u);
  BOOST_TEST(tasks[0].output_name == out_name(1));
  auto rest = again.lease(1, 10);
  BOOST_REQUIRE_EQUAL(rest.size(), 1u);
  BOOST_TEST(rest[0].id == rid(2, 4));
  again.apply_update(1, finish_all(rest));
  BOOST_TEST(again.merge_succeeded(out_name(1), "/task/final/" + out_name(1), "G-" + out_name(1)));
  merge_all(again);
  BOOST_TEST(again.complete());
  auto full = again.snapshot();
  BOOST_TEST(full.simulated.empty());
  BOOST_TEST(full.merging.empty());
  BOOST_REQUIRE_EQUAL(full.merged.at(in_name(1)).size(), 2u);
  // one GUID per output, the one recorded before the restart included
  BOOST_TEST(full.merged.at(in_name(1)).at(out_name(2)).guid == "G-" + out_name(2));
  BOOST_TEST(full.merged.at(in_name(1)).at(out_name(1)).guid == "G-" + out_name(1));
  BOOST_TEST(full.merged.at(in_name(1)).at(out_name(2)).path == "/task/final/" + out_name(2));
}

BOOST_AUTO_TEST_CASE(n_to_one_merged_lists_every_input_of_the_group) {
  bookkeeper bk(make_job(4, 2, 4), make_options());
  bk.apply_update(1, finish_all(bk.lease(1, 4)));
  merge_all(bk);
  auto cp = bk.snapshot();
  BOOST_TEST(cp.merged.size() == 2u);
  BOOST_TEST(cp.merged.at(in_name(1)).at(out_name(1)).guid == "G-" + out_name(1));
  BOOST_TEST(cp.merged.at(in_name(2)).at(out_name(1)).path == "/task/final/" + out_name(1));
  BOOST_TEST(cp.simulated.empty());
  bookkeeper again(make_job(4, 2, 4), make_options());
  again.restore(round_trip(cp));
  auto rest = again.lease(1, 100);
  BOOST_TEST(rest.size() == 4u);
  BOOST_TEST(rest[0].id == rid(3, 1));
}

BOOST_AUTO_TEST_CASE(failure_in_a_file_with_simulated_ranges_is_checkpointed_n_to_one) {
  // §7 item 1: the original's saver died here. Inputs 1+2 -> output 1.
  bookkeeper bk(make_job(4, 2, 4), make_options(1));
  auto a = bk.lease(1, 4);
  bk.apply_update(1, {fin(a[0].id), fin(a[1].id), fin(a[2].id), fail(a[3].id)});
  auto cp = round_trip(bk.snapshot());
  BOOST_TEST(cp.simulated.empty());  // finished ranges of the failed group are not kept for merging
  BOOST_TEST(cp.failed.at(in_name(1)).size() == 2u);
  BOOST_TEST(cp.failed.at(in_name(2)).size() == 2u);
  BOOST_TEST(!cp.failed.at(in_name(2)).at(rid(2, 2)).event_range_id.empty());

  bookkeeper again(make_job(4, 2, 4), make_options(1));
  again.restore(cp);
  auto c = again.get_counts();
  BOOST_TEST(c.failed == 4u);
  BOOST_TEST(c.ready == 4u);
  std::set<std::string> handed;
  for (auto& r : again.lease(1, 100)) handed.insert(r.id);
  BOOST_TEST(!handed.count(rid(1, 1)));
  BOOST_TEST(!handed.count(rid(2, 2)));
  BOOST_TEST(handed.size() == 4u);
}

BOOST_AUTO_TEST_CASE(restore_from_original_style_partial_failure_fails_whole_n_to_one_group) {
  // The original records only the failing input's ranges in some cases: the whole group must fail.
  checkpoint cp;
  cp.failed[in_name(2)][rid(2, 1)] = range_record{rid(2, 1), 1, 1, "", ""};
  cp.simulated[in_name(1)][rid(1, 1)] = range_record{rid(1, 1), 1, 1, "/p/1-1", ""};
  cp.simulated[in_name(3)][rid(3, 1)] = range_record{rid(3, 1), 1, 1, "/p/3-1", ""};
  bookkeeper bk(make_job(4, 2, 4), make_options());
  bk.restore(cp);
  BOOST_TEST(bk.state_of(rid(1, 1)).value_or("?") == "failed");
  BOOST_TEST(bk.state_of(rid(1, 2)).value_or("?") == "failed");
  BOOST_TEST(bk.state_of(rid(3, 1)).value_or("?") == "finished");
  BOOST_TEST(bk.get_counts().ready == 3u);
  auto snap = bk.snapshot();
  BOOST_TEST(snap.failed.at(in_name(1)).size() == 2u);
  BOOST_TEST(snap.simulated.at(in_name(3)).at(rid(3, 1)).path == "/p/3-1");
}

BOOST_AUTO_TEST_CASE(restore_applies_commit_log_renames_and_new_attempt_names) {
  // Run 1 merged everything under attempt-1 names.
  bookkeeper bk(make_job(2, 4, 2, "HITS.old"), make_options());
  bk.apply_update(1, finish_all(bk.lease(1, 8)));
  merge_all(bk);
  auto cp = round_trip(bk.snapshot());
  // Run 2 is a new job attempt with new output names; the commit log renamed input 1's outputs only.
  std::map<std::string, std::string> renamed{{out_name(1, "HITS.old"), out_name(1, "HITS.new")},
                                             {out_name(2, "HITS.old"), out_name(2, "HITS.new")}};
  bookkeeper again(make_job(2, 4, 2, "HITS.new"), make_options());
  again.restore(cp, renamed);
  BOOST_TEST(again.restore_problems().empty());
  BOOST_TEST(again.complete());
  auto outs = again.outputs();
  BOOST_TEST(outs[0].recorded_name == out_name(1, "HITS.new"));
  BOOST_TEST(outs[0].final_path == "/task/final/" + out_name(1, "HITS.new"));
  BOOST_TEST(outs[0].guid == "G-" + out_name(1, "HITS.old"));
  BOOST_TEST(outs[2].name == out_name(3, "HITS.new"));
  BOOST_TEST(outs[2].recorded_name == out_name(3, "HITS.old"));  // not renamed yet: by position
  BOOST_TEST(outs[2].final_path == "/task/final/" + out_name(3, "HITS.old"));
  auto snap = again.snapshot();
  BOOST_TEST(snap.merged.at(in_name(1)).count(out_name(1, "HITS.new")) == 1u);
  BOOST_TEST(snap.merged.at(in_name(2)).count(out_name(4, "HITS.old")) == 1u);
}

BOOST_AUTO_TEST_CASE(restore_reports_inconsistencies_without_failing) {
  checkpoint cp;
  cp.merged["EVNT.unknown"]["HITS.x"] = merged_record{"/p", "g"};
  cp.simulated[in_name(1)]["garbage"] = range_record{"garbage", 0, 0, "/p", ""};
  cp.simulated[in_name(1)][rid(1, 2)] = range_record{rid(1, 2), 2, 2, "", ""};  // no path
  cp.failed[in_name(1)]["junk"] = range_record{"junk", 99, 99, "", ""};
  bookkeeper bk(make_job(1, 2, 2), make_options());
  bk.restore(cp);
  BOOST_TEST(bk.restore_problems().size() == 4u);
  BOOST_TEST(bk.get_counts().ready == 2u);
}

BOOST_AUTO_TEST_CASE(restore_discards_previous_state) {
  bookkeeper bk(make_job(1, 2, 2), make_options());
  bk.lease(1, 2);
  bk.restore(checkpoint{});
  BOOST_TEST(bk.leased_to(1) == 0u);
  BOOST_TEST(bk.get_counts().ready == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
