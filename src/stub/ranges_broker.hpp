#pragma once
// The stub's side of getEventRanges, without sockets or timers: which pilot request waits for which
// coordinator reply, when a wait must end, and what goes back to the coordinator when pilot is gone.
// The I/O shell (stub.cpp) owns one timer per waiting request and calls in here.
//
// The rule it keeps (coordinator/dispatch.hpp): a held getEventRanges blocks that pilot's reports
// (pilot3's communicator is one thread), so no wait may outlast pilot's patience. Every wait ends by
// its deadline, well inside pilot's curl --max-time (http_maxtime): pilot then gets [] for that
// request, which ends one AthenaMP worker, instead of a curl timeout, which costs the same worker
// and twice http_maxtime (pilot retries once).
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "protocol/messages.hpp"

namespace rty::stub {

// How long a getEventRanges may wait for the coordinator: half of pilot's http_maxtime, at most 60 s,
// at least 1 s. `http_maxtime` is [Pilot] http_maxtime of pilot's config, nullopt when unknown (120).
std::chrono::milliseconds hold_limit(std::optional<long> http_maxtime);

// [Pilot] http_maxtime from the text of a pilot config (read as configparser does, harvester/ini.hpp);
// nullopt when the file does not parse, or the key is absent or not a positive integer.
std::optional<long> pilot_http_maxtime(std::string_view config_text);

class ranges_broker {
 public:
  using clock = std::chrono::steady_clock;

  explicit ranges_broker(std::chrono::milliseconds max_wait) : max_wait_(max_wait) {}

  struct ask {
    bool answer_now = false;      // reply [] at once: the job has no more ranges, or nRanges <= 0
    std::uint64_t request_id = 0;  // otherwise: forward as ranges_request with this id ...
    clock::time_point deadline{};  // ... and end the wait by then
  };
  ask pilot_asks(int n_ranges, clock::time_point now);

  // A ranges_reply from the coordinator. Returns the requests whose wait is over now (wake them);
  // ranges for a request nobody waits for any more go into `give_back` (send as ranges_return).
  struct delivery {
    std::vector<std::uint64_t> woken;
    protocol::ranges_return give_back;
  };
  delivery coordinator_replied(protocol::ranges_reply reply);

  enum class wait_end { woken, deadline, client_gone, shutdown };
  struct outcome {
    enum kind { ranges, empty, no_answer, server_error } what = empty;
    std::vector<rty::event_range> delivered;            // for `ranges` (may be empty: [] for pilot)
    std::optional<protocol::ranges_cancel> cancel;      // send: the coordinator forgets the request
    std::optional<protocol::ranges_return> give_back;   // send: ranges nobody will receive
  };
  // The wait for `request_id` is over for `why`; what pilot gets and what the coordinator must hear.
  outcome finish_wait(std::uint64_t request_id, wait_end why);

  // --- updateEventRanges (issue 13) ---
  // Only results for ranges this stub handed to its pilot, and only once each, are forwarded: anything
  // else on pilot's port (a forged update, a guessed `<LFN>-<n>`, a repeat) is refused. finish_wait()
  // counts the ranges of its answer as delivered (before the answer is written: pilot's report cannot
  // overtake it); not_delivered() takes back those whose answer could not be written.
  // Memory: only ranges out with pilot now (a few hundred), not every range the node ever ran.
  void delivered(const std::vector<rty::event_range>& ranges);
  void not_delivered(const std::vector<std::string>& range_ids);
  struct screened {
    std::vector<rty::range_update> accepted;  // forward these ("running" ones stay outstanding)
    std::vector<std::string> refused;         // never out with this node's pilot (forged, guessed, stale)
    std::vector<std::string> repeated;        // reported already by this pilot: a retry, skipped, no error
  };
  // Terminal entries (finished, failed, fatal) that are accepted stop being outstanding. An entry the
  // stub then cannot forward (storage refused, frame too large) goes back with still_outstanding().
  screened screen_updates(std::vector<rty::range_update> updates);
  void still_outstanding(const std::string& range_id) { outstanding_.insert(range_id); }
  std::size_t outstanding() const { return outstanding_.size(); }

  // A new pilot runs on the node: a "no more" from its predecessor's time no longer holds, and the
  // ranges its predecessor held went back to the coordinator with its exit (nobody may report them).
  // Not at the exit itself: a pilot's last update (its SIGTERM flush) may be read after its SIGCHLD,
  // and the coordinator counts such a late finish by its own rule (bookkeeper.hpp) when it can.
  void pilot_started() {
    no_more_ = false;
    outstanding_.clear();
    reported_.clear();
    reported_order_.clear();
  }
  bool no_more() const { return no_more_; }
  std::size_t waiting() const { return waiting_.size(); }
  std::chrono::milliseconds max_wait() const { return max_wait_; }

 private:
  // The terminal reports of the current pilot, newest last, at most reported_memory: pilot3 sends an
  // update again when it did not hear the answer, and that retry must succeed, not count as forged.
  static constexpr std::size_t reported_memory = 4096;
  std::unordered_set<std::string> reported_;  // hashed: ids share a long LFN prefix, a tree compares it over and over
  std::deque<std::string> reported_order_;
  std::chrono::milliseconds max_wait_;
  std::map<std::uint64_t, std::optional<protocol::ranges_reply>> waiting_;
  std::uint64_t next_id_ = 0;
  bool no_more_ = false;
  std::unordered_set<std::string> outstanding_;  // delivered to pilot, result not yet forwarded
};

}  // namespace rty::stub
