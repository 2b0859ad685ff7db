#include "harvester/queue_config.hpp"

#include "harvester/capped_read.hpp"

#include "common/error.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"

#include <boost/json.hpp>

#include <filesystem>

namespace rty::harvester {
namespace {

using rty::fail;
namespace json = boost::json;

constexpr queue_messenger_key keys[] = {
    {"jsonAttrsFileName", "workerAttributesFile"},
    {"jsonJobReport", "jobReportFile"},
    {"jsonOutputsFileName", "eventStatusDumpJsonFile"},
    {"xmlOutputsBaseFileName", "eventStatusDumpXmlFile"},
    {"jsonJobRequestFileName", "jobRequestFile"},
    {"jobSpecFileName", "jobSpecFile"},
    {"jsonEventsRequestFileName", "eventRequestFile"},
    {"jsonEventsFeedFileName", "eventRangesFile"},
    {"jsonEventsUpdateFileName", "updateEventsFile"},
    {"xmlPoolCatalogFileName", "xmlPoolCatalogFile"},
    {"pandaIDsFile", "pandaIDsFile"},
    {"killWorkerFile", "killWorkerFile"},
    {"heartbeatFile", "heartbeatFile"},
};

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

bool is_template(const std::string& name, const json::object& o) {
  auto it = o.find("isTemplateQueue");
  return (it != o.end() && it->value().is_bool() && it->value().as_bool()) || name.ends_with("_TEMPLATE");
}

// Python's truth of a JSON value, as Harvester's `if self.stripJobParams` sees it.
std::optional<bool> truth(const json::value& v) {
  if (v.is_bool()) return v.as_bool();
  if (v.is_int64()) return v.as_int64() != 0;
  if (v.is_null()) return false;
  return std::nullopt;
}

// The queue's messenger section: the template's first, then the queue's own keys over it
// (updatable_plugin_attrs), then the "common" keys neither sets. Sets out.template_name.
rty::result<json::object> merged_messenger(const json::object& all, const json::object& q,
                                                                  const std::string& path, const std::string& prefix,
                                                                  queue_messenger& out) {
  json::object merged;
  json::object common;
  auto take = [&](const json::object& section, const std::string& where) -> std::optional<std::string> {
    if (auto m = section.find("messenger"); m != section.end()) {
      if (!m->value().is_object()) return where + "messenger must be a JSON object, found " + json::serialize(m->value());
      for (const auto& kv : m->value().as_object()) merged[kv.key()] = kv.value();
    }
    if (auto c = section.find("common"); c != section.end() && c->value().is_object())
      for (const auto& kv : c->value().as_object()) common[kv.key()] = kv.value();
    return std::nullopt;
  };
  if (!is_template(out.queue, q)) {
    if (auto t = q.find("templateQueueName"); t != q.end() && !t->value().is_null()) {
      if (!t->value().is_string()) return fail(prefix + "templateQueueName must be a string");
      out.template_name = std::string(t->value().as_string());
      auto tq = all.find(out.template_name);
      // Harvester skips a queue whose template is missing: it would run no worker for it.
      if (tq == all.end() || !tq->value().is_object())
        return fail(prefix + "templateQueueName '" + out.template_name + "' is not a queue of this file");
      if (auto e = take(tq->value().as_object(), path + ": template " + out.template_name + ": ")) return fail(*e);
    }
  }
  if (auto e = take(q, prefix)) return fail(*e);
  for (const auto& kv : common)
    if (!merged.contains(kv.key()) && kv.key() != "module" && kv.key() != "name") merged[kv.key()] = kv.value();
  return merged;
}

// The messenger keys raythenad uses, checked, into `out`.
rty::result<void> read_messenger_keys(const json::object& merged, const std::string& prefix,
                                                           queue_messenger& out) {
  if (auto m = merged.find("module"); m != merged.end() && m->value().is_string())
    out.messenger_module = std::string(m->value().as_string());
  for (const auto& k : keys) {
    auto it = merged.find(k.messenger_attr);
    if (it == merged.end()) continue;
    const std::string key = "messenger." + std::string(k.messenger_attr);
    if (!it->value().is_string())
      return fail(prefix + key + ": expected a file name string, found " + json::serialize(it->value()));
    std::string value = trim(it->value().as_string());
    if (value.empty()) return fail(prefix + key + ": empty file name");
    // The name becomes a path we read, write and rename: one line of text, no NUL.
    if (value.find_first_of(std::string_view("\0\n\r", 3)) != std::string::npos)
      return fail(prefix + key + ": bad file name " + json::serialize(it->value()));
    out.file_overrides[std::string(k.payload_interaction)] = value;
  }
  if (auto it = merged.find("jobSpecFileFormat"); it != merged.end()) {
    const bool ok = it->value().is_string() && (it->value().as_string() == "json" || it->value().as_string() == "cgi");
    if (!ok) return fail(prefix + "messenger.jobSpecFileFormat: expected \"json\" or \"cgi\", found " + json::serialize(it->value()));
    out.spec_format = it->value().as_string() == "cgi" ? job_spec_format::cgi : job_spec_format::json;
    out.spec_format_set = true;
  }
  if (auto it = merged.find("stripJobParams"); it != merged.end()) {
    auto t = truth(it->value());
    if (!t) return fail(prefix + "messenger.stripJobParams: expected true or false, found " + json::serialize(it->value()));
    out.strip_job_params = *t;
  }
  if (auto it = merged.find("worker_heartbeat"); it != merged.end() && !it->value().is_null()) {
    // Harvester's monitor: int(queue_config.messenger["worker_heartbeat"]); 0 turns the check off.
    std::optional<std::int64_t> minutes;
    if (it->value().is_int64()) minutes = it->value().as_int64();
    else if (it->value().is_string()) {
      json::object one{{"v", it->value()}};
      minutes = rty::json::get_int(one, "v");
    }
    if (!minutes || *minutes < 0 || *minutes > 10 * 365 * 24 * 60)
      return fail(prefix + "messenger.worker_heartbeat: expected whole minutes >= 0, found " + json::serialize(it->value()));
    if (*minutes > 0) out.worker_heartbeat_minutes = static_cast<int>(*minutes);
  }
  return {};
}

}  // namespace

std::span<const queue_messenger_key> queue_messenger_keys() { return keys; }

std::optional<std::string> queue_config_path(const ini_file& ini, const std::string& panda_home) {
  auto v = ini.get("qconf", "configFile");
  if (!v || trim(*v).empty()) return std::nullopt;
  std::string name = trim(*v);
  if (name.front() == '$') name = rty::file::expand_vars(name);
  if (name.front() == '/') return name;
  std::error_code ec;
  if (!panda_home.empty()) {
    auto in_home = (std::filesystem::path(panda_home) / "etc/panda" / name).string();
    if (std::filesystem::exists(in_home, ec)) return in_home;
  }
  return (std::filesystem::path("/etc/panda") / name).string();
}

rty::result<std::optional<queue_messenger>> load_queue_messenger(const std::string& path,
                                                                                        std::string_view queue) {
  auto text = read_capped(path, queuedata_max_bytes, "queue config");
  if (!text) return text.error();
  auto doc = rty::json::parse(*text, path);
  if (!doc) return doc.error();
  if (!doc->is_object()) return fail(path + ": the queue config is not a JSON object {queueName: {...}}");
  const auto& all = doc->as_object();
  auto entry = all.find(queue);
  if (entry == all.end()) return std::optional<queue_messenger>{};
  const std::string prefix = path + ": queue " + std::string(queue) + ": ";
  if (!entry->value().is_object()) return fail(prefix + "is not a JSON object");
  const auto& q = entry->value().as_object();
  queue_messenger out;
  out.config_file = path;
  out.queue = std::string(queue);

  auto merged = merged_messenger(all, q, path, prefix, out);
  if (!merged) return merged.error();
  if (auto r = read_messenger_keys(*merged, prefix, out); !r) return r.error();
  return std::optional<queue_messenger>{std::move(out)};
}

messenger_files apply_queue_messenger(messenger_files f, const queue_messenger& q) {
  auto set = [&](std::string_view key, std::string& field) {
    if (auto it = q.file_overrides.find(std::string(key)); it != q.file_overrides.end())
      field = rty::file::join(f.endpoint, it->second);
  };
  set("jobRequestFile", f.job_request);
  set("jobSpecFile", f.job_spec);
  set("eventRequestFile", f.event_request);
  set("eventRangesFile", f.event_ranges);
  set("eventStatusDumpJsonFile", f.event_status_dump);
  set("jobReportFile", f.job_report);
  set("pandaIDsFile", f.pandaids);
  set("xmlPoolCatalogFile", f.pool_catalog);
  set("updateEventsFile", f.update_events);
  set("heartbeatFile", f.heartbeat);
  f.spec_format = q.spec_format;
  return f;
}

rty::result<resolved_messenger> resolve_messenger(const ini_file& ini,
                                                                         const std::string& endpoint,
                                                                         std::string_view queue,
                                                                         const std::string& panda_home) {
  auto files = resolve_messenger_files(ini, endpoint);
  if (!files) return files.error();
  resolved_messenger out;
  out.files = *files;
  auto path = queue_config_path(ini, panda_home);
  if (!path) {
    out.queue_note = "no [qconf] configFile: [payload_interaction] file names are used as they are";
    return out;
  }
  if (queue.empty()) {
    out.queue_note = "payload.pandaqueue not set: the queue config " + *path + " is not read";
    return out;
  }
  auto q = load_queue_messenger(*path, queue);
  if (!q) return q.error();
  if (!*q) {
    out.queue_note = "queue config " + *path + " has no queue '" + std::string(queue) +
                     "': [payload_interaction] file names are used as they are";
    return out;
  }
  out.files = apply_queue_messenger(out.files, **q);
  out.queue = std::move(**q);
  return out;
}

std::string describe(const queue_messenger& q) {
  std::string out = "queue " + q.queue + " in " + q.config_file;
  if (!q.template_name.empty()) out += " (template " + q.template_name + ")";
  std::string items;
  for (const auto& [key, value] : q.file_overrides) items += (items.empty() ? "" : ", ") + key + "=" + value;
  if (q.spec_format_set) items += std::string(items.empty() ? "" : ", ") + "jobSpecFileFormat=" +
                                  (q.spec_format == job_spec_format::cgi ? "cgi" : "json");
  if (q.strip_job_params) items += std::string(items.empty() ? "" : ", ") + "stripJobParams=true";
  if (q.worker_heartbeat_minutes)
    items += std::string(items.empty() ? "" : ", ") + "worker_heartbeat=" + std::to_string(*q.worker_heartbeat_minutes) + " min";
  out += items.empty() ? ": no messenger overrides" : ": " + items;
  return out;
}

}  // namespace rty::harvester
