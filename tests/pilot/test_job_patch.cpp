#include <boost/test/unit_test.hpp>

#include "common/json_util.hpp"
#include "pilot/job_patch.hpp"

#include <boost/json.hpp>

#include <random>
#include <regex>
#include <vector>

#include "common/file_util.hpp"

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
  const auto harvester =
      rty::json::read_file(std::string(RTY_FIXTURES_DIR) + "/harvester-early-binding-events/HPCJobs.json.read");
  BOOST_TEST_REQUIRE(harvester.has_value(), harvester.error());
  const auto& job = harvester->as_object().at("6000000001").as_object();
  const auto wire = rty::json::read_file(std::string(RTY_FIXTURES_DIR) + "/pilot3-3.11.5.1-wire.json");
  BOOST_TEST_REQUIRE(wire.has_value(), wire.error());
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

namespace {
// Raythena's edits as regular expressions (what job_patch.cpp did before it scanned by hand): the
// reference the scanner must agree with on short command lines, where std::regex is safe.
std::string regex_reference(std::string cmd, const std::string& endpoint, int job_number, std::int64_t events) {
  auto first_of = [](const std::string& list) { return list.substr(0, list.find(',')); };
  if (cmd.rfind("--eventService=True ", 0) != 0) cmd = "--eventService=True " + cmd;
  static const std::regex input_re(R"(--inputEVNTFile=([A-Za-z0-9_.,]*) -)");
  if (std::distance(std::sregex_iterator(cmd.begin(), cmd.end(), input_re), std::sregex_iterator()) != 1) return cmd;
  std::smatch m;
  std::regex_search(cmd, m, input_re);
  cmd = m.prefix().str() + "--inputEVNTFile=" + rty::file::join(endpoint, first_of(m[1].str())) + " -" +
        m.suffix().str();
  static const std::regex hits_re(R"(--outputHITSFile=([0-9A-Z._]+)\[([0-9,]+)\](.pool.root))");
  if (std::regex_search(cmd, m, hits_re)) {
    std::string replacement = "--outputHITSFile=" + m[1].str() + first_of(m[2].str()) + m[3].str(), escaped;
    for (char c : replacement) escaped += c == '$' ? std::string("$$") : std::string(1, c);
    cmd = std::regex_replace(cmd, hits_re, escaped);
  }
  if (cmd.find("--jobNumber=") != std::string::npos)
    cmd = std::regex_replace(cmd, std::regex("--jobNumber=[0-9]+"), "--jobNumber=" + std::to_string(job_number));
  else
    cmd += " --jobNumber=" + std::to_string(job_number) + " ";
  const auto max_events = std::to_string(std::min<std::int64_t>(500, events));
  if (cmd.find("--maxEvents=") != std::string::npos)
    cmd = std::regex_replace(cmd, std::regex("--maxEvents=[0-9]+"), "--maxEvents=" + max_events);
  else
    cmd += " --maxEvents=" + max_events + " ";
  return cmd;
}
}  // namespace

BOOST_AUTO_TEST_CASE(agrees_with_raythenas_regular_expressions_on_random_command_lines) {
  // Well-formed parts of a jobPars line, each sometimes broken, in random order and number, with pieces
  // that make near misses: the patterns' whole grammar and its edges.
  std::mt19937 rng(20261126);
  auto pick = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  const std::vector<std::string> names{"EVNT.X._000001.pool.root.1", "EVNT.Y._2", "e_v.3", "EVNT-bad", "A$1"};
  const std::vector<std::string> tails{".pool.root.1", ".pool.root", "xpoolyroot", ".poolroot", "\npool\nroot",
                                       ".pool.roo"};
  const std::vector<std::string> noise{" ", "-", " -", "--jobNumber=", "--jobNumber=12", "--maxEvents=",
                                       "--maxEvents=-1", "--maxEvents=77", "$1", "\n", "[", "]", "a", "9",
                                       "--inputEVNTFile=", "--outputHITSFile="};
  auto input_part = [&] {
    std::string list;
    for (int k = 1 + static_cast<int>(rng() % 3); k > 0; --k) list += (list.empty() ? "" : ",") + pick(names);
    return "--inputEVNTFile=" + list + (chance(85) ? " -" : pick(noise));
  };
  auto hits_part = [&] {
    std::string numbers = chance(80) ? "000001" : "";
    for (int k = static_cast<int>(rng() % 3); k > 0; --k) numbers += ",00000" + std::to_string(2 + k);
    return "-outputHITSFile=" + std::string(chance(90) ? "HITS.Y._" : "hits") + "[" + numbers +
           (chance(90) ? "]" : "") + pick(tails) + " ";
  };
  int edited = 0, hits_edited = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string cmd;
    const int n = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < n; ++k) {
      const auto r = rng() % 10;
      cmd += r < 3 ? input_part() : r < 6 ? "-" + hits_part() : pick(noise);
    }
    json::object job{{"jobPars", cmd}};
    const auto got = pars(patch_job_for_node(job, "/hv", 1, 3, 2, 9));
    const auto want = regex_reference(cmd, "/hv", 5, 9);
    BOOST_TEST_REQUIRE(got == want, "jobPars '" << cmd << "'");
    edited += got.find("--jobNumber=5") != std::string::npos;
    hits_edited += got.find("HITS.Y._000001") != std::string::npos;  // only an edit writes it without '['

  }
  // The random lines must exercise the edits, not only the "no single match" path.
  BOOST_TEST(edited > 2000);
  BOOST_TEST(hits_edited > 20);
  BOOST_TEST_MESSAGE(edited << " of 20000 lines edited, " << hits_edited << " with a HITS list");
}

BOOST_AUTO_TEST_CASE(a_job_with_thousands_of_inputs_and_outputs) {
  // std::regex recursed once per character of the input list here and overflowed the stack.
  std::string inputs, numbers;
  for (int i = 1; i <= 20000; ++i) {
    inputs += (i > 1 ? "," : "") + std::string("EVNT.12345678._") + std::to_string(100000 + i) + ".pool.root.1";
    numbers += (i > 1 ? "," : "") + std::to_string(100000 + i);
  }
  json::object job{{"jobPars", "--inputEVNTFile=" + inputs + " --outputHITSFile=HITS.9._[" + numbers +
                                   "].pool.root.1 --maxEvents=1000"}};
  const auto out = pars(patch_job_for_node(job, "/hv", 0, 1, 1, 50));
  BOOST_TEST(out == "--eventService=True --inputEVNTFile=/hv/EVNT.12345678._100001.pool.root.1 "
                    "--outputHITSFile=HITS.9._100001.pool.root.1 --maxEvents=50 --jobNumber=1 ");
}
