// The process exit code and the final jobReport's "exitCode" are one number (write_final_report).
#include <boost/test/unit_test.hpp>

#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "coordinator/daemon.hpp"
#include "coordinator/finalize.hpp"

namespace rty::coordinator {
namespace {

namespace fs = std::filesystem;

struct report_dir {
  report_dir() {
    char tmpl[] = "/tmp/rty-final-report-XXXXXX";
    BOOST_REQUIRE(::mkdtemp(tmpl));
    path = tmpl;
    files.endpoint = path;
    files.job_report = path + "/jobReport.json";
  }
  ~report_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  boost::json::object written() const {
    std::ifstream in(files.job_report);
    std::stringstream s;
    s << in.rdbuf();
    return boost::json::parse(s.str()).as_object();
  }
  std::string path;
  harvester::messenger_files files;
};

finalize_result built(bool failed_inputs) {
  finalize_result r;
  // What build_final_report gives: Raythena's 3 when some input was not merged.
  r.report = boost::json::object{{"exitCode", failed_inputs ? 3 : 0}, {"files", boost::json::object{}}};
  if (failed_inputs) r.report["exitMsg"] = "1 input file(s) not fully merged: IN.1";
  return r;
}

BOOST_AUTO_TEST_CASE(report_exit_code_is_the_process_exit_code) {
  struct row {
    end_of_run e;  // report_written is ignored: write_final_report writes it
    bool failed_inputs;
    int expected;
  };
  const row rows[] = {
      {{false, true, true, true}, false, exit_success},
      // The case seen in the field: exit 4 while the report said 3.
      {{false, true, true, false}, true, exit_events_failed},
      {{false, true, false, false}, true, exit_incomplete},
      {{false, false, true, true}, false, exit_runtime_error},  // the final checkpoint failed
  };
  for (const auto& r : rows) {
    report_dir dir;
    auto result = built(r.failed_inputs);
    result.report_path = dir.files.job_report;
    const int code = write_final_report(result, r.e, dir.files);
    BOOST_TEST(code == r.expected);
    BOOST_TEST(result.report_written);
    auto report = dir.written();
    BOOST_TEST(report.at("exitCode").as_int64() == code);
    BOOST_TEST(report.contains("exitMsg") == (code != 0));
    BOOST_TEST(result.summary.find("exitCode " + std::to_string(code)) != std::string::npos);
  }
}

BOOST_AUTO_TEST_CASE(unwritable_report_gives_a_runtime_error_and_no_report) {
  report_dir dir;
  dir.files.job_report = dir.path + "/no-such-dir/jobReport.json";
  auto result = built(false);
  const int code = write_final_report(result, {false, true, true, true}, dir.files);
  BOOST_TEST(code == exit_runtime_error);
  BOOST_TEST(!result.report_written);
  BOOST_TEST(!fs::exists(dir.files.job_report));
  BOOST_TEST(result.summary.find("NOT written") != std::string::npos);
}

}  // namespace
}  // namespace rty::coordinator
