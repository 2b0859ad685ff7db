#define BOOST_TEST_MODULE harvester_config_and_spec
#include <boost/test/unit_test.hpp>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/job_spec_parser.hpp"
#include "harvester/queue_config.hpp"
#include "harvester/worker_heartbeat.hpp"

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
  BOOST_TEST(r.error().message().find("/ep/HPCJobs.json") != std::string::npos);
  return r.error().message();
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
  BOOST_TEST(f.error().message().find("eventRangesFile") != std::string::npos);
  BOOST_TEST(f.error().message().find("panda_harvester.cfg") != std::string::npos);
  auto g = hv::resolve_messenger_files(ini("[other]\nx=1\n"), "/ep");
  BOOST_REQUIRE(!g);
  BOOST_TEST(g.error().message().find("[payload_interaction]") != std::string::npos);
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
  BOOST_REQUIRE(rty::file::write_atomic(p, R"({"container_type": "singularity:pilot", "container_options": "-B /cvmfs"})"));
  auto q = hv::load_queuedata(p);
  BOOST_REQUIRE(q);
  BOOST_TEST(q->container_type == "singularity");
  BOOST_TEST(q->container_options == "-B /cvmfs");
  BOOST_REQUIRE(rty::file::write_atomic(p, "{broken"));
  auto bad = hv::load_queuedata(p);
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message().find(p) != std::string::npos);
  BOOST_TEST(!hv::load_queuedata((dir / "missing.json").string()));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(fixture_specs_parse) {
  for (auto name : {"harvester-early-binding-events/HPCJobs.json.read", "harvester-late-binding-merged/HPCJobs.json.read"}) {
    auto r = hv::parse_job_spec_text(fixture(name), name);
    BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
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
  BOOST_REQUIRE_MESSAGE(r, (r ? "" : r.error().message()));
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

// Issue 13 item 5: every job-spec name that becomes a path is checked; the error names the field and
// the value, escaped.
BOOST_AUTO_TEST_CASE(names_that_become_paths_are_checked) {
  {
    auto job = fixture_job();
    job["outFiles"] = "HITS/../../../../ESCAPED_OUTPUT,HITS.2.pool.root.1";
    auto e = error_of(spec_with(job));
    BOOST_TEST(e.find("outFiles entry 'HITS/../../../../ESCAPED_OUTPUT'") != std::string::npos, e);
    BOOST_TEST(e.find("contains '/'") != std::string::npos, e);
  }
  {
    auto job = fixture_job();
    auto in = std::string(job["inFiles"].as_string());
    job["inFiles"] = "..," + in.substr(in.find(',') + 1);
    auto e = error_of(spec_with(job));
    BOOST_TEST(e.find("inFiles entry '..'") != std::string::npos, e);
  }
  {
    auto job = fixture_job();
    auto g = std::string(job["GUID"].as_string());
    job["GUID"] = "a\nb," + g.substr(g.find(',') + 1);
    auto e = error_of(spec_with(job));
    BOOST_TEST(e.find("GUID entry 'a\\nb'") != std::string::npos, e);  // printed escaped
    BOOST_TEST(e.find('\n') == std::string::npos);
  }
  {
    auto job = fixture_job();  // the log tarball entry is checked too
    job["outFiles"] = std::string(job["outFiles"].as_string()) + ",../log.tgz";
    BOOST_TEST(error_of(spec_with(job)).find("outFiles entry '../log.tgz'") != std::string::npos);
  }
  {
    auto job = fixture_job();  // ".." inside a name is one harmless component
    auto in = std::string(job["inFiles"].as_string());
    job["inFiles"] = "EVNT..1," + in.substr(in.find(',') + 1);
    BOOST_TEST(hv::parse_job_spec_text(spec_with(job), "s").has_value());
  }
}

// ---- the queue config's messenger section, and the cgi job spec

namespace {

struct temp_tree {
  fs::path root;
  temp_tree() {
    std::string pattern = (fs::temp_directory_path() / "rty-qconf-XXXXXX").string();
    root = ::mkdtemp(pattern.data());
  }
  ~temp_tree() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  std::string write(const std::string& rel, const std::string& text) {
    auto p = root / rel;
    fs::create_directories(p.parent_path());
    BOOST_REQUIRE(rty::file::write_atomic(p.string(), text));
    return p.string();
  }
};

// As a site writes it: a template with the shared-file messenger, and the queue naming it and
// overriding two file names (Harvester: queue_config_mapper.py merges the queue's messenger keys
// over the template's).
const char* queue_config_json = R"({
  "ES_TEMPLATE": {
    "isTemplateQueue": true,
    "messenger": {"name": "SharedFileMessenger",
                  "module": "pandaharvester.harvestermessenger.shared_file_messenger",
                  "jobSpecFileName": "template_spec.json", "jobSpecFileFormat": "cgi", "worker_heartbeat": 30},
    "common": {"stripJobParams": true}
  },
  "NERSC_ES": {
    "templateQueueName": "ES_TEMPLATE",
    "messenger": {"jobSpecFileName": "my_job.cgi", "jsonEventsFeedFileName": "my_ranges.json"}
  },
  "OTHER": {"messenger": {"jobSpecFileFormat": "xml"}}
})";

}  // namespace

