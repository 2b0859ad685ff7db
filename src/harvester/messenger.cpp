#include "harvester/messenger.hpp"

#include "common/dir_policy.hpp"
#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/log.hpp"
#include "common/safe_name.hpp"
#include "common/utc_time.hpp"
#include "harvester/job_spec_parser.hpp"

#include <boost/json.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace rty::harvester {
namespace {

constexpr const char* component = "HarvesterMessenger";
using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::seconds;

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

long long secs(clock::duration d) { return duration_cast<seconds>(d).count(); }

std::string utc_stamp() { return format_utc(std::chrono::system_clock::now(), "%Y%m%dT%H%M%SZ"); }

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// Numeric IDs go to Harvester as JSON numbers (it applies int() anyway); anything else stays text.
boost::json::value id_value(const std::string& s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return v;
  return boost::json::value(s);
}

// Writes and fsyncs `path` (no rename): the caller publishes it with its own rename rule. Whatever is
// at `path` is removed first and the file is created exclusively, without following a symlink: a
// file or link another user planted under this fixed name is never written through (issue 13).
rty::result<void> write_synced(const std::string& path, std::string_view content) {
  auto failed = [&](std::error_code ec) { return rty::fail(ec, "cannot write " + path + ": " + ec.message()); };
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) return failed({errno, std::generic_category()});
  const char* p = content.data();
  std::size_t left = content.size();
  while (left > 0) {
    ssize_t w = ::write(fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::error_code ec{errno, std::generic_category()};
      ::close(fd);
      return failed(ec);
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  std::error_code ec;
  if (::fsync(fd) != 0) ec = {errno, std::generic_category()};
  if (::close(fd) != 0 && !ec) ec = {errno, std::generic_category()};
  if (ec) return failed(ec);
  return {};
}

// Checks one answer entry and turns it into what pilot receives.
rty::result<rty::event_range> to_range(const boost::json::value& v, const std::string& endpoint) {
  if (!v.is_object()) return rty::fail("a range is not a JSON object");
  const auto& o = v.as_object();
  rty::event_range r;
  auto id = rty::json::get_string(o, "eventRangeID");
  auto start = rty::json::get_int(o, "startEvent");
  auto last = rty::json::get_int(o, "lastEvent");
  auto pfn = rty::json::get_string(o, "PFN");
  if (!pfn || pfn->empty()) pfn = rty::json::get_string(o, "LFN");
  auto guid = rty::json::get_string(o, "GUID");
  if (!id || id->empty() || !start || !last || !pfn || pfn->empty())
    return rty::fail("range " + boost::json::serialize(v) + " lacks eventRangeID, startEvent, lastEvent or LFN/PFN");
  // Range ids, LFNs and GUIDs end up in file names (per-range outputs, the pool catalog); a PFN is a
  // path but may not climb with '..' or carry control characters (issue 13).
  auto lfn = rty::json::get_string(o, "LFN");
  std::optional<std::string> bad = rty::names::check("eventRangeID", *id);
  if (!bad && lfn && !lfn->empty()) bad = rty::names::check("LFN", *lfn);
  if (!bad && guid && !guid->empty()) bad = rty::names::check("GUID", *guid);
  if (!bad) bad = rty::names::check_path("PFN", *pfn);
  if (bad) return rty::fail("range " + rty::names::escaped(*id) + ": " + *bad);
  r.id = *id;
  r.start_event = *start;
  r.last_event = *last;
  r.pfn = rty::file::join(endpoint, *pfn);  // relative names are relative to the access point
  r.guid = guid.value_or("");
  return r;
}

// R5: ranges are claimed by renaming to -N, N = largest existing + 1 (archives survive restarts).
long long next_archive_number(const std::string& path) {
  long long next = 0;
  const std::string dir = dir_of(path), prefix = base_of(path) + "-";
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* ent = ::readdir(d)) {
      std::string_view name = ent->d_name;
      if (name.substr(0, prefix.size()) != prefix) continue;
      auto digits = name.substr(prefix.size());
      long long n = 0;
      auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec == std::errc() && p == digits.data() + digits.size() && !digits.empty()) next = std::max(next, n + 1);
    }
    ::closedir(d);
  }
  return next;
}

}  // namespace

