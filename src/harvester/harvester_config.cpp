#include "harvester/harvester_config.hpp"

#include "harvester/capped_read.hpp"

#include "common/file_util.hpp"
#include "common/json_util.hpp"

#include "common/error.hpp"

#include <vector>

namespace rty::harvester {
namespace {

using rty::fail;

constexpr std::string_view payload_section = "payload_interaction";

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

}  // namespace

rty::result<messenger_files> resolve_messenger_files(const ini_file& ini,
                                                                            const std::string& endpoint) {
  if (!ini.has_section(payload_section))
    return fail(ini.origin() + ": section [payload_interaction] is missing (Harvester's shared-file messenger needs it)");
  messenger_files f;
  f.endpoint = endpoint;
  std::string error;
  auto lookup = [&](std::string_view key, std::optional<std::string_view> fallback, bool required) -> std::string {
    auto v = ini.get(payload_section, key);
    std::string value;
    if (v && !trim(*v).empty()) {
      value = trim(*v);
      // Harvester replaces a value starting with '$' by the environment variable (harvester_config.py).
      if (value.front() == '$') value = rty::file::expand_vars(value);
    } else if (fallback) {
      value = std::string(*fallback);
    } else if (required) {
      if (error.empty())
        error = ini.origin() + ": [payload_interaction] " + std::string(key) + " is missing or empty (required)";
      return {};
    } else {
      return {};
    }
    return rty::file::join(endpoint, value);
  };
  f.job_request = lookup("jobRequestFile", std::nullopt, true);
  f.job_spec = lookup("jobSpecFile", "pandaJobData.out", true);
  f.event_request = lookup("eventRequestFile", std::nullopt, true);
  f.event_ranges = lookup("eventRangesFile", std::nullopt, true);
  f.event_status_dump = lookup("eventStatusDumpJsonFile", std::nullopt, true);
  f.job_report = lookup("jobReportFile", std::nullopt, true);
  f.pandaids = lookup("pandaIDsFile", std::nullopt, false);
  f.pool_catalog = lookup("xmlPoolCatalogFile", std::nullopt, false);
  f.update_events = lookup("updateEventsFile", std::nullopt, false);
  f.heartbeat = lookup("heartbeatFile", "worker_heartbeat.json", false);
  if (!error.empty()) return fail(error);
  return f;
}

std::optional<std::string> queuedata_path(const ini_file& ini, std::string_view panda_queue) {
  auto data = ini.get("cacher", "data");
  if (!data || panda_queue.empty()) return std::nullopt;
  std::string_view rest = *data;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    std::string line = trim(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (line.rfind(panda_queue, 0) != 0) continue;
    auto bar = line.rfind('|');
    if (bar == std::string::npos) return std::nullopt;
    std::string path = trim(std::string_view(line).substr(bar + 1));
    if (path.empty()) return std::nullopt;
    return rty::file::expand_vars(path);
  }
  return std::nullopt;
}

rty::result<queuedata> load_queuedata(const std::string& path) {
  auto text = read_capped(path, queuedata_max_bytes, "queuedata file");
  if (!text) return text.error();
  auto v = rty::json::parse(*text, path);
  if (!v) return v.error();
  if (!v->is_object()) return fail(path + ": queuedata is not a JSON object");
  const auto& o = v->as_object();
  queuedata q;
  if (auto t = rty::json::get_string(o, "container_type")) q.container_type = t->substr(0, t->find(':'));
  if (auto opts = rty::json::get_string(o, "container_options")) q.container_options = *opts;
  return q;
}

}  // namespace rty::harvester