BOOST_AUTO_TEST_CASE(queue_config_overrides_file_names_with_its_template) {
  temp_tree t;
  std::string qconf = t.write("etc/panda/panda_queueconfig.json", queue_config_json);
  std::string cfg = std::string(full_cfg) + "[qconf]\nconfigFile = panda_queueconfig.json\n";
  auto r = hv::resolve_messenger(ini(cfg), "/ep", "NERSC_ES", t.root.string());
  BOOST_REQUIRE_MESSAGE(r, (r ? std::string() : r.error().message()));
  BOOST_REQUIRE(r->queue);
  BOOST_TEST(r->queue->config_file == qconf);  // $PANDA_HOME/etc/panda/<relative name>
  BOOST_TEST(r->queue->template_name == "ES_TEMPLATE");
  BOOST_TEST(r->files.job_spec == "/ep/my_job.cgi");  // the queue's value over the template's
  BOOST_TEST(r->files.event_ranges == "/ep/my_ranges.json");
  BOOST_TEST(r->files.event_request == "/ep/worker_requestevents.json");  // not overridden
  BOOST_TEST(r->files.job_report == "/abs/jobReport.json");
  BOOST_TEST(r->files.heartbeat == "/ep/worker_heartbeat.json");  // Harvester's default
  BOOST_TEST((r->files.spec_format == hv::job_spec_format::cgi));
  BOOST_TEST(r->queue->strip_job_params);  // from "common"
  BOOST_TEST(*r->queue->worker_heartbeat_minutes == 30);
  BOOST_TEST(hv::describe(*r->queue) ==
             "queue NERSC_ES in " + qconf + " (template ES_TEMPLATE): eventRangesFile=my_ranges.json, "
             "jobSpecFile=my_job.cgi, jobSpecFileFormat=cgi, stripJobParams=true, worker_heartbeat=30 min");
}

