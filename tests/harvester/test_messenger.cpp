#define BOOST_TEST_MODULE harvester_messenger
#include <boost/test/unit_test.hpp>

#include <fcntl.h>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "harvester/messenger.hpp"

#include <boost/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hv = rty::harvester;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string fixture(const std::string& rel) {
  auto t = rty::file::read_all(std::string(RTY_FIXTURES_DIR) + "/" + rel);
  BOOST_REQUIRE(t);
  return *t;
}

// A temp access point, the messenger files in it, and an injected clock.
struct endpoint_fixture {
  fs::path dir;
  hv::messenger_files files;
  hv::clock::time_point now{};  // the epoch of steady_clock: only differences matter
  endpoint_fixture() {
    static int n = 0;
    dir = fs::temp_directory_path() / ("rty_msg_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
    fs::remove_all(dir);
    fs::create_directories(dir);
    auto d = dir.string();
    files.endpoint = d;
    files.job_request = d + "/worker_requestjob.json";
    files.job_spec = d + "/HPCJobs.json";
    files.event_request = d + "/worker_requestevents.json";
    files.event_ranges = d + "/JobsEventRanges.json";
    files.event_status_dump = d + "/event_status.dump.json";
    files.job_report = d + "/jobReport.json";
    files.pandaids = d + "/worker_pandaids.json";
    files.pool_catalog = d + "/PoolFileCatalog_H.xml";
    files.update_events = d + "/worker_updateevents.json";
  }
  ~endpoint_fixture() { fs::remove_all(dir); }
  std::string path(const std::string& name) const { return (dir / name).string(); }
  bool has(const std::string& name) const { return fs::exists(dir / name); }
  // Writes in place, as Harvester does (not atomically).
  void put(const std::string& name, std::string_view content) {
    std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << content;
  }
  void advance(std::chrono::milliseconds d) { now += d; }
};

std::string spec_text() { return fixture("harvester-early-binding-events/HPCJobs.json.read"); }

template <class T, class V>
bool holds(const V& v) {
  return std::holds_alternative<T>(v);
}

// Polls until the result is not `waiting`, at most n times, advancing the clock by `step`.
hv::job_poll_result poll_until_done(hv::messenger& m, endpoint_fixture& f, int n = 10, std::chrono::milliseconds step = 500ms) {
  hv::job_poll_result r = m.poll_job(f.now);
  for (int i = 0; i < n && holds<hv::waiting>(r); ++i) {
    f.advance(step);
    r = m.poll_job(f.now);
  }
  return r;
}

hv::messenger_options opts() {
  hv::messenger_options o;
  o.rerequest_after = 1200s;
  o.corrupt_after = 600s;
  o.settled_after = 3600s;  // files written by a test are fresh: the two-poll rule decides
  return o;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(job, endpoint_fixture)

BOOST_AUTO_TEST_CASE(prestaged_spec_used_without_request) {
  put("HPCJobs.json", spec_text());
  put("worker_pandaids.json", "[6000000001]");
  hv::messenger m(files, opts());
  auto r = m.poll_job(now);
  BOOST_TEST(holds<hv::waiting>(r));  // first sight: complete only when stable at the next poll
  BOOST_TEST(!has("worker_requestjob.json"));
  advance(500ms);
  r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::job_ready>(r));
  auto& ready = std::get<hv::job_ready>(r);
  BOOST_TEST(ready.job.panda_id == "6000000001");
  BOOST_TEST(ready.path == path("HPCJobs.json.read"));
  BOOST_TEST(has("HPCJobs.json.read"));
  BOOST_TEST(!has("HPCJobs.json"));
  BOOST_TEST(!has("worker_requestjob.json"));
  // Never enqueued twice.
  BOOST_TEST(holds<hv::failed>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(a_fresh_parsable_spec_is_confirmed_after_the_short_interval) {
  put("HPCJobs.json", spec_text());
  put("worker_pandaids.json", "[6000000001]");
  auto o = opts();
  o.poll_interval = 500ms;
  o.confirm_interval = 50ms;
  hv::messenger m(files, o);
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::waiting>(r));
  BOOST_TEST(std::get<hv::waiting>(r).delay.count() == 50);  // not a whole poll interval of start-up
  advance(50ms);
  BOOST_TEST(holds<hv::job_ready>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(settled_prestaged_spec_used_at_first_sight) {
  put("HPCJobs.json", spec_text());
  put("worker_pandaids.json", "[6000000001]");
  // Written by Harvester before the batch job started: older than settled_after.
  struct timespec old[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
  BOOST_REQUIRE(::utimensat(AT_FDCWD, path("HPCJobs.json").c_str(), old, 0) == 0);
  auto o = opts();
  o.settled_after = 2s;
  hv::messenger m(files, o);
  BOOST_TEST(holds<hv::job_ready>(m.poll_job(now)));  // no second poll needed
}

BOOST_AUTO_TEST_CASE(only_read_copy_resumes_without_request) {
  put("HPCJobs.json.read", spec_text());
  hv::messenger m(files, opts());
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::job_ready>(r));
  BOOST_TEST(std::get<hv::job_ready>(r).job.task_id == "40000001");
  BOOST_TEST(!has("worker_requestjob.json"));  // refill trap avoided
}

// The queue config set jobSpecFileFormat "cgi" and its own jobSpecFileName: Harvester's urlencoded
// spec is read under that name, claimed as <name>.read, and read the same way on a resumed run.
BOOST_AUTO_TEST_CASE(cgi_spec_under_the_queues_file_name) {
  auto cgi = rty::file::read_all(std::string(RTY_SOURCE_DIR) + "/tests/harvester/fixtures/HPCJobs.cgi");
  BOOST_REQUIRE(cgi);
  files.job_spec = path("my_job.cgi");
  files.spec_format = hv::job_spec_format::cgi;
  put("my_job.cgi", *cgi);
  put("worker_pandaids.json", "[6000000001]");
  {
    hv::messenger m(files, opts());
    auto r = poll_until_done(m, *this);
    BOOST_REQUIRE(holds<hv::job_ready>(r));
    BOOST_TEST(std::get<hv::job_ready>(r).job.panda_id == "6000000001");
    BOOST_TEST(std::get<hv::job_ready>(r).job.events_per_output > 0);
    BOOST_TEST(has("my_job.cgi.read"));
  }
  hv::messenger resumed(files, opts());
  auto again = resumed.poll_job(now);
  BOOST_REQUIRE(holds<hv::job_ready>(again));
  // The same text taken as JSON does not parse: the format matters.
  files.spec_format = hv::job_spec_format::json;
  hv::messenger wrong(files, opts());
  BOOST_TEST(holds<hv::failed>(wrong.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(broken_read_copy_fails_cleanly) {
  put("HPCJobs.json.read", "{\"6000000001\": {\"PandaID\"");
  hv::messenger m(files, opts());
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::failed>(r));
  BOOST_TEST(std::get<hv::failed>(r).message.find("HPCJobs.json.read") != std::string::npos);
  BOOST_TEST(!has("worker_requestjob.json"));
}

BOOST_AUTO_TEST_CASE(request_written_once_then_answer_consumed) {
  hv::messenger m(files, opts());
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::waiting>(r));
  BOOST_REQUIRE(has("worker_requestjob.json"));
  auto req = boost::json::parse(*rty::file::read_all(path("worker_requestjob.json"))).as_object();
  BOOST_TEST(req.size() == 10u);
  BOOST_TEST(req.at("prodSourceLabel").as_string() == "");
  BOOST_TEST(!has("worker_requestjob.json.tmp"));
  // Written only once: removing it does not make the next poll write it again (until the watchdog).
  fs::remove(dir / "worker_requestjob.json");
  advance(1s);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  BOOST_TEST(!has("worker_requestjob.json"));
  put("HPCJobs.json", spec_text());
  put("worker_pandaids.json", "[6000000001]");
  r = poll_until_done(m, *this);
  BOOST_REQUIRE(holds<hv::job_ready>(r));
  BOOST_TEST(has("HPCJobs.json.read"));
}

BOOST_AUTO_TEST_CASE(pending_request_from_earlier_run_is_not_rewritten) {
  put("worker_requestjob.json", "{\"marker\": 1}");
  hv::messenger m(files, opts());
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  BOOST_TEST(*rty::file::read_all(path("worker_requestjob.json")) == "{\"marker\": 1}");
}

BOOST_AUTO_TEST_CASE(half_written_spec_not_consumed_until_stable) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  auto text = spec_text();
  put("HPCJobs.json", text.substr(0, text.size() / 3));
  for (int i = 0; i < 5; ++i) {
    advance(500ms);
    auto r = m.poll_job(now);
    BOOST_REQUIRE(holds<hv::waiting>(r));
    BOOST_TEST(std::get<hv::waiting>(r).what.find("does not parse") != std::string::npos);
  }
  BOOST_TEST(has("HPCJobs.json"));  // not claimed
  put("HPCJobs.json", text);
  put("worker_pandaids.json", "[6000000001]");
  advance(500ms);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));  // parses, but seen once only
  BOOST_TEST(has("HPCJobs.json"));
  advance(500ms);
  BOOST_TEST(holds<hv::job_ready>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(spec_changing_between_polls_is_not_consumed) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  put("worker_pandaids.json", "[6000000001]");
  auto text = spec_text();
  put("HPCJobs.json", text);
  advance(500ms);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  put("HPCJobs.json", text + "\n");  // rewritten: size changes
  advance(500ms);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  advance(500ms);
  BOOST_TEST(holds<hv::job_ready>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(late_binding_waits_for_feed_to_finish) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  put("HPCJobs.json", spec_text());
  for (int i = 0; i < 4; ++i) {
    advance(500ms);
    BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));  // request present, no pandaIDs yet
  }
  fs::remove(dir / "worker_requestjob.json");  // Harvester's last step
  advance(500ms);
  BOOST_TEST(holds<hv::job_ready>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(invalid_job_map_fails_with_count) {
  put("HPCJobs.json", "{}");
  hv::messenger m(files, opts());
  auto r = poll_until_done(m, *this);
  BOOST_REQUIRE(holds<hv::failed>(r));
  BOOST_TEST(std::get<hv::failed>(r).message.find("found 0") != std::string::npos);
  BOOST_TEST(std::get<hv::failed>(r).message.find("HPCJobs.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(timeout_ends_with_clear_message) {
  auto o = opts();
  o.job_timeout = 30s;
  hv::messenger m(files, o);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  advance(29s);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  advance(1s);
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::failed>(r));
  auto& msg = std::get<hv::failed>(r).message;
  BOOST_TEST(msg.find("HPCJobs.json never appeared") != std::string::npos);
  BOOST_TEST(msg.find("30 s") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_timeout_by_default) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  advance(std::chrono::hours(24 * 30));
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
}

BOOST_AUTO_TEST_CASE(watchdog_rewrites_request_when_gone) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  fs::remove(dir / "worker_requestjob.json");
  advance(1199s);
  m.poll_job(now);
  BOOST_TEST(!has("worker_requestjob.json"));
  advance(1s);
  m.poll_job(now);
  BOOST_TEST(has("worker_requestjob.json"));
}

BOOST_AUTO_TEST_CASE(watchdog_leaves_pending_request_alone) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  put("worker_requestjob.json", "{\"marker\": 1}");
  advance(3000s);
  m.poll_job(now);
  BOOST_TEST(*rty::file::read_all(path("worker_requestjob.json")) == "{\"marker\": 1}");
}

BOOST_AUTO_TEST_CASE(corrupt_spec_quarantined_and_rerequested) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  put("HPCJobs.json", "{\"6000000001\": ");
  fs::remove(dir / "worker_requestjob.json");  // Harvester took the request
  advance(1s);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  advance(599s);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  advance(1s);
  BOOST_TEST(holds<hv::waiting>(m.poll_job(now)));
  BOOST_TEST(!has("HPCJobs.json"));
  bool quarantined = false;
  for (auto& e : fs::directory_iterator(dir))
    quarantined |= e.path().filename().string().rfind("HPCJobs.json.corrupt.", 0) == 0;
  BOOST_TEST(quarantined);
  BOOST_TEST(has("worker_requestjob.json"));
}

BOOST_AUTO_TEST_CASE(waiting_logged_once_per_minute) {
  std::string log_path = path("log.txt");
  auto saved = rty::log::current_level();
  rty::log::set_level(rty::log::level::info);
  BOOST_REQUIRE(rty::log::set_file(log_path));
  {
    hv::messenger m(files, opts());
    for (int i = 0; i < 120; ++i) {  // 59.5 s of polls every 0.5 s
      m.poll_job(now);
      advance(500ms);
    }
    advance(1s);
    m.poll_job(now);
  }
  rty::log::set_stderr();
  rty::log::set_level(saved);
  auto text = *rty::file::read_all(log_path);
  std::size_t count = 0;
  for (auto pos = text.find("waiting for job spec"); pos != std::string::npos; pos = text.find("waiting for job spec", pos + 1))
    ++count;
  BOOST_TEST(count == 2u);
}

BOOST_AUTO_TEST_CASE(backoff_grows_to_limit) {
  hv::messenger m(files, opts());
  m.poll_job(now);
  put("HPCJobs.json", "{");
  std::chrono::milliseconds last{0};
  for (int i = 0; i < 8; ++i) {
    advance(1s);
    auto r = m.poll_job(now);
    BOOST_REQUIRE(holds<hv::waiting>(r));
    last = std::get<hv::waiting>(r).delay;
  }
  BOOST_TEST(last.count() == 5000);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(ranges, endpoint_fixture)

BOOST_AUTO_TEST_CASE(request_answer_archive) {
  hv::messenger m(files, opts());
  auto w = m.request_ranges("6000000001", 8, "40000001", "6000000000", now);
  BOOST_REQUIRE(w);
  BOOST_TEST(*w);
  auto req = boost::json::parse(*rty::file::read_all(path("worker_requestevents.json")));
  BOOST_TEST(boost::json::serialize(req) ==
             R"({"6000000001":{"pandaID":"6000000001","nRanges":8,"taskID":40000001,"jobsetID":6000000000}})");
  // A second request while one is pending is not written.
  auto again = m.request_ranges("6000000001", 8, "40000001", "6000000000", now);
  BOOST_REQUIRE(again);
  BOOST_TEST(!*again);
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now)));
  put("JobsEventRanges.json-0", "old");
  put("JobsEventRanges.json-4", "old");
  put("JobsEventRanges.json", fixture("harvester-early-binding-events/JobsEventRanges.json-0"));
  advance(1s);
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now)));
  advance(1s);
  auto r = m.poll_ranges(now);
  BOOST_REQUIRE(holds<hv::ranges_ready>(r));
  auto& got = std::get<hv::ranges_ready>(r);
  BOOST_TEST(got.panda_id == "6000000001");
  BOOST_REQUIRE(got.ranges.size() == 3u);
  BOOST_TEST(got.ranges[0].id == "40000001-6000000001-90000001-1-1");
  BOOST_TEST(got.ranges[0].pfn == path("EVNT.40000000._000001.pool.root.1"));  // relative LFN joined
  BOOST_TEST(got.ranges[0].guid == "00000000-0262-5A01-0000-000000000001");
  BOOST_TEST(got.ranges[2].start_event == 3);
  BOOST_TEST(got.ranges[2].last_event == 3);
  BOOST_TEST(got.archived_as == path("JobsEventRanges.json-5"));  // largest existing + 1
  BOOST_TEST(has("JobsEventRanges.json-5"));
  BOOST_TEST(!has("JobsEventRanges.json"));
  BOOST_TEST(!has("worker_requestevents.json"));
}

