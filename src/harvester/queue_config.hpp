#pragma once
// Harvester's queue configuration, the part the shared-file messenger reads (docs/harvester-files.md).
//
// panda_harvester.cfg [qconf] configFile names a JSON file {queueName: {..., "messenger": {...}}}
// (Harvester: harvestercore/queue_config_mapper.py). A relative name is looked for in
// $PANDA_HOME/etc/panda/, else /etc/panda/. A queue may name a template (templateQueueName, or a
// queue named *_TEMPLATE / isTemplateQueue); the queue's messenger section is merged over the
// template's, key by key, and keys of the queue's "common" section fill in what the messenger lacks.
// The messenger's attributes then override the [payload_interaction] file names
// (harvestermessenger/base_messenger.py): jobSpecFileName ↔ jobSpecFile, jsonEventsFeedFileName ↔
// eventRangesFile, and so on (queue_messenger_keys()). jobSpecFileFormat (json|cgi), stripJobParams
// and worker_heartbeat (minutes, read by Harvester's monitor) are read too.
#include "harvester/harvester_config.hpp"
#include "harvester/ini.hpp"

#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rty::harvester {

struct queue_messenger_key {
  std::string_view messenger_attr;       // in the queue config's messenger section
  std::string_view payload_interaction;  // the [payload_interaction] key it overrides
};
std::span<const queue_messenger_key> queue_messenger_keys();

struct queue_messenger {
  std::string config_file;    // the queue config file read
  std::string queue;          // payload.pandaqueue, as found in it
  std::string template_name;  // the template merged under it; empty when none
  // [payload_interaction] key → value as written in the queue config (before joining to the endpoint).
  std::map<std::string, std::string> file_overrides;
  job_spec_format spec_format = job_spec_format::json;
  bool spec_format_set = false;
  bool strip_job_params = false;
  std::optional<int> worker_heartbeat_minutes;  // messenger.worker_heartbeat; Harvester ignores 0
  std::string messenger_module;                 // messenger.module, for the report
};

// The queue config file [qconf] configFile points at; nullopt when the cfg has no such key.
// `panda_home`: $PANDA_HOME, or empty.
std::optional<std::string> queue_config_path(const ini_file& ini, const std::string& panda_home);

// Reads `path` and the entry of `queue`. nullopt: the file has no entry for the queue (Harvester
// would not run it; we keep [payload_interaction] and say so). Errors name the file, the queue and
// the key, and the bad value.
rty::result<std::optional<queue_messenger>> load_queue_messenger(const std::string& path,
                                                                                        std::string_view queue);

// `files` with the queue's overrides joined to files.endpoint, and its job spec format.
messenger_files apply_queue_messenger(messenger_files files, const queue_messenger& q);

// Everything the coordinator and --validate need: [payload_interaction], then the queue config when
// [qconf] configFile is set and payload.pandaqueue is known.
struct resolved_messenger {
  messenger_files files;
  std::optional<queue_messenger> queue;  // the queue's messenger section, when applied
  std::string queue_note;                // why none was applied (no [qconf], queue absent...); empty if applied
};
rty::result<resolved_messenger> resolve_messenger(const ini_file& ini,
                                                                         const std::string& endpoint,
                                                                         std::string_view queue,
                                                                         const std::string& panda_home);

// One line for logs and --validate: "queue Q in FILE (template T): jobSpecFile=..., eventRangesFile=...,
// jobSpecFileFormat=cgi, stripJobParams=true, worker_heartbeat=30 min".
std::string describe(const queue_messenger& q);

}  // namespace rty::harvester