boost::json::object dump_entry(const rty::range_update& u) {
  boost::json::object e;
  e["eventRangeID"] = u.range_id;
  e["eventStatus"] = std::string(to_string(u.status));
  if (!u.path.empty()) {
    e["path"] = u.path;
    e["type"] = u.type.empty() ? std::string("es_output") : u.type;  // Harvester needs a type with a path
    if (!u.chksum.empty()) e["chksum"] = u.chksum;
    if (u.fsize >= 0) e["fsize"] = u.fsize;
  }
  return e;
}

rty::result<ranges_answer> parse_ranges_answer(const boost::json::value& answer, std::string_view panda_id,
                                               const std::string& origin, const std::string& endpoint) {
  auto error = [](std::string message) { return rty::fail(std::move(message)); };
  if (!answer.is_object()) return error(origin + ": not a JSON object {PandaID: [ranges]}");
  ranges_answer out;
  out.panda_id = std::string(panda_id);
  for (const auto& [key, list] : answer.as_object()) {
    // An empty key names no job: never take it as ours, even before we know our PandaID.
    if (key.empty() || (!panda_id.empty() && key != panda_id)) continue;
    if (!list.is_array()) return error(origin + ": entry for " + std::string(key) + " is not a list");
    out.present = true;
    for (const auto& v : list.as_array()) {
      auto r = to_range(v, endpoint);
      if (!r) return error(origin + ": " + r.error().message());
      out.ranges.push_back(std::move(*r));
    }
    if (out.panda_id.empty()) out.panda_id = std::string(key);
    break;
  }
  return out;
}

bool is_status_dump(const boost::json::value& v) {
  if (!v.is_object()) return false;
  for (const auto& [k, list] : v.as_object())
    if (!list.is_array()) return false;
  return true;
}

messenger::messenger(messenger_files files, messenger_options opts) : files_(std::move(files)), opts_(opts) {}

bool messenger::should_log(log_gate& gate, int topic, clock::time_point now) const {
  if (gate.at && gate.topic == topic && now - *gate.at < opts_.log_interval) return false;
  gate.at = now;
  gate.topic = topic;
  return true;
}

messenger::read_outcome messenger::read_stable(const std::string& path, std::uint64_t cap, std::string_view kind,
                                               stable_reader& r, clock::time_point now, bool cgi) {
  auto sig = [&]() {
    struct stat st {};
    file_sig s;
    if (::stat(path.c_str(), &st) != 0) return s;
    s.exists = true;
    s.size = st.st_size;
    s.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
    return s;
  };
  read_outcome out;
  file_sig before = sig();
  if (!before.exists) {
    r.reset();
    return out;
  }
  auto text = read_capped(path, cap, kind);
  if (!text && too_big(text.error())) {
    r.reset();
    out.state = read_state::too_big;
    out.problem = text.error().message();
    return out;
  }
  file_sig after = sig();
  if (!text || !after.exists) {
    r.reset();
    return out;  // vanished under us: look again later
  }
  auto value = cgi ? cgi_job_spec_to_json(*text, path) : rty::json::parse(*text, path);
  if (!value) {
    if (!r.bad_since) r.bad_since = now;
    r.last_good.reset();
    r.last_problem = value.error().message();
    out.state = read_state::bad;
    out.problem = value.error().message();
    return out;
  }
  r.bad_since.reset();
  r.backoff = milliseconds{0};
  if (!(before == after)) {  // changed while we read it: the writer is active
    r.last_good.reset();
    out.state = read_state::unstable;
    return out;
  }
  // Unchanged across two polls, or untouched for opts_.settled_after (a pre-staged spec is typically
  // minutes old): either way the writer is done with it (R2), and start-up need not wait a poll.
  const auto age = std::chrono::system_clock::now().time_since_epoch() - std::chrono::nanoseconds(after.mtime_ns);
  if ((r.last_good && *r.last_good == after) || age >= opts_.settled_after) {
    out.state = read_state::complete;
    out.value = std::move(*value);
    return out;
  }
  r.last_good = after;  // complete only if unchanged at the next poll (R2)
  out.state = read_state::unstable;
  return out;
}

