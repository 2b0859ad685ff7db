#pragma once
// The worker heartbeat Harvester's monitor checks when the queue's messenger sets worker_heartbeat
// (minutes): a worker whose heartbeatFile (default worker_heartbeat.json in the access point) is older
// than that, or absent once the worker is that old, is killed (harvesterbody/monitor.py,
// shared_file_messenger.py is_alive: only the file's mtime counts). raythenad rewrites the file,
// atomically, while the run lives. Sans-I/O: the daemon owns the timer and the write.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rty::harvester {

struct heartbeat_plan {
  std::chrono::seconds every{0};  // 0: no heartbeat (the queue asks for none)
  std::string note;               // non-empty: the configured interval was shortened, and why
};

// `limit_minutes`: the queue's worker_heartbeat; `configured`: harvester.heartbeatinterval. The file
// is refreshed at least three times per limit, so one late write (a slow file system) is not fatal.
heartbeat_plan plan_heartbeat(std::optional<int> limit_minutes, std::chrono::seconds configured);

struct heartbeat_state {
  std::chrono::system_clock::time_point now;
  std::string_view state;  // the run's phase: awaiting_job, running, draining, ...
  std::string_view panda_id;
  std::uint64_t ranges_done = 0;
  std::uint64_t ranges_total = 0;
};

// {"time": "2026-12-02T05:01:13Z", "unixtime": 1796187673, "state": "running", "PandaID": "...",
//  "ranges_done": 10, "ranges_total": 200} and a newline.
std::string heartbeat_body(const heartbeat_state& s);

}  // namespace rty::harvester
