#pragma once
// How a pilot's getEventRanges is answered, and when a node's ended pilot is started again. Pure
// decisions on counts and times: the engine feeds them, tests drive them directly.
//
// The rule behind both: a held getEventRanges must never be the reason a range goes unreported.
// pilot3's event-service communicator is one thread that serves its queues in turn, each call
// blocking until curl returns (docs/pilot-protocol.md). While a node's getEventRanges is held,
// that pilot reports nothing, so a held request may wait only for what no pilot's report is needed for
// (Harvester delivering ranges), never for leases to come back, its own node's or another's: two held
// nodes would wait on each other. When only leases can make ranges ready, the answer is [] at once;
// the workers that get it end, and work that appears later (a late failure, a lost node's leases, a
// late Harvester batch) is taken by starting pilot again on a node whose pilot has ended.
#include <algorithm>
#include <chrono>
#include <cstdint>

namespace rty::coordinator {

// What the book holds at the moment of a request (bookkeeper counts).
struct dispatch_view {
  bool draining = false;            // walltime, stop signal, watchdog: no new work for anyone
  bool exhausted = false;           // nothing ready, nothing leased: the job has no range left
  std::uint64_t leasable = 0;       // ready and handed to us (by Harvester, with that source)
  std::uint64_t awaiting_supply = 0;  // ready once Harvester supplies them (0 without that source)
  // Workers of the pilots that may still ask (the sum of their nRanges); 0 turns tail sharing off.
  std::uint64_t asking_workers = 0;
};

enum class dispatch_kind {
  lease,     // hand out `count` ranges now (a short list is fine: pilot asks again)
  hold,      // nothing ready, Harvester may supply more: wait (the stub answers [] at its deadline)
  empty,     // [] now, not final: only leases coming back could make ranges ready
  no_more,   // [] now and for good: the job has nothing left, or the run drains
};

struct dispatch_decision {
  dispatch_kind kind = dispatch_kind::empty;
  std::uint64_t count = 0;  // for lease
  friend bool operator==(const dispatch_decision&, const dispatch_decision&) = default;
};

// The tail (ray.tailshare): fewer ranges left than workers that may ask, none to come from Harvester.
// pilot asks for its worker count when its cache is empty and one worker is ready; a full answer would
// queue ranges behind that pilot's busy workers while other nodes' workers idle, and the job's end waits
// for them. So a request gets its workers' share of what is left, at least one: the last ranges go
// to whichever worker is free first, one pilot round trip each.
inline std::uint64_t tail_share(const dispatch_view& v, std::uint64_t n) {
  if (v.asking_workers == 0 || v.awaiting_supply > 0 || v.leasable >= v.asking_workers) return n;
  const std::uint64_t share = (v.leasable * n + v.asking_workers - 1) / v.asking_workers;  // n <= workers
  return std::clamp<std::uint64_t>(share, 1, n);
}

// `requested` is pilot's nRanges; `cap` is resources.corepernode (0: no cap).
inline dispatch_decision decide_dispatch(const dispatch_view& v, std::int64_t requested, std::int64_t cap) {
  if (v.draining || v.exhausted) return {dispatch_kind::no_more, 0};
  std::int64_t n = cap > 0 ? std::min(requested, cap) : requested;
  if (n <= 0) return {dispatch_kind::empty, 0};
  if (v.leasable > 0)
    return {dispatch_kind::lease, std::min(tail_share(v, static_cast<std::uint64_t>(n)), v.leasable)};
  if (v.awaiting_supply > 0) return {dispatch_kind::hold, 0};
  return {dispatch_kind::empty, 0};
}

// payload.pilotrestarts: a node whose pilot ended is given a new pilot while there is work, at most
// `max_without_progress` times in a row without a range finished in between, after a backoff that
// doubles with each such restart. A pilot that works and ends (the tail, a crash after some ranges)
// is restarted as often as there is work; one that cannot start is given up on.
struct restart_policy {
  int max_without_progress = 3;  // 0: pilots are never restarted
  std::chrono::milliseconds first_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};

  std::chrono::milliseconds backoff(int restarts_without_progress) const {
    auto d = first_backoff;
    for (int i = 0; i < restarts_without_progress && d < max_backoff; ++i) d *= 2;
    return std::min(d, max_backoff);
  }
  // May a node whose pilot ended at `ended` be restarted at `now`?
  bool may_restart(int restarts_without_progress, std::chrono::steady_clock::time_point ended,
                   std::chrono::steady_clock::time_point now) const {
    return !exhausted(restarts_without_progress) && now >= ended + backoff(restarts_without_progress);
  }
  bool exhausted(int restarts_without_progress) const { return restarts_without_progress >= max_without_progress; }
};

// How many idle nodes to give a new pilot for `leasable` ready ranges when `starting` restarted pilots
// have not asked yet: one per `per_node` ranges (a pilot asks for its core count), not every idle node
// for one late range.
inline std::uint64_t pilots_wanted(std::uint64_t leasable, std::uint64_t starting, std::uint64_t per_node) {
  per_node = std::max<std::uint64_t>(1, per_node);
  const std::uint64_t want = (leasable + per_node - 1) / per_node;
  return want > starting ? want - starting : 0;
}

}  // namespace rty::coordinator