std::chrono::milliseconds messenger::bad_delay(stable_reader& r) {
  r.backoff = r.backoff.count() == 0 ? opts_.poll_interval : std::min(r.backoff * 2, opts_.max_backoff);
  return r.backoff;
}

std::string messenger::quarantine(const std::string& path) {
  std::string target = path + ".corrupt." + utc_stamp();
  for (int i = 1; exists(target); ++i) target = path + ".corrupt." + utc_stamp() + "." + std::to_string(i);
  if (::rename(path.c_str(), target.c_str()) != 0) {
    RTY_LOG(error, component) << "cannot rename corrupt '" << path << "' to '" << target << "': " << std::strerror(errno);
    return path;
  }
  return target;
}

rty::result<void> messenger::write_job_request() {
  // The ten empty Pilot2 getJob fields, as Raythena writes them (§3.1).
  static const char* request =
      R"({"node": "", "diskSpace": "", "workingGroup": "", "prodSourceLabel": "", "computingElement": "", )"
      R"("siteName": "", "resourceType": "", "mem": "", "cpu": "", "allowOtherCountry": ""})";
  return rty::file::write_atomic(files_.job_request, request);
}

// The first poll: reads a pre-staged spec, resumes from a .read one (R6), or requests a job. A value
// when the poll is decided here.
std::optional<job_poll_result> messenger::start_job_wait(clock::time_point now, const std::string& read_path) {
  job_phase_ = job_phase::waiting;
  job_started_ = now;
  job_requested_at_ = now;
  if (exists(files_.job_spec)) {
    RTY_LOG(info, component) << "job spec " << files_.job_spec << " is pre-staged; reading it";
  } else if (exists(read_path)) {
    // R6: a restart in the same worker. Requesting now would make Harvester feed a second job (refill trap).
    auto text = read_capped(read_path, opts_.max_job_spec_bytes, "job spec");
    if (!text)
      return failed{text.error().message() + (too_big(text.error()) ? "; the file is left in place for an operator" : "")};
    auto job = files_.spec_format == job_spec_format::cgi ? parse_job_spec_cgi_text(*text, read_path)
                                                          : parse_job_spec_text(*text, read_path);
    if (!job) return failed{job.error().message()};
    RTY_LOG(warning, component) << "only " << read_path << " is present (earlier run in this worker): resuming job "
                                << job->panda_id << " from it, no new job request";
    job_phase_ = job_phase::delivered;
    ranges_panda_id_ = job->panda_id;
    return job_ready{std::move(*job), read_path};
  } else if (exists(files_.job_request)) {
    RTY_LOG(warning, component) << "job request " << files_.job_request
                                << " from an earlier run is still pending; waiting for its answer " << files_.job_spec;
    wrote_job_request_ = true;
  } else {
    if (auto r = write_job_request(); !r) return failed{"cannot write job request: " + r.error().message()};
    wrote_job_request_ = true;
    RTY_LOG(info, component) << "requested a job: wrote " << files_.job_request << ", waiting for " << files_.job_spec;
  }
  return std::nullopt;
}

std::string messenger::job_timeout_message(clock::time_point now) const {
  return "no usable job from Harvester after " + std::to_string(secs(now - job_started_)) + " s: " +
         files_.job_spec + (exists(files_.job_spec) ? " is present but never became complete valid JSON (" +
                                                           spec_reader_.last_problem + ")"
                                                     : " never appeared") +
         "; job request " + files_.job_request + (exists(files_.job_request) ? " is still pending" : " is gone") +
         " (harvester job timeout " + std::to_string(opts_.job_timeout.count()) + " s)";
}

// No job spec yet: the request is written again when Harvester took it without answering.
job_poll_result messenger::job_spec_absent(clock::time_point now) {
  bool request_present = exists(files_.job_request);
  if (!request_present && job_requested_at_ && now - *job_requested_at_ >= opts_.rerequest_after) {
    if (auto r = write_job_request(); !r) {
      RTY_LOG(error, component) << "cannot write job request again: " << r.error();
    } else {
      RTY_LOG(warning, component) << "no answer " << files_.job_spec << " " << secs(now - *job_requested_at_)
                                  << " s after the request and the request is gone: wrote "
                                  << files_.job_request << " again";
      wrote_job_request_ = true;
    }
    job_requested_at_ = now;
  }
  std::string what = "waiting for job spec " + files_.job_spec + " (" +
                     (request_present ? "request " + files_.job_request + " pending"
                                      : std::string("no request file: Harvester took it or the job is pre-staged")) +
                     ", " + std::to_string(secs(now - job_started_)) + " s so far)";
  if (should_log(job_log_, 1, now)) {
    RTY_LOG(info, component) << what;
  }
  return waiting{what, opts_.poll_interval};
}