BOOST_AUTO_TEST_CASE(pfn_preferred_and_absolute_kept) {
  hv::messenger m(files, opts());
  m.request_ranges("7", 1, "1", "2", now);
  put("JobsEventRanges.json",
      R"({"7": [{"eventRangeID": "a", "LFN": "x", "PFN": "/abs/x", "GUID": "g", "startEvent": 1, "lastEvent": 2}]})");
  m.poll_ranges(now);
  auto r = m.poll_ranges(now + 1s);
  BOOST_REQUIRE(holds<hv::ranges_ready>(r));
  BOOST_TEST(std::get<hv::ranges_ready>(r).ranges[0].pfn == "/abs/x");
  BOOST_TEST(std::get<hv::ranges_ready>(r).archived_as == path("JobsEventRanges.json-0"));
}

BOOST_AUTO_TEST_CASE(empty_list_means_no_more) {
  hv::messenger m(files, opts());
  m.request_ranges("6000000001", 8, "40000001", "6000000000", now);
  put("JobsEventRanges.json", fixture("harvester-early-binding-events/JobsEventRanges.json-3"));
  m.poll_ranges(now);
  auto r = m.poll_ranges(now + 1s);
  BOOST_REQUIRE(holds<hv::ranges_ready>(r));
  BOOST_TEST(std::get<hv::ranges_ready>(r).ranges.empty());
}

