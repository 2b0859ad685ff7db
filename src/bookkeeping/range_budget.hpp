#pragma once
// Memory the bookkeeper needs for a job, checked against a limit before anything is allocated
// (tracker issue 13 item 8): a job spec with nEventsPerInputFile = 2,000,000,000 would otherwise end in
// std::bad_alloc (or the OOM killer) instead of a clear refusal.
//
// Footprint per event range, measured with tests/bench/bench_bookkeeping (6.8 bytes a range at load,
// 1000-event inputs): state + attempts + owner = 6 bytes, 1 more with harvester.eventsource = harvester
// (which ranges Harvester supplied), and 8 for the range's slot in its merge group's output-path table,
// allocated when the group's first range finishes (counted for every range: all groups may be open).
// Plus a fixed allowance per input and per output file (names, counters, merge state).
#include <cstdint>
#include <optional>
#include <string>

#include "common/job_spec.hpp"

namespace rty::bookkeeping {

inline constexpr std::uint64_t bytes_per_range = 6 + 8;
inline constexpr std::uint64_t bytes_per_external_range = 1;
inline constexpr std::uint64_t bytes_per_file = 512;

struct memory_limit {
  std::uint64_t bytes = 0;
  std::string source;  // where it comes from, for the refusal message
};

// The default: half of the smallest of physical memory (MemTotal), the cgroup's memory.max (v2, this
// process's cgroup and its ancestors) or memory.limit_in_bytes (v1), RLIMIT_AS and RLIMIT_DATA. Half,
// because the coordinator also holds the job, merge bookkeeping and the checkpoint being written, and
// the node usually runs other things (a stub, merges).
memory_limit machine_memory_limit();

// configured_mib > 0: that many MiB (the config key); 0: machine_memory_limit().
memory_limit bookkeeping_memory_limit(std::int64_t configured_mib, const char* key_name);

struct range_footprint {
  std::uint64_t ranges = 0;
  std::uint64_t bytes = 0;  // saturates at UINT64_MAX
};
range_footprint estimate_footprint(const rty::job_spec& job, bool external_ranges);

// nullopt when the job fits; otherwise the line to log (names the job, the ranges, the bytes needed,
// the limit and `key_name` to raise).
std::optional<std::string> check_range_memory(const rty::job_spec& job, bool external_ranges,
                                              const memory_limit& limit, const char* key_name);

}  // namespace rty::bookkeeping