// A job spec that does not parse: retried, and quarantined (and the job requested again) after corrupt_after.
job_poll_result messenger::job_spec_bad(clock::time_point now, const std::string& problem) {
  if (now - *spec_reader_.bad_since >= opts_.corrupt_after) {
    auto moved = quarantine(files_.job_spec);
    RTY_LOG(error, component) << files_.job_spec << " stayed unparsable for " << secs(now - *spec_reader_.bad_since)
                              << " s (" << problem << "): moved to " << moved << ", requesting the job again";
    spec_reader_.reset();
    if (auto r = write_job_request(); !r) return failed{"cannot write job request: " + r.error().message()};
    wrote_job_request_ = true;
    job_requested_at_ = now;
    return waiting{"job spec was corrupt; requested again", opts_.poll_interval};
  }
  if (should_log(job_log_, 2, now)) {
    RTY_LOG(warning, component) << "job spec not readable yet (half-written?), retrying: " << problem;
  }
  return waiting{"job spec " + files_.job_spec + " does not parse yet: " + problem, bad_delay(spec_reader_)};
}

// R3: with late binding the feed is over when pandaIDsFile exists or the request is gone; the input
// symlinks are written before pandaIDsFile. A value while we still wait for it.
std::optional<waiting> messenger::wait_for_feed(clock::time_point now) {
  if (!(wrote_job_request_ && !files_.pandaids.empty() && exists(files_.job_request) && !exists(files_.pandaids)))
    return std::nullopt;
  if (!feed_wait_since_) feed_wait_since_ = now;
  if (now - *feed_wait_since_ < opts_.corrupt_after) {
    std::string what = "job spec " + files_.job_spec + " is complete; waiting for Harvester to finish the feed (" +
                       files_.pandaids + " absent, request still present)";
    if (should_log(job_log_, 3, now)) {
      RTY_LOG(info, component) << what;
    }
    return waiting{what, opts_.poll_interval};
  }
  RTY_LOG(warning, component) << "Harvester did not finish the feed within " << opts_.corrupt_after.count()
                              << " s (" << files_.pandaids << " absent); using the job spec anyway";
  return std::nullopt;
}

// Claims the job spec by renaming it to .read and removes the request.
job_poll_result messenger::claim_job(rty::job_spec job, const std::string& read_path) {
  if (::rename(files_.job_spec.c_str(), read_path.c_str()) != 0)
    return failed{"cannot claim job spec: rename '" + files_.job_spec + "' to '" + read_path + "': " + std::strerror(errno)};
  if (::unlink(files_.job_request.c_str()) != 0 && errno != ENOENT) {
    RTY_LOG(warning, component) << "cannot remove " << files_.job_request << ": " << std::strerror(errno);
  }
  RTY_LOG(info, component) << "got job " << job.panda_id << " (task " << job.task_id << ", " << job.in_files.size()
                           << " inputs) from " << files_.job_spec << ", claimed as " << read_path;
  job_phase_ = job_phase::delivered;
  ranges_panda_id_ = job.panda_id;
  return job_ready{std::move(job), read_path};
}