BOOST_AUTO_TEST_CASE(unknown_panda_id_ignored) {
  hv::messenger m(files, opts());
  m.request_ranges("7", 2, "1", "2", now);
  put("JobsEventRanges.json",
      R"({"999": [{"eventRangeID": "z", "LFN": "z", "GUID": "g", "startEvent": 1, "lastEvent": 1}],)"
      R"( "7": [{"eventRangeID": "a", "LFN": "x", "GUID": "g", "startEvent": 1, "lastEvent": 1}]})");
  m.poll_ranges(now);
  auto r = m.poll_ranges(now + 1s);
  BOOST_REQUIRE(holds<hv::ranges_ready>(r));
  BOOST_REQUIRE(std::get<hv::ranges_ready>(r).ranges.size() == 1u);
  BOOST_TEST(std::get<hv::ranges_ready>(r).ranges[0].id == "a");
}

BOOST_AUTO_TEST_CASE(answer_only_for_other_job_rerequests) {
  hv::messenger m(files, opts());
  m.request_ranges("7", 2, "1", "2", now);
  fs::remove(dir / "worker_requestevents.json");
  put("JobsEventRanges.json", R"({"999": []})");
  m.poll_ranges(now);
  auto r = m.poll_ranges(now + 1s);
  BOOST_TEST(holds<hv::waiting>(r));
  BOOST_TEST(has("JobsEventRanges.json-0"));
  BOOST_TEST(has("worker_requestevents.json"));
}

