#pragma once
// Merge transform job reports (HITSMerge_tf's jobReport.json) and the final report Harvester reads as
// the job's metaData (docs/architecture.md, docs/harvester-files.md).
#include <boost/json/object.hpp>
#include "common/error.hpp"

#include <map>
#include <string>
#include <vector>

namespace rty::merge {

// exitCode of the final report. 0: every input file's events were merged. Otherwise
// final_report_incomplete_exit_code, with "exitMsg" listing the inputs that were not (fully) merged
// and "failedInputs" holding them as a list; the report still lists every output that was merged.
inline constexpr int final_report_incomplete_exit_code = 3;

// Reads a merge job report. Errors name the file and the first missing/mistyped key; a valid report
// has files.output[0].subFiles[0].name.
rty::result<boost::json::object> read_report(const std::string& path);

// The merged file's GUID: files.output[0].subFiles[0].file_guid (non-empty string).
rty::result<std::string> read_merge_guid(const std::string& report_path);
rty::result<std::string> merge_guid(const boost::json::object& report,
                                                           const std::string& origin);

// First report is the base; each further report's files.input[0] is appended to files.input and its
// files.output[0].subFiles[0] to files.output[0].subFiles. Every output subFile name (base included) is
// mapped through `renamed` (old → current; matched on the basename). exitCode/exitMsg/failedInputs as
// above. Reports missing the expected entries contribute what they have. No reports at all gives
// {"exitCode", ["exitMsg", "failedInputs",] "files": {"input": [], "output": [{"subFiles": []}]}}.
boost::json::object build_final_report(const std::vector<boost::json::object>& merge_reports_in_output_order,
                                       const std::map<std::string, std::string>& renamed,
                                       const std::vector<std::string>& failed_inputs);

}  // namespace rty::merge
