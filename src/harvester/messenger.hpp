#pragma once
// Harvester's shared-file messenger, the raythenad side (docs/harvester-files.md).
//
// Poll-driven and clock-injected: the coordinator calls poll_job / poll_ranges / flush_updates from
// timers on its event loop with the current steady_clock time, and re-arms the timer with the returned
// delay. Each call does a few plain file-system operations and never blocks or sleeps, so tests drive
// it with a fake clock and a temp directory.
#include "common/event_range.hpp"
#include "common/job_spec.hpp"
#include "harvester/capped_read.hpp"
#include "harvester/harvester_config.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace rty::harvester {

using clock = std::chrono::steady_clock;

struct messenger_options {
  std::chrono::seconds job_timeout{0};         // 0 = wait for the job forever (as today)
  std::chrono::seconds rerequest_after{1200};  // R4: request gone and no answer for this long → write it again
  std::chrono::seconds corrupt_after{600};     // R2: unparsable for this long → rename .corrupt.<ts>, re-request
  std::chrono::seconds flush_interval{300};    // R7: status dumps at most this often (first one at once)
  std::chrono::seconds log_interval{60};       // "waiting for ..." log lines at most this often
  std::chrono::milliseconds poll_interval{500};  // file absent: next look after this
  std::chrono::milliseconds max_backoff{5000};   // R2: unparsable file: back off from poll_interval to this
  std::chrono::seconds settled_after{2};          // R2: a parsable file untouched this long is complete at once
  // R2: a fresh parsable job spec is read again this soon to see it unchanged (a spec written just
  // before the batch job started need not cost a whole poll_interval of start-up).
  std::chrono::milliseconds confirm_interval{50};
  // Size caps (issue 13): a bigger file is refused unread and left in place (capped_read.hpp).
  std::uint64_t max_job_spec_bytes = job_spec_max_bytes;          // over: poll_job fails (exit 5)
  std::uint64_t max_event_ranges_bytes = event_ranges_max_bytes;  // over: poll_ranges fails
  std::uint64_t max_status_dump_bytes = status_dump_max_bytes;    // over: the dump is quarantined, not merged
};

// Results of poll_job.
struct job_ready {
  rty::job_spec job;
  std::string path;  // the file the job was read from, after the claim (…/HPCJobs.json.read)
};
struct waiting {
  std::string what;                  // human-readable: which file we wait for and why
  std::chrono::milliseconds delay;   // poll again after this
};
struct failed {
  std::string message;  // ends the run (non-zero exit): names the file and the problem
};
using job_poll_result = std::variant<job_ready, waiting, failed>;

// Results of poll_ranges.
struct ranges_ready {
  std::string panda_id;
  std::vector<rty::event_range> ranges;  // empty: Harvester has no more events for this job
  std::string archived_as;               // …/JobsEventRanges.json-N
};
using ranges_poll_result = std::variant<ranges_ready, waiting, failed>;

// Result of flush_updates.
struct flush_result {
  std::size_t published = 0;  // entries now in the dump file (ours plus any merged unclaimed ones)
  bool pending = false;       // updates still held in memory (not due yet, or publishing failed)
  std::string error;          // non-empty: this attempt failed (logged); updates are kept for the next one
};

struct ranges_answer;

class messenger {
 public:
  messenger(messenger_files files, messenger_options opts = {});

  // Job (R1–R6, R9). Call until it returns job_ready or failed; a job is delivered at most once,
  // later calls return failed.
  job_poll_result poll_job(clock::time_point now);

  // Event ranges (optional feature, docs/harvester-files.md). Writes the request only if neither
  // the request nor an answer exists (an answer left by an earlier run is consumed first, R6).
  // Returns true if written, false if one is pending; error text if the write failed.
  rty::result<bool> request_ranges(const std::string& panda_id, int n_ranges,
                                                          const std::string& task_id, const std::string& jobset_id,
                                                          clock::time_point now);
  ranges_poll_result poll_ranges(clock::time_point now);

  // Event status dump (§3.3, R7). Updates are kept in memory until published.
  void queue_update(const std::string& panda_id, const std::vector<rty::range_update>& updates);
  // Publishes if due (first flush at once, then every flush_interval) or if `force` (shutdown).
  flush_result flush_updates(clock::time_point now, bool force);
  std::size_t pending_updates() const;

  const messenger_files& files() const { return files_; }