BOOST_AUTO_TEST_CASE(malformed_retried_then_quarantined) {
  hv::messenger m(files, opts());
  m.request_ranges("7", 2, "1", "2", now);
  put("JobsEventRanges.json", R"({"7": [{"eventRangeID": "a"}]})");  // parses, but a range lacks fields
  for (int i = 0; i < 3; ++i) BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now += 1s)));
  BOOST_TEST(has("JobsEventRanges.json"));
  put("JobsEventRanges.json", R"({"7": [{"eventRangeID": "a", "LFN": "x", "GUID": "g", "startEvent": 1, "lastEvent": 1}]})");
  m.poll_ranges(now += 1s);
  BOOST_TEST(holds<hv::ranges_ready>(m.poll_ranges(now += 1s)));
  // Now a truncated answer that never heals.
  BOOST_REQUIRE(*m.request_ranges("7", 2, "1", "2", now));
  put("JobsEventRanges.json", R"({"7": [{"eventRa)");
  fs::remove(dir / "worker_requestevents.json");
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now += 1s)));
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now += 600s)));
  BOOST_TEST(!has("JobsEventRanges.json"));
  BOOST_TEST(has("worker_requestevents.json"));  // asked again
}

BOOST_AUTO_TEST_CASE(stale_answer_consumed_before_request) {
  put("JobsEventRanges.json", fixture("harvester-early-binding-events/JobsEventRanges.json-0"));
  hv::messenger m(files, opts());
  auto w = m.request_ranges("6000000001", 8, "40000001", "6000000000", now);
  BOOST_REQUIRE(w);
  BOOST_TEST(!*w);
  BOOST_TEST(!has("worker_requestevents.json"));
  m.poll_ranges(now);
  BOOST_TEST(holds<hv::ranges_ready>(m.poll_ranges(now + 1s)));
}