job_poll_result messenger::poll_job(clock::time_point now) {
  if (job_phase_ == job_phase::delivered)
    return failed{"the job from " + files_.job_spec + " was already delivered; a job is queued only once"};
  const std::string read_path = files_.job_spec + ".read";
  if (job_phase_ == job_phase::start)
    if (auto decided = start_job_wait(now, read_path)) return std::move(*decided);
  if (opts_.job_timeout.count() > 0 && now - job_started_ >= opts_.job_timeout) return failed{job_timeout_message(now)};

  auto out = read_stable(files_.job_spec, opts_.max_job_spec_bytes, "job spec", spec_reader_, now,
                         files_.spec_format == job_spec_format::cgi);
  switch (out.state) {
    case read_state::too_big:
      return failed{out.problem + "; the file is left in place for an operator"};
    case read_state::absent:
      return job_spec_absent(now);
    case read_state::unstable:
      return waiting{"job spec " + files_.job_spec + " is being written; reading it again to see it stable",
                     spec_reader_.last_good ? std::min(opts_.confirm_interval, opts_.poll_interval) : opts_.poll_interval};
    case read_state::bad:
      return job_spec_bad(now, out.problem);
    case read_state::complete:
      break;
  }
  auto job = parse_job_spec(out.value, files_.job_spec);
  if (!job) return failed{job.error().message()};
  if (auto w = wait_for_feed(now)) return std::move(*w);
  return claim_job(std::move(*job), read_path);
}

rty::result<void> messenger::write_ranges_request() {
  return rty::file::write_atomic(files_.event_request, boost::json::serialize(ranges_request_));
}

rty::result<bool> messenger::request_ranges(const std::string& panda_id, int n_ranges,
                                                                   const std::string& task_id,
                                                                   const std::string& jobset_id, clock::time_point now) {
  if (!ranges_startup_checked_) {
    ranges_startup_checked_ = true;
    if (exists(files_.event_ranges)) {
      RTY_LOG(warning, component) << files_.event_ranges
                                  << " is present before our first request (earlier run or prefetch): consuming it first";
    } else if (exists(files_.event_request)) {
      RTY_LOG(warning, component) << "event request " << files_.event_request
                                  << " from an earlier run is pending: waiting for its answer";
    }
  }
  ranges_panda_id_ = panda_id;
  if (exists(files_.event_ranges) || exists(files_.event_request)) return false;
  boost::json::object body;
  body["pandaID"] = panda_id;
  body["nRanges"] = n_ranges;
  body["taskID"] = id_value(task_id);
  body["jobsetID"] = id_value(jobset_id);
  ranges_request_ = boost::json::object{{panda_id, std::move(body)}};
  if (auto r = write_ranges_request(); !r) return rty::fail("cannot write event request: " + r.error().message());
  ranges_requested_at_ = now;
  RTY_LOG(debug, component) << "requested " << n_ranges << " event ranges for " << panda_id << " in "
                            << files_.event_request;
  return true;
}

// Writes the last event request again (the watchdog), unless none was made yet.
void messenger::rerequest_ranges(const char* why, clock::time_point now) {
  if (ranges_request_.empty()) return;
  if (auto r = write_ranges_request(); !r) {
    RTY_LOG(error, component) << "cannot write event request again: " << r.error();
    return;
  }
  RTY_LOG(warning, component) << why << ": wrote " << files_.event_request << " again";
  ranges_requested_at_ = now;
}

ranges_poll_result messenger::ranges_absent(clock::time_point now) {
  ranges_bad_since_.reset();
  bool request_present = exists(files_.event_request);
  if (!request_present && ranges_requested_at_ && now - *ranges_requested_at_ >= opts_.rerequest_after)
    rerequest_ranges("no event ranges and the request is gone (Harvester deleted it without answering)", now);
  std::string what = "waiting for event ranges " + files_.event_ranges +
                     (request_present ? " (request " + files_.event_request + " pending)" : std::string(" (no request pending)"));
  if (ranges_requested_at_ && should_log(ranges_log_, 4, now)) {
    RTY_LOG(info, component) << what << ", " << secs(now - *ranges_requested_at_) << " s since the request";
  }
  return waiting{what, opts_.poll_interval};
}

// Bad JSON and a wrong shape share one clock: both end in quarantine after corrupt_after.
ranges_poll_result messenger::ranges_unusable(clock::time_point now, const std::string& problem) {
  if (!ranges_bad_since_) ranges_bad_since_ = now;
  if (now - *ranges_bad_since_ >= opts_.corrupt_after) {
    auto moved = quarantine(files_.event_ranges);
    RTY_LOG(error, component) << "event ranges unusable for " << secs(now - *ranges_bad_since_) << " s ("
                              << problem << "): moved to " << moved;
    ranges_reader_.reset();
    ranges_bad_since_.reset();
    if (!exists(files_.event_request)) rerequest_ranges("after a corrupt answer", now);
    return waiting{"event ranges were corrupt; requested again", opts_.poll_interval};
  }
  if (should_log(ranges_log_, 5, now)) {
    RTY_LOG(warning, component) << "event ranges not usable yet, retrying: " << problem;
  }
  return waiting{problem, bad_delay(ranges_reader_)};
}

