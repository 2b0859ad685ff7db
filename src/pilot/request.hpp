#pragma once
// Decoding what pilot3 sends to the node-local server (docs/pilot-protocol.md). Sans-I/O: the HTTP layer
// hands over the request target, Content-Type and raw body; nothing here throws on foreign input.
#include "common/event_range.hpp"

#include <boost/json/object.hpp>
#include "common/error.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rty::pilot {

enum class endpoint {
  get_job,                     // "/" and /server/panda/getJob
  update_job,                  // /server/panda/updateJob
  update_worker_pilot_status,  // /server/panda/updateWorkerPilotStatus
  get_event_ranges,            // /server/panda/getEventRanges
  update_event_ranges,         // /server/panda/updateEventRanges
  update_worker_node,          // /api/v1/pilot/update_worker_node (pilot >= 3.10, at start)
  update_worker_node_gpu,      // /api/v1/pilot/update_worker_node_gpu (only on a node with GPUs)
  get_resource_types,          // /server/panda/getResourceTypes (pilot >= 3.10: memory-kill limits)
  not_implemented,             // /server/panda/{updateJobsInBulk,getStatus,getKeyPair}: reply 500
  unknown                      // anything else: reply 500
};

// Routes on the path only (query string and fragment ignored; an absolute-form "http://host:port/path"
// target is reduced to its path). Exact match, as Raythena's router.
endpoint route(std::string_view target);
std::string_view to_string(endpoint e);

// Request fields as pilot meant them: name → first value.
using fields = std::map<std::string, std::string>;

// What pilot's update_worker_node says about the node (pilot/util/workernode.py get_workernode_map:
// host_name, n_logical_cpus, total_memory in MB, total_local_disk in GB, cpu_model, ...). Lenient:
// pilot sends it once, for information; a field missing or not a number stays unset. Text is cut to 256
// bytes.
struct worker_node_report {
  std::string host_name;
  std::string cpu_model;
  std::optional<std::int64_t> logical_cpus;
  std::optional<std::int64_t> total_memory_mb;
  std::optional<std::int64_t> local_disk_gb;
};
worker_node_report parse_worker_node(const fields& f);

inline constexpr std::size_t default_max_decompressed = 8 * 1024 * 1024;

// Decodes a request body whatever pilot's version chose (spec §2.2):
//  - gzip by magic bytes 1f 8b (pilot ≥3.7.3 sends no Content-Encoding) → inflate, at most
//    `max_decompressed` bytes → JSON object;
//  - a body starting with '{' or a Content-Type application/json → JSON object;
//  - otherwise application/x-www-form-urlencoded, parsed like Python's parse_qs: '+' is a space, %XX
//    decoded, first value of a repeated key wins, pairs without '=' or with an empty value dropped.
// JSON values become text: strings as is (empty ones dropped, as in forms), numbers in decimal (shortest round-trip for doubles), other
// values as compact JSON. The query string of `target` is parsed too (pilot falls back to GET with a
// query when it cannot write curl's config); body fields win over query fields.
// Errors: corrupt/oversized gzip, invalid JSON, JSON that is not an object, invalid UTF-8.
rty::result<fields> decode_body(std::string_view target, std::string_view content_type,
                                                       std::string_view body,
                                                       std::size_t max_decompressed = default_max_decompressed);

struct get_event_ranges_request {
  std::string panda_id;  // compared as a string with the job's PandaID
  int n_ranges = 0;      // ≥ 1
  std::string jobset_id, task_id;
};

// Missing/empty pandaID, missing nRanges, nRanges not an integer or < 1 → error (reply 500). nRanges=0
// is refused because the only possible answer, [], would tell pilot there are no more events.
rty::result<get_event_ranges_request> parse_get_event_ranges(const fields& f);

// True when the request's pandaID equals the job's PandaID compared as text (the job may hold a number).
bool panda_id_matches(const boost::json::object& job, std::string_view panda_id);

// updateEventRanges (spec §3.3): `eventRanges` is a JSON text holding a list whose elements are
//  {"esOutput": {...}, "eventRanges": [{eventRangeID, eventStatus, pfn, fsize, adler32}, ...]}  → es_output,
//  {"zipFile": {lfn, adler32, fsize, ...}, "eventRanges": [{eventRangeID, eventStatus}, ...]}   → zip_output,
//  {"eventRangeID", "eventStatus", "errorCode"?}                                             → no file.
// Normalised like Raythena's EventRangeUpdate (path/chksum/fsize/type); `fatal` stays fatal; errorCode
// is kept. Errors name the element and key: no eventRanges, bad JSON, not a list, unknown status,
// finished entry without pfn/fsize/adler32, ...
rty::result<std::vector<rty::range_update>> parse_update_event_ranges(const fields& f);

// What of a request's fields may travel to the coordinator (issue 13): a hostile or runaway updateJob
// (megabytes of pilotErrorDiag) must not make a control-channel frame past its limit, which would cost
// the node. Each value keeps at most `per_field` bytes (cut at a UTF-8 character boundary, the cut noted
// in the value as "...[cut: N bytes]"); names longer than 256 bytes and fields past `total` bytes of
// names and values are dropped. JSON escaping grows a value at most 6-fold (\u00XX), so the defaults keep
// a frame under 8 MiB whatever pilot sent.
inline constexpr std::size_t default_field_cap = 64 * 1024;
inline constexpr std::size_t default_fields_total = 1024 * 1024;
struct capped_fields {
  fields kept;
  std::size_t cut = 0;      // values shortened
  std::size_t dropped = 0;  // fields left out
};
capped_fields cap_fields(const fields& f, std::size_t per_field = default_field_cap,
                         std::size_t total = default_fields_total);

}  // namespace rty::pilot