 private:
  struct file_sig {
    bool exists = false;
    long long size = 0;
    long long mtime_ns = 0;
    bool operator==(const file_sig&) const = default;
  };
  // R2 state for one Harvester-written file.
  struct stable_reader {
    std::optional<file_sig> last_good;  // signature at the last successful parse
    std::optional<clock::time_point> bad_since;
    std::chrono::milliseconds backoff{0};
    std::string last_problem;
    void reset() { *this = stable_reader{}; }
  };
  enum class read_state { absent, unstable, bad, too_big, complete };
  struct read_outcome {
    read_state state = read_state::absent;
    boost::json::value value;
    std::string problem;
  };
  // `cgi`: the text is Harvester's cgi job spec form (queue config jobSpecFileFormat), not JSON.
  read_outcome read_stable(const std::string& path, std::uint64_t cap, std::string_view kind, stable_reader& r,
                           clock::time_point now, bool cgi = false);
  std::chrono::milliseconds bad_delay(stable_reader& r);
  std::string quarantine(const std::string& path);
  // Rate limit: once per log_interval per topic, but at once when the topic changes.
  struct log_gate {
    std::optional<clock::time_point> at;
    int topic = -1;
  };
  bool should_log(log_gate& gate, int topic, clock::time_point now) const;
  rty::result<void> write_job_request();
  rty::result<void> write_ranges_request();
  bool take_into_pending(const std::string& path);
  // The parts of poll_job.
  std::optional<job_poll_result> start_job_wait(clock::time_point now, const std::string& read_path);
  std::string job_timeout_message(clock::time_point now) const;
  job_poll_result job_spec_absent(clock::time_point now);
  job_poll_result job_spec_bad(clock::time_point now, const std::string& problem);
  std::optional<waiting> wait_for_feed(clock::time_point now);
  job_poll_result claim_job(rty::job_spec job, const std::string& read_path);
  // The parts of poll_ranges.
  void rerequest_ranges(const char* why, clock::time_point now);
  ranges_poll_result ranges_absent(clock::time_point now);
  ranges_poll_result ranges_unusable(clock::time_point now, const std::string& problem);
  ranges_poll_result claim_ranges(const boost::json::value& value, ranges_answer answer, clock::time_point now);

  messenger_files files_;
  messenger_options opts_;

  // Job side.
  enum class job_phase { start, waiting, delivered };
  job_phase job_phase_ = job_phase::start;
  clock::time_point job_started_{};
  std::optional<clock::time_point> job_requested_at_;  // when we last wrote the request
  log_gate job_log_;
  bool wrote_job_request_ = false;                      // late binding: wait for the feed to finish (R3)
  std::optional<clock::time_point> feed_wait_since_;
  stable_reader spec_reader_;

  // Ranges side.
  std::string ranges_panda_id_;
  boost::json::object ranges_request_;  // what we last asked for, re-written by the watchdog
  std::optional<clock::time_point> ranges_requested_at_;
  log_gate ranges_log_;
  bool ranges_startup_checked_ = false;
  stable_reader ranges_reader_;
  std::optional<clock::time_point> ranges_bad_since_;

  // Dump side: PandaID → entries not yet published.
  std::map<std::string, boost::json::array> pending_;
  std::optional<clock::time_point> last_flush_;
  bool dump_startup_checked_ = false;
  std::vector<std::string> taken_dumps_;  // private copies of unclaimed dumps, deleted once published
  unsigned take_counter_ = 0;
};

// The pure part of poll_ranges (no files): checks Harvester's answer {PandaID: [ranges]}. With a
// known `panda_id` only that entry is read (others are left to the caller to log); with an empty one the
// first entry is taken and names the job. Relative PFN/LFN are joined to `endpoint`. Errors start with
// `origin` and name the entry or range that is wrong.
struct ranges_answer {
  std::string panda_id;                   // the job the ranges are for
  bool present = false;                   // the answer held an entry for it
  std::vector<rty::event_range> ranges;   // empty with present: no more events
};
rty::result<ranges_answer> parse_ranges_answer(const boost::json::value& answer,
                                                                    std::string_view panda_id,
                                                                    const std::string& origin,
                                                                    const std::string& endpoint);

// True when `v` has the shape of an event status dump, {PandaID: [entries]} (what we merge back, R6).
bool is_status_dump(const boost::json::value& v);

// Writes <endpoint>/task_workdir_path.txt = task_dir, without a trailing newline (Harvester does not
// strip it), atomically.
rty::result<void> write_task_workdir_path(const std::string& endpoint, const std::string& task_dir);

// Writes the final job report to the endpoint's jobReportFile (via .tmp), where Harvester reads it.
rty::result<void> write_job_report(const messenger_files& files, const boost::json::value& report);

// The dump entry Harvester expects for one update (§3.3): eventRangeID, eventStatus, and path/type/
// chksum/fsize when there is an output file.
boost::json::object dump_entry(const rty::range_update& u);

}  // namespace rty::harvester