// Claims a usable answer by renaming it to the next archive name and removes the request.
ranges_poll_result messenger::claim_ranges(const boost::json::value& value, ranges_answer answer, clock::time_point now) {
  const std::string archived = files_.event_ranges + "-" + std::to_string(next_archive_number(files_.event_ranges));
  if (::rename(files_.event_ranges.c_str(), archived.c_str()) != 0)
    return failed{"cannot claim event ranges: rename '" + files_.event_ranges + "' to '" + archived + "': " + std::strerror(errno)};
  if (::unlink(files_.event_request.c_str()) != 0 && errno != ENOENT) {
    RTY_LOG(warning, component) << "cannot remove " << files_.event_request << ": " << std::strerror(errno);
  }
  ranges_reader_.reset();
  ranges_bad_since_.reset();
  if (ranges_panda_id_.empty()) ranges_panda_id_ = answer.panda_id;
  for (const auto& [key, list] : value.as_object())
    if (!ranges_panda_id_.empty() && key != ranges_panda_id_) {
      RTY_LOG(warning, component) << archived << ": ranges for unknown PandaID " << std::string(key) << " ignored";
    }
  if (!answer.present) {
    ranges_requested_at_.reset();
    rerequest_ranges("answer held no ranges for our job", now);
    return waiting{archived + " held no ranges for PandaID " + ranges_panda_id_, opts_.poll_interval};
  }
  ranges_requested_at_.reset();
  RTY_LOG(info, component) << "got " << answer.ranges.size() << " event ranges for " << ranges_panda_id_
                           << " (archived as " << archived << ")" << (answer.ranges.empty() ? ": no more events" : "");
  return ranges_ready{ranges_panda_id_, std::move(answer.ranges), archived};
}

ranges_poll_result messenger::poll_ranges(clock::time_point now) {
  auto out = read_stable(files_.event_ranges, opts_.max_event_ranges_bytes, "event ranges file", ranges_reader_, now);
  std::string problem;
  switch (out.state) {
    case read_state::too_big:
      return failed{out.problem + "; the file is left in place for an operator"};
    case read_state::absent:
      return ranges_absent(now);
    case read_state::unstable:
      return waiting{"event ranges " + files_.event_ranges + " are being written", opts_.poll_interval};
    case read_state::bad:
      return ranges_unusable(now, out.problem);
    case read_state::complete:
      break;
  }
  auto parsed = parse_ranges_answer(out.value, ranges_panda_id_, files_.event_ranges, files_.endpoint);
  if (!parsed) return ranges_unusable(now, parsed.error().message());
  return claim_ranges(out.value, std::move(*parsed), now);
}

void messenger::queue_update(const std::string& panda_id, const std::vector<rty::range_update>& updates) {
  auto& list = pending_[panda_id];
  for (const auto& u : updates) list.push_back(dump_entry(u));
}

std::size_t messenger::pending_updates() const {
  std::size_t n = 0;
  for (const auto& [k, v] : pending_) n += v.size();
  return n;
}

bool messenger::take_into_pending(const std::string& path) {
  auto text = read_capped(path, opts_.max_status_dump_bytes, "event status dump");
  if (!text && too_big(text.error())) {
    auto moved = quarantine(path);
    RTY_LOG(critical, component) << text.error() << "; not merged: its updates are not published, file kept as " << moved;
    return false;
  }
  std::string what = text.error().message();
  std::optional<boost::json::value> v;
  if (text) {
    if (auto parsed = rty::json::parse(*text, path)) v = std::move(*parsed);
    else what = parsed.error().message();
  }
  if (!v || !is_status_dump(*v)) {
    auto moved = quarantine(path);
    RTY_LOG(critical, component) << "cannot merge " << path << " ("
                                 << (what.empty() ? std::string("not an object of lists") : what)
                                 << "): its updates are lost, file kept as " << moved;
    return false;
  }
  // Older entries first: Harvester applies them in order.
  for (const auto& [k, list] : v->as_object()) {
    auto& mine = pending_[std::string(k)];
    boost::json::array merged = list.as_array();
    for (auto& e : mine) merged.push_back(std::move(e));
    mine = std::move(merged);
  }
  return true;
}

