#define BOOST_TEST_MODULE harvester_config_and_spec
#include <boost/test/unit_test.hpp>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/job_spec_parser.hpp"

#include <boost/json.hpp>

#include <cstdlib>
#include <filesystem>

namespace hv = rty::harvester;
namespace fs = std::filesystem;

namespace {

const char* full_cfg =
    "[payload_interaction]\n"
    "jobRequestFile = worker_requestjob.json\n"
    "jobSpecFile = HPCJobs.json\n"
    "xmlPoolCatalogFile = PoolFileCatalog_H.xml\n"
    "pandaIDsFile = worker_pandaids.json\n"
    "eventRequestFile = worker_requestevents.json\n"
    "eventRangesFile = JobsEventRanges.json\n"
    "eventStatusDumpJsonFile = event_status.dump.json\n"
    "updateEventsFile = worker_updateevents.json\n"
    "jobReportFile = /abs/jobReport.json\n";

hv::ini_file ini(std::string_view text) {
  auto r = hv::ini_file::parse(text, "panda_harvester.cfg");
  BOOST_REQUIRE(r);
  return *r;
}

std::string fixture(const std::string& rel) {
  auto t = rty::file::read_all(std::string(RTY_FIXTURES_DIR) + "/" + rel);
  BOOST_REQUIRE(t);
  return *t;
}

boost::json::object fixture_job() {
  auto v = boost::json::parse(fixture("harvester-early-binding-events/HPCJobs.json.read"));
  return v.as_object().begin()->value().as_object();
}

std::string spec_with(const boost::json::object& job) {
  boost::json::object m;
  m[std::to_string(job.at("PandaID").as_int64())] = job;
  return boost::json::serialize(m);
}

std::string error_of(std::string_view text) {
  auto r = hv::parse_job_spec_text(text, "/ep/HPCJobs.json");
  BOOST_REQUIRE(!r);
  BOOST_TEST_MESSAGE(r.error());
  BOOST_TEST(r.error().find("/ep/HPCJobs.json") != std::string::npos);
  return r.error();
}

}  // namespace

BOOST_AUTO_TEST_CASE(messenger_files_joined_to_endpoint) {
  auto f = hv::resolve_messenger_files(ini(full_cfg), "/ep/1");
  BOOST_REQUIRE(f);
  BOOST_TEST(f->job_request == "/ep/1/worker_requestjob.json");
  BOOST_TEST(f->job_spec == "/ep/1/HPCJobs.json");
  BOOST_TEST(f->event_request == "/ep/1/worker_requestevents.json");
  BOOST_TEST(f->event_ranges == "/ep/1/JobsEventRanges.json");
  BOOST_TEST(f->event_status_dump == "/ep/1/event_status.dump.json");
  BOOST_TEST(f->job_report == "/abs/jobReport.json");  // absolute stays absolute
  BOOST_TEST(f->pandaids == "/ep/1/worker_pandaids.json");
  BOOST_TEST(f->pool_catalog == "/ep/1/PoolFileCatalog_H.xml");
  BOOST_TEST(f->update_events == "/ep/1/worker_updateevents.json");
}

BOOST_AUTO_TEST_CASE(messenger_files_harvester_default_for_job_spec) {
  std::string cfg = full_cfg;
  cfg.replace(cfg.find("jobSpecFile = HPCJobs.json\n"), 27, "");
  auto f = hv::resolve_messenger_files(ini(cfg), "/ep");
  BOOST_REQUIRE(f);
  BOOST_TEST(f->job_spec == "/ep/pandaJobData.out");
}

