#include "harvester/worker_heartbeat.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <ctime>

#include "common/utc_time.hpp"

namespace rty::harvester {

heartbeat_plan plan_heartbeat(std::optional<int> limit_minutes, std::chrono::seconds configured) {
  heartbeat_plan p;
  if (!limit_minutes || *limit_minutes <= 0) return p;
  const std::chrono::seconds limit{std::int64_t{*limit_minutes} * 60};
  const std::chrono::seconds most = std::max<std::chrono::seconds>(std::chrono::seconds{1}, limit / 3);
  p.every = std::clamp(configured, std::chrono::seconds{1}, most);
  if (configured > most)
    p.note = "harvester.heartbeatinterval " + std::to_string(configured.count()) + " s is too long for the queue's " +
             "worker_heartbeat of " + std::to_string(*limit_minutes) + " min; the heartbeat is written every " +
             std::to_string(p.every.count()) + " s";
  return p;
}

std::string heartbeat_body(const heartbeat_state& s) {
  const std::time_t t = std::chrono::system_clock::to_time_t(s.now);
  boost::json::object o;
  o["time"] = format_utc(s.now, "%Y-%m-%dT%H:%M:%SZ");
  o["unixtime"] = static_cast<std::int64_t>(t);
  o["state"] = s.state;
  o["PandaID"] = s.panda_id;
  o["ranges_done"] = s.ranges_done;
  o["ranges_total"] = s.ranges_total;
  return boost::json::serialize(o) + "\n";
}

}  // namespace rty::harvester