flush_result messenger::flush_updates(clock::time_point now, bool force) {
  const std::string& dump = files_.event_status_dump;
  const std::string tmp = dump + ".tmp";
  flush_result res;
  if (!dump_startup_checked_) {
    dump_startup_checked_ = true;
    // R6: a dump.tmp (or a private copy of a taken dump) left by an earlier run holds unpublished updates.
    std::vector<std::string> leftovers;
    if (exists(tmp)) leftovers.push_back(tmp);
    const std::string dir = dir_of(dump), prefix = base_of(dump) + ".merge.";
    if (DIR* d = ::opendir(dir.c_str())) {
      while (auto* ent = ::readdir(d))
        if (std::string_view(ent->d_name).substr(0, prefix.size()) == prefix) leftovers.push_back(rty::file::join(dir, ent->d_name));
      ::closedir(d);
    }
    for (const auto& f : leftovers) {
      if (auto planted = rty::file::planted_file(f)) {  // not a plain file of ours: not our updates
        RTY_LOG(error, component) << "ignoring " << f << ": " << *planted;
        continue;
      }
      RTY_LOG(warning, component) << "found " << f << " from an earlier run: merging it into the next status dump";
      if (take_into_pending(f)) ::unlink(f.c_str());
    }
  }
  if (pending_.empty()) return res;
  res.pending = true;
  if (!force && last_flush_ && now - *last_flush_ < opts_.flush_interval) return res;

  for (int attempt = 0; attempt < 5; ++attempt) {
    // Take an unclaimed dump: renaming it first means Harvester cannot claim it while we merge; if the
    // rename fails, Harvester already has it.
    const std::string taken = dump + ".merge." + std::to_string(::getpid()) + "." + std::to_string(take_counter_++);
    if (::rename(dump.c_str(), taken.c_str()) == 0) {
      RTY_LOG(info, component) << "merging unclaimed " << dump << " into our update";
      if (take_into_pending(taken)) taken_dumps_.push_back(taken);
    }
    boost::json::object content;
    std::size_t count = 0;
    for (const auto& [k, list] : pending_) {
      content[k] = list;
      count += list.size();
    }
    if (auto written = write_synced(tmp, boost::json::serialize(content)); !written) {
      res.error = written.error().message();
      RTY_LOG(error, component) << res.error << "; updates kept for the next flush";
      ::unlink(tmp.c_str());
      return res;
    }
    int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, dump.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
      // Filesystem without RENAME_NOREPLACE (some parallel filesystems): check, then rename.
      rc = exists(dump) ? -1 : ::rename(tmp.c_str(), dump.c_str());
      if (rc != 0 && exists(dump)) errno = EEXIST;
    }
    if (rc == 0) {
      for (const auto& f : taken_dumps_) ::unlink(f.c_str());
      taken_dumps_.clear();
      pending_.clear();
      last_flush_ = now;
      res.published = count;
      res.pending = false;
      RTY_LOG(info, component) << "published " << count << " event updates in " << dump;
      return res;
    }
    if (errno != EEXIST) {
      res.error = "cannot publish " + tmp + " as " + dump + ": " + std::strerror(errno);
      RTY_LOG(error, component) << res.error << "; updates kept for the next flush";
      ::unlink(tmp.c_str());
      return res;
    }
    // A dump appeared meanwhile (Harvester post-processing writes one in place): take it too.
  }
  ::unlink(tmp.c_str());
  res.error = dump + " keeps reappearing; updates kept for the next flush";
  RTY_LOG(warning, component) << res.error;
  return res;
}

rty::result<void> write_task_workdir_path(const std::string& endpoint, const std::string& task_dir) {
  return rty::file::write_atomic(rty::file::join(endpoint, "task_workdir_path.txt"), task_dir);
}

rty::result<void> write_job_report(const messenger_files& files, const boost::json::value& report) {
  return rty::file::write_atomic(files.job_report, boost::json::serialize(report));
}

}  // namespace rty::harvester