BOOST_AUTO_TEST_CASE(messenger_files_missing_key_or_section) {
  std::string cfg = full_cfg;
  cfg.replace(cfg.find("eventRangesFile"), 15, "someOtherKey");
  auto f = hv::resolve_messenger_files(ini(cfg), "/ep");
  BOOST_REQUIRE(!f);
  BOOST_TEST(f.error().find("eventRangesFile") != std::string::npos);
  BOOST_TEST(f.error().find("panda_harvester.cfg") != std::string::npos);
  auto g = hv::resolve_messenger_files(ini("[other]\nx=1\n"), "/ep");
  BOOST_REQUIRE(!g);
  BOOST_TEST(g.error().find("[payload_interaction]") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(messenger_files_env_values) {
  ::setenv("RTY_TEST_SPEC_NAME", "fromenv.json", 1);
  std::string cfg = full_cfg;
  cfg.replace(cfg.find("HPCJobs.json"), 12, "$RTY_TEST_SPEC_NAME");
  auto f = hv::resolve_messenger_files(ini(cfg), "/ep");
  BOOST_REQUIRE(f);
  BOOST_TEST(f->job_spec == "/ep/fromenv.json");
}

BOOST_AUTO_TEST_CASE(queuedata_line_selection) {
  auto i = ini(
      "[cacher]\ndata =\n  main|OTHER_Q|http://x|/c/other.json\n  NERSC_Q|queues|http://y|/c/nersc.json\n"
      "  NERSC_Q|again|http://z|/c/second.json\n");
  BOOST_TEST(*hv::queuedata_path(i, "NERSC_Q") == "/c/nersc.json");
  BOOST_TEST(!hv::queuedata_path(i, "MISSING_Q"));
  BOOST_TEST(!hv::queuedata_path(ini("[x]\na=1\n"), "NERSC_Q"));
}

BOOST_AUTO_TEST_CASE(queuedata_file) {
  auto dir = fs::temp_directory_path() / ("rty_qd_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto p = (dir / "q.json").string();
  BOOST_REQUIRE(!rty::file::write_atomic(p, R"({"container_type": "singularity:pilot", "container_options": "-B /cvmfs"})"));
  auto q = hv::load_queuedata(p);
  BOOST_REQUIRE(q);
  BOOST_TEST(q->container_type == "singularity");
  BOOST_TEST(q->container_options == "-B /cvmfs");
  BOOST_REQUIRE(!rty::file::write_atomic(p, "{broken"));
  auto bad = hv::load_queuedata(p);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().find(p) != std::string::npos);
  BOOST_TEST(!hv::load_queuedata((dir / "missing.json").string()));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(fixture_specs_parse) {
  for (auto name : {"harvester-early-binding-events/HPCJobs.json.read", "harvester-late-binding-merged/HPCJobs.json.read"}) {
    auto r = hv::parse_job_spec_text(fixture(name), name);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error()));
    const auto& j = *r;
    BOOST_TEST(j.panda_id == "6000000001");
    BOOST_TEST(j.task_id == "40000001");
    BOOST_TEST(j.jobset_id == "6000000000");
    BOOST_TEST(j.attempt_nr == 1);
    BOOST_TEST(j.in_files.size() == 2u);
    BOOST_TEST(j.in_files[0] == "EVNT.40000000._000001.pool.root.1");
    BOOST_TEST(j.guids[1] == "00000000-0262-5A01-0000-000000000002");
    BOOST_TEST(j.scope_in == "mc23_13p6TeV");
    BOOST_TEST(j.events_per_input == j.events_per_output);
    BOOST_TEST(j.merge_trans_path == "HITSMerge_tf.py");
    BOOST_TEST(j.merge_job_parameters.find("@inputFor_${OUTPUT0}") != std::string::npos);
    BOOST_TEST(j.output_files.size() == 2u);  // log file excluded
    BOOST_TEST(j.output_files[1] == "HITS.40000001._000002.pool.root.1");
    BOOST_TEST(j.sw_release == "Atlas-23.0.1");
    BOOST_TEST(j.release == "23.0.1");
    BOOST_TEST(j.platform == "x86_64-el9-gcc13-opt");  // container_name "" falls back to cmtConfig
    BOOST_TEST(j.prod_source_label == "managed");
    BOOST_TEST(j.core_count == 8);
    BOOST_TEST(j.job_pars.rfind("--eventService=True --inputEVNTFile=", 0) == 0u);
    BOOST_TEST(j.raw.at("jobPars").as_string() == j.job_pars);
    BOOST_TEST(j.raw.at("eventService").as_string() == "true");
    BOOST_TEST(j.raw.at("jobName").is_string());  // everything else passed through to pilot
  }
}

BOOST_AUTO_TEST_CASE(patch_is_idempotent_and_platform_rules) {
  auto job = fixture_job();
  job["jobPars"] = "--eventService=True --x";
  job["container_name"] = "docker://img";
  job["eventService"] = "false";
  auto r = hv::parse_job_spec_text(spec_with(job), "s");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->job_pars == "--eventService=True --x");
  BOOST_TEST(r->platform == "docker://img");
  BOOST_TEST(r->raw.at("eventService").as_string() == "true");
  job.erase("container_name");
  job.erase("cmtConfig");
  r = hv::parse_job_spec_text(spec_with(job), "s");
  BOOST_REQUIRE(r);
  BOOST_TEST(r->platform == "x86_64-el9-gcc13-opt");
  BOOST_TEST(r->raw.at("cmtConfig").as_string() == "x86_64-el9-gcc13-opt");
}

