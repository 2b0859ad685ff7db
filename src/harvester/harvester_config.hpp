#pragma once
// What the coordinator takes from Harvester's panda_harvester.cfg (docs/harvester-files.md,
// docs/architecture.md): the [payload_interaction] file names and the [cacher] queuedata file.
#include "harvester/ini.hpp"

#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace rty::harvester {

// How Harvester writes the job spec (the queue config's messenger.jobSpecFileFormat): json is
// {PandaID: params}; cgi is urlencode(params) (shared_file_messenger.py feed_jobs).
enum class job_spec_format { json, cgi };

// Absolute (or endpoint-joined) paths of the messenger files. Empty string: key absent and not needed.
struct messenger_files {
  job_spec_format spec_format = job_spec_format::json;
  std::string endpoint;           // the Harvester access point the names were joined to
  std::string job_request;        // jobRequestFile (required)
  std::string job_spec;           // jobSpecFile (Harvester default pandaJobData.out)
  std::string event_request;      // eventRequestFile (required)
  std::string event_ranges;       // eventRangesFile (required)
  std::string event_status_dump;  // eventStatusDumpJsonFile (required)
  std::string job_report;         // jobReportFile (required)
  std::string pandaids;           // pandaIDsFile (optional: only used to see a late-binding feed finish)
  std::string pool_catalog;       // xmlPoolCatalogFile (optional: payload only)
  std::string update_events;      // updateEventsFile (optional: we never write it, R8)
  std::string heartbeat;          // heartbeatFile (Harvester default worker_heartbeat.json)
};

// Reads [payload_interaction]. Values starting with `$` are expanded from the environment as Harvester
// does, then joined to `endpoint` (an absolute value stays absolute). Error names the missing section
// or key and the cfg file.
rty::result<messenger_files> resolve_messenger_files(const ini_file& ini,
                                                                            const std::string& endpoint);

// `[cacher] data`: lines mainKey|subKey|URL[|dumpFile]; the first line starting with `panda_queue`
// gives the queuedata JSON path (its last `|` field). nullopt if the section, key or line is absent.
std::optional<std::string> queuedata_path(const ini_file& ini, std::string_view panda_queue);

struct queuedata {
  std::string container_type;     // part of `container_type` before ':' (e.g. "singularity"); may be empty
  std::string container_options;  // may be empty
};

// Reads the cacher's queuedata JSON. Error names the file and the problem.
rty::result<queuedata> load_queuedata(const std::string& path);

}  // namespace rty::harvester