BOOST_AUTO_TEST_CASE(watchdog_rerequests_after_deletion_race) {
  hv::messenger m(files, opts());
  m.request_ranges("7", 2, "1", "2", now);
  fs::remove(dir / "worker_requestevents.json");  // Harvester deleted our request without answering
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now += 1000s)));
  BOOST_TEST(!has("worker_requestevents.json"));
  BOOST_TEST(holds<hv::waiting>(m.poll_ranges(now += 200s)));
  BOOST_TEST(has("worker_requestevents.json"));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(dump, endpoint_fixture)

rty::range_update finished(const std::string& id) {
  rty::range_update u;
  u.range_id = id;
  u.status = rty::range_status::finished;
  u.path = "/abs/" + id + ".pool.root";
  u.type = "es_output";
  u.chksum = "0a1b2c3d";
  u.fsize = 100;
  return u;
}

boost::json::object read_json(const std::string& p) { return boost::json::parse(*rty::file::read_all(p)).as_object(); }

BOOST_AUTO_TEST_CASE(first_update_published_at_once_then_interval) {
  hv::messenger m(files, opts());
  m.queue_update("7", {finished("r1")});
  auto res = m.flush_updates(now, false);
  BOOST_TEST(res.published == 1u);
  auto d = read_json(path("event_status.dump.json"));
  auto& e = d.at("7").as_array().at(0).as_object();
  BOOST_TEST(e.at("eventRangeID").as_string() == "r1");
  BOOST_TEST(e.at("eventStatus").as_string() == "finished");
  BOOST_TEST(e.at("type").as_string() == "es_output");
  BOOST_TEST(e.at("chksum").as_string() == "0a1b2c3d");
  BOOST_TEST(e.at("fsize").as_int64() == 100);
  BOOST_TEST(!has("event_status.dump.json.tmp"));
  BOOST_TEST(!has("worker_updateevents.json"));  // R8
  fs::rename(dir / "event_status.dump.json", dir / "event_status.dump.json.read");  // Harvester claims it
  rty::range_update failed_update;
  failed_update.range_id = "r2";
  failed_update.status = rty::range_status::failed;
  m.queue_update("7", {failed_update});
  res = m.flush_updates(now + 10s, false);
  BOOST_TEST(res.published == 0u);
  BOOST_TEST(res.pending);
  BOOST_TEST(!has("event_status.dump.json"));
  res = m.flush_updates(now + 300s, false);
  BOOST_TEST(res.published == 1u);
  auto e2 = read_json(path("event_status.dump.json")).at("7").as_array().at(0).as_object();
  BOOST_TEST(e2.at("eventStatus").as_string() == "failed");
  BOOST_TEST(!e2.contains("path"));
  BOOST_TEST(m.pending_updates() == 0u);
}

