#pragma once
// The task progress checkpoint `O/state.json` in the original Raythena format (docs/architecture.md,
// upstream ray: example/state.json and TaskStatus). The `O/commit_log` of output renames is
// rty::merge::commit_log (src/merge/commit_log.hpp).
//
// Keys are bare input LFNs. The only addition to the original format: range entries under `merging`
// may carry "guid" (the GUID of the output they were merged into), so that a resumed 1→N input keeps
// one GUID per output instead of the last merge's GUID for all (spec §7 item 9). Readers that look up
// keys (the original's resume code, Harvester-side tools) are unaffected by the extra field.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <boost/system/result.hpp>

#include "common/error.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace rty::bookkeeping {

// One event range entry: {eventRangeID, startEvent, lastEvent[, path]}.
struct range_record {
  std::string event_range_id;
  std::int64_t start_event = 0;
  std::int64_t last_event = 0;
  std::string path;         // per-range output file; empty (and not written) under `failed`
  std::string output_guid;  // only under `merging`: GUID of the output (written as "guid" when set)
  bool operator==(const range_record&) const = default;
};

// {path, guid} of a final merged file.
struct merged_record {
  std::string path;
  std::string guid;
  bool operator==(const merged_record&) const = default;
};

using range_map = std::map<std::string, range_record>;  // eventRangeID -> entry

struct checkpoint {
  // input LFN -> ranges finished (with their output path) and not yet merged
  std::map<std::string, range_map> simulated;
  // input LFN -> output name -> ranges merged into it; only while some outputs of the input are not merged
  std::map<std::string, std::map<std::string, range_map>> merging;
  // input LFN -> output name -> final file; once every output holding the input's events is merged
  std::map<std::string, std::map<std::string, merged_record>> merged;
  // input LFN -> ranges of failed merge groups (no path)
  std::map<std::string, range_map> failed;
  bool operator==(const checkpoint&) const = default;
};

// The state.json object: {"simulated": .., "merging": .., "merged": .., "failed": ..}.
boost::json::object to_json(const checkpoint& cp);

// Accepts what the original wrote (startEvent/lastEvent as numbers or numeric strings, also the older
// list form of `merged`, and absent sections). Errors name `origin`, the key path and what was expected.
rty::result<checkpoint> checkpoint_from_json(const boost::json::value& v, std::string_view origin);

// state.json written piece by piece, in exactly the bytes boost::json::serialize(to_json(..)) gives
// (compact, same escaping), handed to `sink` in chunks of about `chunk` bytes: the state.json of a
// 10 M-range job is gigabytes as a document, megabytes as a stream. The caller emits keys and values in
// to_json()'s order (sections simulated, merging, merged, failed; keys sorted as std::map sorts them).
class json_stream {
 public:
  using sink = std::function<bool(std::string_view)>;  // false: stop writing (the error is the sink's)
  explicit json_stream(sink s, std::size_t chunk = std::size_t(1) << 20);

  void begin_object();  // at the top, or as the value of the last key()
  void end_object();
  void key(std::string_view k);
  void value(std::string_view s);
  void value(std::int64_t n);
  // `id`: {"eventRangeID": id, "startEvent": .., "lastEvent": .., ["path": ..], ["guid": ..]}, with
  // "path" when `path` is not null and "guid" when `guid` is not empty (range_to_json's rules).
  void range(std::string_view id, std::int64_t start, std::int64_t last, const std::string_view* path,
             std::string_view guid);
  // Flushes what is buffered; false if the sink failed now or earlier.
  bool finish();

 private:
  void separate();
  void quoted(std::string_view s);
  void maybe_flush() {
    if (buf_.size() >= chunk_) flush();
  }
  void flush();

  sink sink_;
  std::size_t chunk_;
  std::string buf_;
  std::uint64_t has_member_ = 0;  // bit d: the object at depth d already has a member
  int depth_ = 0;
  bool failed_ = false;
};

// Writes `path` atomically (path.tmp, fsync, rename) with what `emit` streams; like save_checkpoint().
rty::result<void> save_checkpoint_streamed(const std::string& path, const std::function<void(json_stream&)>& emit);

// Writes `path` atomically (path.tmp, fsync, rename). On failure the previous file is intact; the error
// names the file and the cause, and its code is the errno of the step that failed (ENOSPC, EDQUOT: the
// storage refused the write).
rty::result<void> save_checkpoint(const checkpoint& cp, const std::string& path);

// Missing file -> nullopt. Like the original, falls back to path + ".tmp" only when `path` itself is
// missing. A file that exists but cannot be read or parsed is an error (never silently "no progress").
rty::result<std::optional<checkpoint>> load_checkpoint(const std::string& path);

}  // namespace rty::bookkeeping
