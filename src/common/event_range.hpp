#pragma once
// Vocabulary shared by the bookkeeper, the control-channel messages and the pilot HTTP layer.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rty {

// One event range as pilot receives it (docs/pilot-protocol.md: exactly PFN, lastEvent, eventRangeID,
// startEvent, GUID).
struct event_range {
  std::string id;    // eventRangeID, e.g. "EVNT.X._000001.pool.root.1-7"
  std::string pfn;   // absolute path of the input file (endpoint + "/" + LFN)
  std::string guid;  // GUID of the input file
  std::int64_t start_event = 0;
  std::int64_t last_event = 0;
  bool operator==(const event_range&) const = default;
};

enum class range_status { running, finished, failed, fatal };

inline std::optional<range_status> parse_range_status(std::string_view s) {
  if (s == "finished") return range_status::finished;
  if (s == "failed") return range_status::failed;
  if (s == "fatal") return range_status::fatal;
  if (s == "running") return range_status::running;
  return std::nullopt;
}

inline std::string_view to_string(range_status s) {
  switch (s) {
    case range_status::running: return "running";
    case range_status::finished: return "finished";
    case range_status::failed: return "failed";
    case range_status::fatal: return "fatal";
  }
  return "?";
}

// One entry of a pilot's updateEventRanges, normalised (docs/architecture.md / docs/pilot-protocol.md).
struct range_update {
  std::string range_id;
  range_status status = range_status::finished;
  std::string path;         // output file (es_output: pfn; zip_output: zip lfn); empty for failures
  std::string chksum;       // adler32, 8 lowercase hex digits, may be empty
  std::int64_t fsize = -1;  // -1: unknown
  std::string type;         // "es_output" | "zip_output" | "" for failures
  int error_code = 0;
  bool operator==(const range_update&) const = default;
};

}  // namespace rty