BOOST_AUTO_TEST_CASE(queue_config_absent_queue_or_key_keeps_payload_interaction) {
  temp_tree t;
  std::string qconf = t.write("q.json", queue_config_json);
  auto none = hv::resolve_messenger(ini(full_cfg), "/ep", "NERSC_ES", "");
  BOOST_REQUIRE(none);
  BOOST_TEST(!none->queue);
  BOOST_TEST(none->queue_note.find("no [qconf] configFile") != std::string::npos);
  std::string cfg = std::string(full_cfg) + "[qconf]\nconfigFile = " + qconf + "\n";
  auto other = hv::resolve_messenger(ini(cfg), "/ep", "UNKNOWN_Q", "");
  BOOST_REQUIRE(other);
  BOOST_TEST(!other->queue);
  BOOST_TEST(other->files.job_spec == "/ep/HPCJobs.json");
  BOOST_TEST(other->queue_note.find("has no queue 'UNKNOWN_Q'") != std::string::npos);
  // A bad value is an error naming the file, the queue, the key and the value.
  auto bad = hv::resolve_messenger(ini(cfg), "/ep", "OTHER", "");
  BOOST_REQUIRE(!bad);
  BOOST_TEST(bad.error().message() == qconf + ": queue OTHER: messenger.jobSpecFileFormat: expected \"json\" or \"cgi\", found \"xml\"");
  std::string odd = t.write("odd.json", R"({"Q": {"messenger": {"jsonEventsFeedFileName": 7}}, "R": {"templateQueueName": "X"}})");
  std::string cfg2 = std::string(full_cfg) + "[qconf]\nconfigFile = " + odd + "\n";
  auto seven = hv::resolve_messenger(ini(cfg2), "/ep", "Q", "");
  BOOST_REQUIRE(!seven);
  BOOST_TEST(seven.error().message().find("messenger.jsonEventsFeedFileName: expected a file name string, found 7") != std::string::npos);
  auto no_template = hv::resolve_messenger(ini(cfg2), "/ep", "R", "");
  BOOST_REQUIRE(!no_template);
  BOOST_TEST(no_template.error().message().find("templateQueueName 'X' is not a queue of this file") != std::string::npos);
  std::string missing = std::string(full_cfg) + "[qconf]\nconfigFile = " + (t.root / "nope.json").string() + "\n";
  auto gone = hv::resolve_messenger(ini(missing), "/ep", "Q", "");
  BOOST_REQUIRE(!gone);
  BOOST_TEST(gone.error().message().find("nope.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(cgi_spec_in_harvesters_exact_format_parses_like_the_json_one) {
  // tests/harvester/fixtures/HPCJobs.cgi is Python's urlencode(jobParams) of the upstream fixture's job,
  // what feed_jobs writes for jobSpecFileFormat "cgi" (esmergeSpec, a dict, is its Python repr).
  auto cgi = rty::file::read_all(std::string(RTY_SOURCE_DIR) + "/tests/harvester/fixtures/HPCJobs.cgi");
  BOOST_REQUIRE(cgi);
  BOOST_TEST(cgi->find("esmergeSpec=%7B%27transPath%27") != std::string::npos);
  auto from_cgi = hv::parse_job_spec_cgi_text(*cgi, "/ep/HPCJobs.json");
  BOOST_REQUIRE_MESSAGE(from_cgi, (from_cgi ? std::string() : from_cgi.error().message()));
  auto from_json = hv::parse_job_spec_text(fixture("harvester-early-binding-events/HPCJobs.json.read"), "x");
  BOOST_REQUIRE(from_json);
  BOOST_TEST(from_cgi->panda_id == from_json->panda_id);
  BOOST_TEST(from_cgi->task_id == from_json->task_id);
  BOOST_TEST(from_cgi->job_pars == from_json->job_pars);
  BOOST_TEST(from_cgi->in_files.size() == from_json->in_files.size());
  BOOST_TEST(from_cgi->events_per_input == from_json->events_per_input);
  BOOST_TEST(from_cgi->merge_trans_path == from_json->merge_trans_path);
  BOOST_TEST(from_cgi->merge_job_parameters == from_json->merge_job_parameters);
  BOOST_TEST(from_cgi->events_per_output == from_json->events_per_output);
  BOOST_TEST(from_cgi->core_count == from_json->core_count);
  BOOST_TEST(from_cgi->scope_in == from_json->scope_in);
  // stripJobParams drops the dataset and scope fields: still a valid job.
  auto stripped = rty::file::read_all(std::string(RTY_SOURCE_DIR) + "/tests/harvester/fixtures/HPCJobs.stripped.cgi");
  BOOST_REQUIRE(stripped);
  BOOST_TEST(stripped->find("scopeIn=") == std::string::npos);
  auto s = hv::parse_job_spec_cgi_text(*stripped, "/ep/HPCJobs.json");
  BOOST_REQUIRE_MESSAGE(s, (s ? std::string() : s.error().message()));
  BOOST_TEST(s->scope_in.empty());
}

BOOST_AUTO_TEST_CASE(cgi_spec_details_and_errors) {
  auto v = hv::cgi_job_spec_to_json("PandaID=7&a=x+y%2Fz&n=None&l=%5B1%2C+%27it%5C%27s%27%2C+None%2C+True%5D&d=%7Bnot", "f");
  BOOST_REQUIRE(v);
  const auto& job = v->as_object().at("7").as_object();
  BOOST_TEST(job.at("a").as_string() == "x y/z");
  BOOST_TEST(job.at("n").is_null());
  BOOST_TEST(boost::json::serialize(job.at("l")) == R"([1,"it's",null,true])");
  BOOST_TEST(job.at("d").as_string() == "{not");  // not a Python literal: kept as text
  auto err = [](std::string_view text) {
    auto r = hv::cgi_job_spec_to_json(text, "/ep/spec");
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message().find("/ep/spec") == 0u);
    return r.error().message();
  };
  BOOST_TEST(err("PandaID=7&a=%G1").find("pair 2 'a=%G1' has a bad %-escape") != std::string::npos);
  BOOST_TEST(err("PandaID=7&flag").find("pair 2 'flag' has no '='") != std::string::npos);
  BOOST_TEST(err("PandaID=7&PandaID=8").find("key 'PandaID' is given twice") != std::string::npos);
  BOOST_TEST(err("a=1").find("has no PandaID") != std::string::npos);
  BOOST_TEST(err("").find("empty") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(worker_heartbeat_plan_and_body) {
  using namespace std::chrono_literals;
  BOOST_TEST(hv::plan_heartbeat(std::nullopt, 60s).every.count() == 0);  // the queue asks for none
  BOOST_TEST(hv::plan_heartbeat(0, 60s).every.count() == 0);             // Harvester: 0 is off
  auto ok = hv::plan_heartbeat(30, 60s);
  BOOST_TEST(ok.every.count() == 60);
  BOOST_TEST(ok.note.empty());
  auto shortened = hv::plan_heartbeat(1, 60s);  // three writes per minute at least
  BOOST_TEST(shortened.every.count() == 20);
  BOOST_TEST(shortened.note.find("harvester.heartbeatinterval 60 s is too long") != std::string::npos);
  hv::heartbeat_state s;
  s.now = std::chrono::system_clock::from_time_t(1796187673);
  s.state = "running";
  s.panda_id = "6000000001";
  s.ranges_done = 10;
  s.ranges_total = 200;
  BOOST_TEST(hv::heartbeat_body(s) ==
             R"({"time":"2026-12-02T05:01:13Z","unixtime":1796187673,"state":"running","PandaID":"6000000001",)"
             R"("ranges_done":10,"ranges_total":200})" "\n");
}