BOOST_AUTO_TEST_CASE(merges_into_unclaimed_dump) {
  hv::messenger m(files, opts());
  m.queue_update("7", {finished("r1")});
  m.flush_updates(now, false);
  m.queue_update("7", {finished("r2")});
  m.queue_update("8", {finished("x1")});
  auto res = m.flush_updates(now + 1s, true);  // Harvester has not claimed the first dump
  BOOST_TEST(res.published == 3u);
  auto d = read_json(path("event_status.dump.json"));
  BOOST_REQUIRE(d.at("7").as_array().size() == 2u);
  BOOST_TEST(d.at("7").as_array()[0].at("eventRangeID").as_string() == "r1");  // older first
  BOOST_TEST(d.at("7").as_array()[1].at("eventRangeID").as_string() == "r2");
  BOOST_TEST(d.at("8").as_array().size() == 1u);
  for (auto& e : fs::directory_iterator(dir)) BOOST_TEST(e.path().filename().string().find(".merge.") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(merges_harvester_written_dump) {
  // Harvester's post-processing writes a dump in place (fixture: the final outputs).
  put("event_status.dump.json", fixture("harvester-late-binding-merged/event_status.dump.json.read.2026-11-26_00_23_46.904887"));
  auto before = read_json(path("event_status.dump.json"));
  std::size_t harvester_entries = before.begin()->value().as_array().size();
  hv::messenger m(files, opts());
  m.queue_update(std::string(before.begin()->key()), {finished("r9")});
  auto res = m.flush_updates(now, false);
  BOOST_TEST(res.published == harvester_entries + 1);
}

BOOST_AUTO_TEST_CASE(stale_tmp_merged_at_start) {
  put("event_status.dump.json.tmp", R"({"7": [{"eventRangeID": "old", "eventStatus": "finished"}]})");
  hv::messenger m(files, opts());
  m.queue_update("7", {finished("new")});
  auto res = m.flush_updates(now, false);
  BOOST_TEST(res.published == 2u);
  auto d = read_json(path("event_status.dump.json"));
  BOOST_TEST(d.at("7").as_array()[0].at("eventRangeID").as_string() == "old");
  BOOST_TEST(!has("event_status.dump.json.tmp"));
}

BOOST_AUTO_TEST_CASE(stale_tmp_alone_is_published) {
  put("event_status.dump.json.tmp", R"({"7": [{"eventRangeID": "old", "eventStatus": "finished"}]})");
  hv::messenger m(files, opts());
  BOOST_TEST(m.flush_updates(now, true).published == 1u);
}

BOOST_AUTO_TEST_CASE(planted_dump_tmp_is_never_written_through_nor_merged) {
  // Another user of the endpoint plants the dump's fixed temporary name: a symlink to a file of ours
  // (to clobber it) — issue 13. It is not merged as leftover updates, and not written through.
  const auto victim = dir / "victim";
  put("victim", "precious\n");
  fs::create_symlink(victim, dir / "event_status.dump.json.tmp");
  hv::messenger m(files, opts());
  m.queue_update("7", {finished("r1")});
  auto res = m.flush_updates(now, false);
  BOOST_TEST(res.published == 1u);
  BOOST_TEST(*rty::file::read_all(victim.string()) == "precious\n");
  auto d = read_json(path("event_status.dump.json"));
  BOOST_TEST(d.at("7").as_array().size() == 1u);
  BOOST_TEST(!fs::is_symlink(dir / "event_status.dump.json"));
}

BOOST_AUTO_TEST_CASE(bad_stale_tmp_quarantined) {
  put("event_status.dump.json.tmp", "{broken");
  hv::messenger m(files, opts());
  m.queue_update("7", {finished("new")});
  BOOST_TEST(m.flush_updates(now, false).published == 1u);
  bool quarantined = false;
  for (auto& e : fs::directory_iterator(dir))
    quarantined |= e.path().filename().string().rfind("event_status.dump.json.tmp.corrupt.", 0) == 0;
  BOOST_TEST(quarantined);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(outputs, endpoint_fixture)

BOOST_AUTO_TEST_CASE(task_workdir_path_without_newline) {
  BOOST_TEST(hv::write_task_workdir_path(dir.string(), "/scratch/tp/41000001"));
  BOOST_TEST(*rty::file::read_all(path("task_workdir_path.txt")) == "/scratch/tp/41000001");
  // Same shape as the file Harvester's post-processing read (written by an emulation of Raythena's driver).
  auto fx = *rty::file::read_all(std::string(RTY_TEST_FIXTURES_DIR) + "/emulated/raythena-late-binding-merged/task_workdir_path.txt");
  BOOST_TEST(fx.back() != '\n');
}

BOOST_AUTO_TEST_CASE(job_report_to_endpoint_file) {
  auto report = boost::json::parse(
      *rty::file::read_all(std::string(RTY_TEST_FIXTURES_DIR) + "/emulated/raythena-late-binding-merged/jobReport.json"));
  auto other = dir / "elsewhere";
  fs::create_directories(other);
  files.job_report = (other / "jobReport.json").string();  // endpoint differs from the workdir
  BOOST_TEST(hv::write_job_report(files, report));
  BOOST_TEST(boost::json::parse(*rty::file::read_all(files.job_report)) == report);
  BOOST_TEST(!fs::exists(other / "jobReport.json.tmp"));
}

BOOST_AUTO_TEST_SUITE_END()

// The pure readers behind poll_ranges and the dump merge (also driven by tests/fuzz).
BOOST_AUTO_TEST_SUITE(pure_readers)

BOOST_AUTO_TEST_CASE(ranges_answer_from_fixture) {
  auto v = boost::json::parse(fixture("harvester-early-binding-events/JobsEventRanges.json-0"));
  auto a = hv::parse_ranges_answer(v, "6000000001", "JobsEventRanges.json", "/ap");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->present);
  BOOST_TEST(a->panda_id == "6000000001");
  BOOST_REQUIRE_EQUAL(a->ranges.size(), 3u);
  BOOST_TEST(a->ranges[0].pfn == "/ap/EVNT.40000000._000001.pool.root.1");
  BOOST_TEST(a->ranges[1].start_event == 2);
}

BOOST_AUTO_TEST_CASE(ranges_answer_takes_first_entry_without_panda_id) {
  auto v = boost::json::parse(R"({"7": []})");
  auto a = hv::parse_ranges_answer(v, "", "f", "/ap");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->present);
  BOOST_TEST(a->panda_id == "7");
  BOOST_TEST(a->ranges.empty());
  auto other = hv::parse_ranges_answer(v, "8", "f", "/ap");
  BOOST_REQUIRE(other);
  BOOST_TEST(!other->present);
}

// Found by fuzz_harvester_json: {"": []} named an empty PandaID as the job's.
BOOST_AUTO_TEST_CASE(ranges_answer_empty_key_is_no_job) {
  auto a = hv::parse_ranges_answer(boost::json::parse(R"({"": [], "9": []})"), "", "f", "/ap");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->present);
  BOOST_TEST(a->panda_id == "9");
  auto none = hv::parse_ranges_answer(boost::json::parse(R"({"": []})"), "", "f", "/ap");
  BOOST_REQUIRE(none);
  BOOST_TEST(!none->present);
  BOOST_TEST(none->panda_id.empty());
}

