#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include "common/json_util.hpp"
#include "merge/merge_report.hpp"
#include "test_support.hpp"

namespace bj = boost::json;
using namespace merge_test;

namespace {
// A merge report in HITSMerge_tf's shape (tests/fakes/fake_merge_tf.cpp writes the same).
bj::object merge_report(const std::vector<std::string>& inputs, const std::string& output, const std::string& guid) {
  bj::array in;
  for (auto& i : inputs) in.push_back(bj::object{{"name", i}});
  return bj::object{{"exitCode", 0},
                    {"exitMsg", "OK"},
                    {"files",
                     bj::object{{"input", bj::array{bj::object{{"type", "HITS"}, {"subFiles", in}}}},
                                {"output", bj::array{bj::object{
                                               {"type", "HITS"},
                                               {"subFiles", bj::array{bj::object{{"name", output},
                                                                                 {"file_guid", guid},
                                                                                 {"nentries", 8}}}}}}}}}};
}

std::vector<std::string> subfile_names(const bj::value& entries) {
  std::vector<std::string> names;
  for (auto& e : entries.as_array())
    for (auto& sf : e.at("subFiles").as_array()) names.emplace_back(sf.at("name").as_string());
  return names;
}
}  // namespace

BOOST_AUTO_TEST_CASE(guid_from_merge_report) {
  temp_dir t;
  auto path = (t.path / "jobReport.json").string();
  write_file(path, rty::json::dump(merge_report({"a"}, "OUT.1", "5CB58585-2D19-4FB5-91BA-4BFF2E8F0864")));
  auto guid = rty::merge::read_merge_guid(path);
  BOOST_REQUIRE(guid);
  BOOST_TEST(*guid == "5CB58585-2D19-4FB5-91BA-4BFF2E8F0864");
}

