#include "pilot/job_patch.hpp"

#include "common/file_util.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <vector>

namespace rty::pilot {
namespace {

std::string first_of(const std::string& list) { return list.substr(0, list.find(',')); }

// Raythena edits jobPars with regular expressions; these scanners match exactly what its patterns
// match, without std::regex, whose matcher recurses once per character and overflows the stack on the
// input list of a large job (thousands of files).
bool in_lfn_class(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ','; }
bool in_hits_prefix_class(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'A' && c <= 'Z') || c == '.' || c == '_';
}
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

struct span {
  std::size_t begin = 0, end = 0;  // the whole match
  std::size_t group_begin = 0, group_end = 0;
};

// `--inputEVNTFile=([A-Za-z0-9_.,]*) -`, non-overlapping, left to right.
std::vector<span> input_lists(const std::string& cmd) {
  constexpr std::string_view key = "--inputEVNTFile=";
  std::vector<span> out;
  std::size_t from = 0;
  while ((from = cmd.find(key, from)) != std::string::npos) {
    std::size_t i = from + key.size();
    while (i < cmd.size() && in_lfn_class(cmd[i])) ++i;
    if (cmd.compare(i, 2, " -") == 0) {
      out.push_back({from, i + 2, from + key.size(), i});
      from = i + 2;
    } else {
      ++from;
    }
  }
  return out;
}

// `--outputHITSFile=([0-9A-Z._]+)\[([0-9,]+)\](.pool.root)` at or after `from` ('.' is any character
// but a line break, as in the pattern); the match and its three groups.
struct hits_match {
  std::size_t begin = 0, end = 0;
  std::string prefix, numbers, suffix;
};
std::optional<hits_match> find_hits(const std::string& cmd, std::size_t from) {
  constexpr std::string_view key = "--outputHITSFile=";
  auto any = [](char c) { return c != '\n' && c != '\r'; };
  for (; (from = cmd.find(key, from)) != std::string::npos; ++from) {
    std::size_t i = from + key.size(), p = i;
    while (i < cmd.size() && in_hits_prefix_class(cmd[i])) ++i;
    if (i == p || i >= cmd.size() || cmd[i] != '[') continue;
    std::size_t n = ++i;
    while (i < cmd.size() && (is_digit(cmd[i]) || cmd[i] == ',')) ++i;
    if (i == n || i >= cmd.size() || cmd[i] != ']') continue;
    std::size_t x = ++i;
    if (x + 10 > cmd.size() || !any(cmd[x]) || cmd.compare(x + 1, 4, "pool") != 0 || !any(cmd[x + 5]) ||
        cmd.compare(x + 6, 4, "root") != 0)
      continue;
    return hits_match{from, x + 10, cmd.substr(p, n - 1 - p), cmd.substr(n, i - 1 - n), cmd.substr(x, 10)};
  }
  return std::nullopt;
}

// Every `<key>[0-9]+` replaced by `<key><value>`.
std::string replace_number(const std::string& cmd, std::string_view key, const std::string& value) {
  std::string out;
  std::size_t from = 0, at;
  while ((at = cmd.find(key, from)) != std::string::npos) {
    std::size_t i = at + key.size();
    while (i < cmd.size() && is_digit(cmd[i])) ++i;
    if (i == at + key.size()) {  // no digits: not a match, keep looking after this position
      out.append(cmd, from, at + 1 - from);
      from = at + 1;
      continue;
    }
    out.append(cmd, from, at - from).append(key).append(value);
    from = i;
  }
  return out.append(cmd, from, std::string::npos);
}

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

  // Raythena's patterns, so that the same jobPars get the same edits.
  const auto inputs = input_lists(cmd);
  if (inputs.size() == 1) {
    const auto& m = inputs.front();
    const std::string first = rty::file::join(endpoint, first_of(cmd.substr(m.group_begin, m.group_end - m.group_begin)));
    cmd = cmd.substr(0, m.begin) + "--inputEVNTFile=" + first + " -" + cmd.substr(m.end);

    if (auto h = find_hits(cmd, 0)) {
      // Raythena substitutes every occurrence with the name built from the first one.
      const std::string replacement = "--outputHITSFile=" + h->prefix + first_of(h->numbers) + h->suffix;
      std::string edited;
      std::size_t from = 0;
      for (auto next = h; next; next = find_hits(cmd, from)) {
        edited.append(cmd, from, next->begin - from).append(replacement);
        from = next->end;
      }
      cmd = edited.append(cmd, from, std::string::npos);
    }

    const int job_number = std::max(attempt_nr - 1, 0) * node_count + node_index + 1;
    if (cmd.find("--jobNumber=") != std::string::npos) {
      cmd = replace_number(cmd, "--jobNumber=", std::to_string(job_number));
    } else {
      cmd += " --jobNumber=" + std::to_string(job_number) + " ";
    }

    if (events_per_input > 0) {
      const auto max_events = std::min<std::int64_t>(500, events_per_input);
      if (cmd.find("--maxEvents=") != std::string::npos) {
        cmd = replace_number(cmd, "--maxEvents=", std::to_string(max_events));
      } else {
        cmd += " --maxEvents=" + std::to_string(max_events) + " ";
      }
    }
  }
  out["jobPars"] = cmd;
  return out;
}

}  // namespace rty::pilot