// Found by fuzz_harvester_json: a range with an empty eventRangeID was handed on (pilot could never
// report it back).
BOOST_AUTO_TEST_CASE(ranges_answer_refuses_empty_range_id) {
  auto a = hv::parse_ranges_answer(
      boost::json::parse(R"({"6000000001":[{"eventRangeID":"","LFN":"ET.1","startEvent":1,"lastEvent":2.0}]})"),
      "6000000001", "f", "/ap");
  BOOST_REQUIRE(!a);
  BOOST_TEST(a.error().message().find("lacks eventRangeID") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(ranges_answer_errors_name_origin_and_entry) {
  auto not_object = hv::parse_ranges_answer(boost::json::parse("[]"), "1", "f.json", "/ap");
  BOOST_REQUIRE(!not_object);
  BOOST_TEST(not_object.error().message().find("f.json: not a JSON object") == 0u);
  auto not_list = hv::parse_ranges_answer(boost::json::parse(R"({"1": {}})"), "1", "f.json", "/ap");
  BOOST_REQUIRE(!not_list);
  BOOST_TEST(not_list.error().message() == "f.json: entry for 1 is not a list");
  auto bad_range = hv::parse_ranges_answer(boost::json::parse(R"({"1": [{"eventRangeID": "x"}]})"), "1", "f.json", "/ap");
  BOOST_REQUIRE(!bad_range);
  BOOST_TEST(bad_range.error().message().find("lacks eventRangeID") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(status_dump_shape) {
  BOOST_TEST(hv::is_status_dump(boost::json::parse(fixture(
      "harvester-early-binding-events/event_status.dump.json.read.2026-11-26_00_23_38.521666"))));
  BOOST_TEST(hv::is_status_dump(boost::json::parse("{}")));
  BOOST_TEST(!hv::is_status_dump(boost::json::parse(R"({"1": {}})")));
  BOOST_TEST(!hv::is_status_dump(boost::json::parse("[]")));
}

BOOST_AUTO_TEST_SUITE_END()

// Issue 13 item 8: size caps on what Harvester writes; issue 13 item 5: names in its ranges.
BOOST_FIXTURE_TEST_SUITE(limits, endpoint_fixture)

BOOST_AUTO_TEST_CASE(oversized_job_spec_is_refused_and_left_in_place) {
  auto o = opts();
  auto text = spec_text();
  o.max_job_spec_bytes = text.size() - 1;
  hv::messenger m(files, o);
  put("HPCJobs.json", text);
  auto r = poll_until_done(m, *this);
  BOOST_REQUIRE(holds<hv::failed>(r));
  const auto& msg = std::get<hv::failed>(r).message;
  BOOST_TEST(msg.find(path("HPCJobs.json")) != std::string::npos, msg);
  BOOST_TEST(msg.find(std::to_string(text.size()) + " bytes") != std::string::npos, msg);
  BOOST_TEST(msg.find("left in place") != std::string::npos, msg);
  BOOST_TEST(has("HPCJobs.json"));  // not claimed, not quarantined
  BOOST_TEST(!has("HPCJobs.json.read"));
}

BOOST_AUTO_TEST_CASE(oversized_read_copy_is_refused_too) {
  auto o = opts();
  auto text = spec_text();
  o.max_job_spec_bytes = 100;
  put("HPCJobs.json.read", text);
  hv::messenger m(files, o);
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::failed>(r));
  BOOST_TEST(std::get<hv::failed>(r).message.find("more than the limit") != std::string::npos);
  BOOST_TEST(has("HPCJobs.json.read"));
}

BOOST_AUTO_TEST_CASE(job_spec_cap_holds_for_a_sparse_file) {
  // The size is taken before reading: a sparse 1 GB file costs nothing to refuse.
  hv::messenger m(files, opts());
  { std::ofstream(path("HPCJobs.json")); }
  fs::resize_file(path("HPCJobs.json"), std::uintmax_t(1) << 30);
  auto r = m.poll_job(now);
  BOOST_REQUIRE(holds<hv::failed>(r));
  BOOST_TEST(std::get<hv::failed>(r).message.find("1073741824 bytes") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(fifo_in_place_of_a_file_is_refused_without_blocking) {
  BOOST_REQUIRE(::mkfifo(path("q.json").c_str(), 0600) == 0);
  auto r = hv::read_capped(path("q.json"), 100, "queuedata file");
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message().find("not a regular file") != std::string::npos, r.error().message());
}

// The two kinds a caller branches on: over the cap (refused, left for an operator) and absent.
BOOST_AUTO_TEST_CASE(capped_read_tells_too_big_from_absent) {
  put("q.json", std::string(101, 'x'));
  auto big = hv::read_capped(path("q.json"), 100, "queuedata file");
  BOOST_REQUIRE(!big);
  BOOST_TEST(hv::too_big(big.error()));
  BOOST_TEST(big.error().message().find("101 bytes") != std::string::npos, big.error().message());
  auto fits = hv::read_capped(path("q.json"), 101, "queuedata file");
  BOOST_REQUIRE(fits);
  BOOST_TEST(fits->size() == 101u);
  auto absent = hv::read_capped(path("none.json"), 100, "queuedata file");
  BOOST_REQUIRE(!absent);
  BOOST_TEST(!hv::too_big(absent.error()));
  BOOST_TEST((absent.error().code() == std::errc::no_such_file_or_directory));
}

BOOST_AUTO_TEST_CASE(oversized_event_ranges_are_refused_and_left_in_place) {
  auto o = opts();
  o.max_event_ranges_bytes = 10;
  hv::messenger m(files, o);
  m.request_ranges("7", 1, "1", "2", now);
  put("JobsEventRanges.json",
      R"({"7": [{"eventRangeID": "a", "LFN": "x", "GUID": "g", "startEvent": 1, "lastEvent": 2}]})");
  auto r = m.poll_ranges(now);
  BOOST_REQUIRE(holds<hv::failed>(r));
  BOOST_TEST(std::get<hv::failed>(r).message.find(path("JobsEventRanges.json")) != std::string::npos);
  BOOST_TEST(has("JobsEventRanges.json"));
  BOOST_TEST(!has("JobsEventRanges.json-0"));
}

BOOST_AUTO_TEST_CASE(oversized_leftover_dump_is_kept_not_merged) {
  auto o = opts();
  o.max_status_dump_bytes = 10;
  hv::messenger m(files, o);
  put("event_status.dump.json.tmp", R"({"7": [{"eventRangeID": "a", "eventStatus": "finished"}]})");
  m.queue_update("7", {});
  m.flush_updates(now, true);
  bool kept = false;
  for (auto& e : fs::directory_iterator(dir))
    kept = kept || e.path().filename().string().rfind("event_status.dump.json.tmp.corrupt.", 0) == 0;
  BOOST_TEST(kept);
}

BOOST_AUTO_TEST_CASE(range_names_that_become_paths_are_checked) {
  auto bad = [](const char* range) {
    auto a = hv::parse_ranges_answer(boost::json::parse(std::string(R"({"1": [)") + range + "]}"), "1", "f.json", "/ap");
    BOOST_REQUIRE(!a);
    return a.error().message();
  };
  BOOST_TEST(bad(R"({"eventRangeID": "../x", "LFN": "a", "startEvent": 1, "lastEvent": 1})").find("eventRangeID '../x'") !=
             std::string::npos);
  BOOST_TEST(bad(R"({"eventRangeID": "r", "LFN": "../../etc/x", "startEvent": 1, "lastEvent": 1})").find("LFN") !=
             std::string::npos);
  BOOST_TEST(bad(R"({"eventRangeID": "r", "LFN": "a", "GUID": "g/h", "startEvent": 1, "lastEvent": 1})").find("GUID") !=
             std::string::npos);
  BOOST_TEST(bad(R"({"eventRangeID": "r", "PFN": "/ap/../../x", "startEvent": 1, "lastEvent": 1})").find("PFN") !=
             std::string::npos);
  auto ok = hv::parse_ranges_answer(
      boost::json::parse(R"({"1": [{"eventRangeID": "r", "LFN": "a", "PFN": "/abs/a", "startEvent": 1, "lastEvent": 1}]})"),
      "1", "f.json", "/ap");
  BOOST_TEST(ok.has_value());
}

BOOST_AUTO_TEST_SUITE_END()
