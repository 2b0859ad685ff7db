#include "pilot/time_monitor.hpp"

#include <charconv>
#include <ctime>
#include <vector>

namespace rty::pilot {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Digits only, at most 9 of them so that sums below cannot overflow.
bool to_number(std::string_view s, std::int64_t& out) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  std::from_chars(s.data(), s.data() + s.size(), out);
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (;;) {
    auto pos = s.find(sep);
    parts.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return parts;
    s.remove_prefix(pos + 1);
  }
}

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

rty::result<std::int64_t> parse_walltime(std::string_view text) {
  const auto s = trim(text);
  if (s == "UNLIMITED" || s == "INFINITE" || s == "NOT_SET" || s == "INVALID")
    return rty::fail("walltime " + quoted(s) + " has no finite limit; expected [D-]HH:MM:SS, MM:SS or minutes");
  const auto bad = [&] { return rty::fail("walltime " + quoted(s) + " is not [D-]HH:MM:SS, D-HH[:MM], MM:SS or minutes"); };

  std::int64_t days = 0;
  std::string_view clock = s;
  const bool has_days = s.find('-') != std::string_view::npos;
  if (has_days) {
    const auto dash = s.find('-');
    if (!to_number(s.substr(0, dash), days)) return bad();
    clock = s.substr(dash + 1);
  }
  const auto parts = split(clock, ':');
  if (parts.size() > 3) return bad();
  std::int64_t v[3] = {0, 0, 0};
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (!to_number(parts[i], v[i])) return bad();

  std::int64_t h = 0, m = 0, sec = 0;
  if (has_days) {
    // Slurm: D-H, D-H:M, D-H:M:S.
    h = v[0];
    m = parts.size() > 1 ? v[1] : 0;
    sec = parts.size() > 2 ? v[2] : 0;
    if (h >= 24) return bad();
  } else if (parts.size() == 1) {
    m = v[0];  // Slurm: plain minutes
  } else if (parts.size() == 2) {
    m = v[0];  // Raythena reads two fields as MM:SS
    sec = v[1];
  } else {
    h = v[0];
    m = v[1];
    sec = v[2];
  }
  const bool has_hours = has_days || parts.size() == 3;
  if (has_hours && m >= 60) return bad();
  if (parts.size() > 1 && sec >= 60) return bad();
  const std::int64_t total = ((days * 24 + h) * 60 + m) * 60 + sec;
  if (total <= 0) return rty::fail("walltime " + quoted(s) + " is zero");
  return total;
}

rty::result<time_monitor> parse_time_monitor(std::string_view text) {
  const auto lines = split(text, '\n');
  if (lines.size() < 2 || trim(lines[1]).empty())
    return rty::fail("time-monitor text has no second line (walltime); expected 'HH:MM:SS\\n[D-]HH:MM:SS'");

  const auto start = trim(lines[0]);
  const auto fields = split(start, ':');
  std::int64_t v[3];
  const auto bad_start = rty::fail("start time " + quoted(start) + " on line 1 is not HH:MM:SS (00:00:00..23:59:59)");
  if (fields.size() != 3) return bad_start;
  for (int i = 0; i < 3; ++i)
    if (!to_number(fields[i], v[i]) || fields[i].size() > 2) return bad_start;
  if (v[0] >= 24 || v[1] >= 60 || v[2] >= 60) return bad_start;

  auto limit = parse_walltime(lines[1]);
  if (!limit) return rty::fail("line 2: " + limit.error().message());
  return time_monitor{static_cast<int>(v[0] * 3600 + v[1] * 60 + v[2]), *limit};
}

std::chrono::system_clock::time_point kill_deadline(const time_monitor& monitor,
                                                    std::chrono::system_clock::time_point file_written_or_now,
                                                    std::chrono::seconds pilotkilltime) {
  const std::time_t ref = std::chrono::system_clock::to_time_t(file_written_or_now);
  std::tm ref_local{};
  localtime_r(&ref, &ref_local);

  const auto start_on = [&](int day_offset) {
    std::tm t = ref_local;
    t.tm_mday += day_offset;
    t.tm_hour = monitor.start_seconds_of_day / 3600;
    t.tm_min = monitor.start_seconds_of_day / 60 % 60;
    t.tm_sec = monitor.start_seconds_of_day % 60;
    t.tm_isdst = -1;  // let mktime pick the DST state valid on that day
    return std::mktime(&t);
  };
  // Equal times of day mean the job started just now (Raythena's `elapsed <= 0 → +24 h` would kill at once).
  std::time_t start = start_on(0);
  if (start > ref) start = start_on(-1);
  return std::chrono::system_clock::from_time_t(start) + std::chrono::seconds(monitor.limit_seconds) - pilotkilltime;
}

}  // namespace rty::pilot
