#include "pilot/job_patch.hpp"

#include "common/file_util.hpp"

#include <algorithm>
#include <iterator>
#include <regex>

namespace rty::pilot {
namespace {

std::string first_of(const std::string& list) { return list.substr(0, list.find(',')); }

}  // namespace

boost::json::object patch_job_for_node(const boost::json::object& job, const std::string& endpoint, int node_index,
                                       int node_count, int attempt_nr, std::int64_t events_per_input) {
  boost::json::object out = job;
  out["eventService"] = "true";
  auto* pars = out.if_contains("jobPars");
  if (!pars || !pars->is_string()) return out;

  std::string cmd(pars->get_string());
  constexpr std::string_view es_flag = "--eventService=True ";
  if (cmd.compare(0, es_flag.size(), es_flag) != 0) cmd = std::string(es_flag) + cmd;

  // Patterns are Raythena's, so that the same jobPars get the same edits.
  static const std::regex input_re(R"(--inputEVNTFile=([A-Za-z0-9_.,]*) -)");
  const auto matches = std::distance(std::sregex_iterator(cmd.begin(), cmd.end(), input_re), std::sregex_iterator());
  if (matches == 1) {
    std::smatch m;
    std::regex_search(cmd, m, input_re);
    const std::string first = rty::file::join(endpoint, first_of(m[1].str()));
    cmd = m.prefix().str() + "--inputEVNTFile=" + first + " -" + m.suffix().str();

    static const std::regex hits_re(R"(--outputHITSFile=([0-9A-Z._]+)\[([0-9,]+)\](.pool.root))");
    if (std::regex_search(cmd, m, hits_re)) {
      const std::string name = m[1].str() + first_of(m[2].str()) + m[3].str();
      // Raythena substitutes every occurrence with the name built from the first one.
      std::string replacement = "--outputHITSFile=" + name;
      std::string escaped;
      for (char c : replacement) {
        if (c == '$') escaped += '$';
        escaped += c;
      }
      cmd = std::regex_replace(cmd, hits_re, escaped);
    }

    const int job_number = std::max(attempt_nr - 1, 0) * node_count + node_index + 1;
    if (cmd.find("--jobNumber=") != std::string::npos) {
      static const std::regex job_number_re("--jobNumber=[0-9]+");
      cmd = std::regex_replace(cmd, job_number_re, "--jobNumber=" + std::to_string(job_number));
    } else {
      cmd += " --jobNumber=" + std::to_string(job_number) + " ";
    }

    if (events_per_input > 0) {
      const auto max_events = std::min<std::int64_t>(500, events_per_input);
      if (cmd.find("--maxEvents=") != std::string::npos) {
        static const std::regex max_events_re("--maxEvents=[0-9]+");
        cmd = std::regex_replace(cmd, max_events_re, "--maxEvents=" + std::to_string(max_events));
      } else {
        cmd += " --maxEvents=" + std::to_string(max_events) + " ";
      }
    }
  }
  out["jobPars"] = cmd;
  return out;
}

}  // namespace rty::pilot
