#include <boost/test/unit_test.hpp>

#include "common/json_util.hpp"
#include "pilot/job_patch.hpp"

#include <boost/json.hpp>

using namespace rty::pilot;
namespace json = boost::json;

namespace {
std::string pars(const json::object& job) { return std::string(job.at("jobPars").as_string()); }
}  // namespace

BOOST_AUTO_TEST_CASE(spec_section_5_worked_example) {
  json::object job{{"PandaID", "6000000001"},
                   {"coreCount", 2},
                   {"attemptNr", 1},
                   {"nEventsPerInputFile", 4},
                   {"jobPars",
                    "--inputEVNTFile=EVNT.X._000001.pool.root.1,EVNT.X._000002.pool.root.1 "
                    "--outputHITSFile=HITS.Y._[000001,000002].pool.root.1"}};
  const auto out = patch_job_for_node(job, "/hv", 0, 1, 1, 4);
  BOOST_TEST(pars(out) ==
             "--eventService=True --inputEVNTFile=/hv/EVNT.X._000001.pool.root.1 "
             "--outputHITSFile=HITS.Y._000001.pool.root.1 --jobNumber=1  --maxEvents=4 ");
  BOOST_TEST(out.at("eventService").as_string() == "true");
  BOOST_TEST(out.at("PandaID").as_string() == "6000000001");
  BOOST_TEST(job.at("jobPars").as_string().starts_with("--inputEVNTFile"));  // input untouched
}

BOOST_AUTO_TEST_CASE(harvester_fixture_job_becomes_what_pilot_received) {
  std::string what;
  const auto harvester = rty::json::read_file(
      std::string(RTY_FIXTURES_DIR) + "/harvester-early-binding-events/HPCJobs.json.read", &what);
  BOOST_TEST_REQUIRE(harvester.has_value(), what);
  const auto& job = harvester->as_object().at("6000000001").as_object();
  const auto wire = rty::json::read_file(std::string(RTY_FIXTURES_DIR) + "/pilot3-3.11.5.1-wire.json", &what);
  BOOST_TEST_REQUIRE(wire.has_value(), what);
  const auto& served = wire->at("exchanges").at(3).at("reply_body").as_object();
  const auto out = patch_job_for_node(job, "/scratch/nodeAxxxxxxxxxxxxxxxxx/endpoint", 0, 1, 1, 4);
  BOOST_TEST(pars(out) == std::string(served.at("jobPars").as_string()));
}

BOOST_AUTO_TEST_CASE(job_number_and_max_events) {
  json::object job{{"jobPars", "--inputEVNTFile=A.1,B.1 --jobNumber=7 --maxEvents=1000 --x"}};
  // attempt 3, node 2 of 4: (3-1)*4 + 2 + 1 = 11; maxEvents capped at 500.
  BOOST_TEST(pars(patch_job_for_node(job, "/e/", 2, 4, 3, 2000)) ==
             "--eventService=True --inputEVNTFile=/e/A.1 --jobNumber=11 --maxEvents=500 --x");
  // attempt 0 counts like 1.
  BOOST_TEST(pars(patch_job_for_node(job, "/e", 1, 4, 0, 10)) ==
             "--eventService=True --inputEVNTFile=/e/A.1 --jobNumber=2 --maxEvents=10 --x");
  // --maxEvents=-1 has no digits after '=' and stays.
  json::object minus{{"jobPars", "--inputEVNTFile=A.1 --maxEvents=-1"}};
  BOOST_TEST(pars(patch_job_for_node(minus, "/e", 0, 1, 1, 50)) ==
             "--eventService=True --inputEVNTFile=/e/A.1 --maxEvents=-1 --jobNumber=1 ");
  // Unknown events per input: no maxEvents edit.
  BOOST_TEST(pars(patch_job_for_node(minus, "/e", 0, 1, 1, 0)).find("--maxEvents=-1 --jobNumber=1 ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_edits_without_a_single_match) {
  // Twice: ambiguous, untouched apart from the eventService prefix.
  const std::string twice = "--inputEVNTFile=A.1 -x --inputEVNTFile=B.1 -y --outputHITSFile=H._[1,2].pool.root --jobNumber=3";
  BOOST_TEST(pars(patch_job_for_node(json::object{{"jobPars", twice}}, "/e", 0, 1, 1, 4)) == "--eventService=True " + twice);
  // Not followed by " -": no match.
  const std::string last = "--maxEvents=4 --inputEVNTFile=A.1";
  BOOST_TEST(pars(patch_job_for_node(json::object{{"jobPars", last}}, "/e", 0, 1, 1, 4)) == "--eventService=True " + last);
  // Space-separated form: no match.
  const std::string spaced = "--inputEVNTFile A.1 --maxEvents=4";
  BOOST_TEST(pars(patch_job_for_node(json::object{{"jobPars", spaced}}, "/e", 0, 1, 1, 4)) == "--eventService=True " + spaced);
  // No jobPars: only eventService.
  const auto bare = patch_job_for_node(json::object{{"PandaID", "1"}}, "/e", 0, 1, 1, 4);
  BOOST_TEST(!bare.contains("jobPars"));
  BOOST_TEST(bare.at("eventService").as_string() == "true");
  // Prefix not doubled.
  const std::string already = "--eventService=True --x";
  BOOST_TEST(pars(patch_job_for_node(json::object{{"jobPars", already}}, "/e", 0, 1, 1, 4)) == already);
}

BOOST_AUTO_TEST_CASE(matches_do_not_overlap_like_python_findall) {
  // The first match swallows the "-" of the second flag, so Python's findall sees one match.
  const std::string adjacent = "--inputEVNTFile=A.1 --inputEVNTFile=B.1 --x";
  BOOST_TEST(pars(patch_job_for_node(json::object{{"jobPars", adjacent}}, "/e", 0, 1, 1, 4)) ==
             "--eventService=True --inputEVNTFile=/e/A.1 --inputEVNTFile=B.1 --x --jobNumber=1  --maxEvents=4 ");
}

BOOST_AUTO_TEST_CASE(absolute_lfn_and_relative_endpoint) {
  json::object job{{"jobPars", "--inputEVNTFile=EVNT.1 --outputHITSFile=HITS.1"}};
  BOOST_TEST(pars(patch_job_for_node(job, ".", 0, 1, 1, 4)).find("--inputEVNTFile=./EVNT.1 -") != std::string::npos);
  // outputHITSFile without a bracket list is left alone.
  BOOST_TEST(pars(patch_job_for_node(job, ".", 0, 1, 1, 4)).find("--outputHITSFile=HITS.1 ") != std::string::npos);
}