BOOST_AUTO_TEST_CASE(guid_errors_name_file_and_key) {
  temp_dir t;
  auto path = (t.path / "r.json").string();
  auto error_for = [&](const std::string& content) {
    write_file(path, content);
    auto r = rty::merge::read_merge_guid(path);
    BOOST_REQUIRE(!r);
    BOOST_TEST(r.error().message().find(path) != std::string::npos, r.error().message());
    return r.error().message();
  };
  BOOST_TEST(error_for("{\"files\": {\"output\": [{\"subFiles\": [{\"name\": \"x\"}]}]}}")
                 .find("files.output[0].subFiles[0].file_guid") != std::string::npos);
  BOOST_TEST(error_for("{\"files\": {\"output\": [{\"subFiles\": [{\"name\": \"x\", \"file_guid\": \"\"}]}]}}")
                 .find("file_guid") != std::string::npos);
  BOOST_TEST(error_for("{\"files\": {\"output\": [{\"subFiles\": []}]}}").find("files.output[0].subFiles") !=
             std::string::npos);
  BOOST_TEST(error_for("{\"files\": {\"output\": []}}").find("files.output") != std::string::npos);
  BOOST_TEST(error_for("{\"exitCode\": 0}").find("files") != std::string::npos);
  BOOST_TEST(error_for("[1]").find("not a JSON object") != std::string::npos);
  error_for("{\"files\": ");  // malformed
  auto missing = rty::merge::read_merge_guid((t.path / "absent.json").string());
  BOOST_REQUIRE(!missing);
  BOOST_TEST(missing.error().message().find("absent.json") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(final_report_matches_fixture_shape) {
  // The fixture run: 2 inputs, 1 output each; merges named after an earlier attempt, renamed at the end.
  auto fixture = rty::json::read_file(RTY_TEST_FIXTURES_DIR "/emulated/raythena-late-binding-merged/jobReport.json");
  BOOST_REQUIRE(fixture);
  auto& fx = fixture->as_object();
  std::vector<bj::object> reports = {
      merge_report({"EVNT.40000000._000001.pool.root.1"}, "HITS.40000001._000001.pool.root.0", "G1"),
      merge_report({"EVNT.40000000._000002.pool.root.1"}, "/o/final/HITS.40000001._000002.pool.root.0", "G2")};
  std::map<std::string, std::string> renamed = {
      {"HITS.40000001._000001.pool.root.0", "HITS.40000001._000001.pool.root.1"},
      {"HITS.40000001._000002.pool.root.0", "HITS.40000001._000002.pool.root.1"}};
  auto report = rty::merge::build_final_report(reports, renamed, {});

  BOOST_TEST(report.at("exitCode").as_int64() == fx.at("exitCode").as_int64());
  BOOST_TEST(!report.contains("failedInputs"));
  auto& files = report.at("files").as_object();
  auto& fx_files = fx.at("files").as_object();
  // Outputs: one entry whose subFiles are the final names, in output order (fixture: exactly this).
  BOOST_REQUIRE_EQUAL(files.at("output").as_array().size(), 1u);
  BOOST_TEST(subfile_names(files.at("output")) == subfile_names(fx_files.at("output")),
             boost::test_tools::per_element());
  // Inputs: upstream appends each further report's files.input[0]; read as "all subFiles of all
  // entries", it lists the fixture's inputs.
  BOOST_TEST(subfile_names(files.at("input")) == subfile_names(fx_files.at("input")),
             boost::test_tools::per_element());
  BOOST_TEST(files.at("input").as_array().size() == 2u);
  // GUIDs travel with the output entries.
  auto& subs = files.at("output").as_array()[0].at("subFiles").as_array();
  BOOST_TEST(subs[0].at("file_guid").as_string() == "G1");
  BOOST_TEST(subs[1].at("file_guid").as_string() == "G2");
  // The inputs to build_final_report are not modified.
  BOOST_TEST(reports[0].at("files").at("output").as_array()[0].at("subFiles").as_array()[0].at("name").as_string() ==
             "HITS.40000001._000001.pool.root.0");
}

BOOST_AUTO_TEST_CASE(final_report_with_failed_inputs) {
  std::vector<bj::object> reports = {merge_report({"F1"}, "OUT.1", "G1")};
  auto report = rty::merge::build_final_report(reports, {}, {"F2", "F3"});
  BOOST_TEST(report.at("exitCode").as_int64() == rty::merge::final_report_incomplete_exit_code);
  BOOST_TEST(rty::merge::final_report_incomplete_exit_code != 0);
  BOOST_TEST(report.at("exitMsg").as_string() == "2 input file(s) not fully merged: F2 F3");
  BOOST_TEST(report.at("failedInputs") == (bj::array{"F2", "F3"}));
  BOOST_TEST(subfile_names(report.at("files").at("output")) == (std::vector<std::string>{"OUT.1"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(final_report_without_any_merge) {
  auto report = rty::merge::build_final_report({}, {}, {"F1"});
  BOOST_TEST(report.at("exitCode").as_int64() == rty::merge::final_report_incomplete_exit_code);
  BOOST_TEST(report.at("files").at("input").as_array().empty());
  BOOST_TEST(report.at("files").at("output").as_array()[0].at("subFiles").as_array().empty());
}

BOOST_AUTO_TEST_CASE(final_report_tolerates_partial_reports) {
  std::vector<bj::object> reports = {merge_report({"F1"}, "OUT.1", "G1"), bj::object{{"exitCode", 0}},
                                     merge_report({"F3"}, "OUT.3", "G3")};
  auto report = rty::merge::build_final_report(reports, {}, {});
  BOOST_TEST(subfile_names(report.at("files").at("output")) == (std::vector<std::string>{"OUT.1", "OUT.3"}),
             boost::test_tools::per_element());
  BOOST_TEST(subfile_names(report.at("files").at("input")) == (std::vector<std::string>{"F1", "F3"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(read_report_requires_an_output_name) {
  temp_dir t;
  auto path = (t.path / "r.json").string();
  write_file(path, rty::json::dump(merge_report({"a"}, "OUT", "G")));
  BOOST_TEST(rty::merge::read_report(path).has_value());
  write_file(path, "{\"files\": {\"output\": [{\"subFiles\": [{\"file_guid\": \"G\"}]}]}}");
  auto r = rty::merge::read_report(path);
  BOOST_REQUIRE(!r);
  BOOST_TEST(r.error().message().find("subFiles[0].name") != std::string::npos);
}