BOOST_AUTO_TEST_CASE(numeric_strings_and_merge_spec_as_string) {
  auto job = fixture_job();
  job["taskID"] = "40000001";
  job["nEventsPerInputFile"] = "4";
  job["attemptNr"] = "2";
  job["esmergeSpec"] = boost::json::serialize(job["esmergeSpec"]);
  auto r = hv::parse_job_spec_text(spec_with(job), "s");
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error()));
  BOOST_TEST(r->task_id == "40000001");
  BOOST_TEST(r->events_per_input == 4);
  BOOST_TEST(r->attempt_nr == 2);
  BOOST_TEST(r->events_per_output == 4);
}

BOOST_AUTO_TEST_CASE(release_tokens) {
  BOOST_TEST(hv::release_from_sw_release("Atlas-22.0.8") == "22.0.8");
  BOOST_TEST(hv::release_from_sw_release("AtlasOffline-21.0.15") == "21.0.15");
  BOOST_TEST(hv::release_from_sw_release("Atlas-Athena-23.0.1") == "23.0.1");
  BOOST_TEST(hv::release_from_sw_release("23.0.1") == "23.0.1");
}

BOOST_AUTO_TEST_CASE(broken_specs) {
  auto text = fixture("harvester-early-binding-events/HPCJobs.json.read");
  error_of(text.substr(0, text.size() / 2));  // truncated (half-written)
  error_of("");
  BOOST_TEST(error_of("{}").find("found 0") != std::string::npos);
  BOOST_TEST(error_of("[]").find("object") != std::string::npos);
  {
    auto job = fixture_job();
    boost::json::object m{{"6000000001", job}, {"6000000002", job}};
    BOOST_TEST(error_of(boost::json::serialize(m)).find("found 2") != std::string::npos);
  }
  for (auto key : {"PandaID", "taskID", "jobsetID", "attemptNr", "inFiles", "GUID", "nEventsPerInputFile", "esmergeSpec",
                   "outFiles", "jobPars", "swRelease"}) {
    auto job = fixture_job();
    job.erase(key);
    boost::json::object m{{"6000000001", job}};
    BOOST_TEST(error_of(boost::json::serialize(m)).find(key) != std::string::npos);
  }
  for (auto key : {"transPath", "jobParameters", "nEventsPerOutputFile"}) {
    auto job = fixture_job();
    job["esmergeSpec"].as_object().erase(key);
    BOOST_TEST(error_of(spec_with(job)).find(key) != std::string::npos);
  }
  {
    auto job = fixture_job();
    job["GUID"] = "only-one";
    BOOST_TEST(error_of(spec_with(job)).find("GUID has 1") != std::string::npos);
  }
  {
    auto job = fixture_job();
    job["nEventsPerInputFile"] = 3;  // 3 vs 4: neither divides
    BOOST_TEST(error_of(spec_with(job)).find("divide") != std::string::npos);
  }
  {
    auto job = fixture_job();
    job["nEventsPerInputFile"] = "four";
    BOOST_TEST(error_of(spec_with(job)).find("nEventsPerInputFile") != std::string::npos);
  }
  {
    auto job = fixture_job();
    job["nEventsPerInputFile"] = 0;
    BOOST_TEST(error_of(spec_with(job)).find("positive") != std::string::npos);
  }
  {
    auto job = fixture_job();
    job["esmergeSpec"] = "{not json";
    BOOST_TEST(error_of(spec_with(job)).find("esmergeSpec") != std::string::npos);
  }
  {
    auto job = fixture_job();
    boost::json::object m{{"123", job}};  // key differs from PandaID
    BOOST_TEST(error_of(boost::json::serialize(m)).find("differs") != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(output_count_checks) {
  auto job = fixture_job();  // 2 inputs, E=4
  // 1→N: H=2 needs 2*4/2 = 4 outputs, only 2 present.
  job["esmergeSpec"].as_object()["nEventsPerOutputFile"] = 2;
  BOOST_TEST(error_of(spec_with(job)).find("need 4") != std::string::npos);
  job["outFiles"] = "HITS.1,HITS.2,HITS.3,HITS.4,log.1";
  BOOST_TEST(hv::parse_job_spec_text(spec_with(job), "s").has_value());
  // N→1: H=8 → 2 inputs per output, 1 output needed.
  job["esmergeSpec"].as_object()["nEventsPerOutputFile"] = 8;
  job["outFiles"] = "log.1";
  BOOST_TEST(error_of(spec_with(job)).find("need 1") != std::string::npos);
  job["outFiles"] = "HITS.1,log.1";
  BOOST_TEST(hv::parse_job_spec_text(spec_with(job), "s").has_value());
}
