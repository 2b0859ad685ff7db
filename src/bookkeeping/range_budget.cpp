#include "bookkeeping/range_budget.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>

namespace rty::bookkeeping {
namespace {

constexpr std::uint64_t none = std::numeric_limits<std::uint64_t>::max();

std::uint64_t mul_sat(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > none / a) return none;
  return a * b;
}
std::uint64_t add_sat(std::uint64_t a, std::uint64_t b) { return a > none - b ? none : a + b; }

std::string mib(std::uint64_t bytes) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / double(1 << 20));
  return buf;
}

std::uint64_t mem_total() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemTotal:") return kb * 1024;
  return none;
}

std::uint64_t read_number(const std::string& path) {
  std::ifstream in(path);
  std::string word;
  if (!(in >> word) || word == "max") return none;
  try {
    return std::stoull(word);
  } catch (...) {
    return none;
  }
}

// cgroup v2: memory.max of our cgroup and every ancestor (the smallest binds); v1: memory.limit_in_bytes.
std::uint64_t cgroup_limit() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  std::uint64_t best = none;
  while (std::getline(in, line)) {
    auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {  // v2 unified hierarchy
      for (;;) {
        best = std::min(best, read_number("/sys/fs/cgroup" + path + "/memory.max"));
        if (path.empty() || path == "/") break;
        path = path.substr(0, path.rfind('/'));
      }
    } else if (controllers.find("memory") != std::string::npos) {
      // v1 reports "no limit" as a huge page-aligned number: any value above physical memory is moot.
      best = std::min(best, read_number("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes"));
    }
  }
  return best;
}

std::uint64_t rlimit(int resource) {
  struct rlimit rl {};
  if (::getrlimit(resource, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return none;
  return static_cast<std::uint64_t>(rl.rlim_cur);
}

}  // namespace

memory_limit machine_memory_limit() {
  struct candidate {
    std::uint64_t bytes;
    const char* what;
  } candidates[] = {{mem_total(), "physical memory"},
                    {cgroup_limit(), "the cgroup's memory limit"},
                    {rlimit(RLIMIT_AS), "RLIMIT_AS"},
                    {rlimit(RLIMIT_DATA), "RLIMIT_DATA"}};
  const candidate* best = nullptr;
  for (auto& c : candidates)
    if (c.bytes != none && (!best || c.bytes < best->bytes)) best = &c;
  memory_limit out;
  if (!best) {  // no figure at all: do not refuse on a guess
    out.bytes = none;
    out.source = "no memory limit found";
    return out;
  }
  out.bytes = best->bytes / 2;
  out.source = std::string("half of ") + best->what + " " + mib(best->bytes);
  return out;
}

memory_limit bookkeeping_memory_limit(std::int64_t configured_mib, const char* key_name) {
  if (configured_mib <= 0) return machine_memory_limit();
  memory_limit out;
  out.bytes = mul_sat(static_cast<std::uint64_t>(configured_mib), std::uint64_t(1) << 20);
  out.source = std::string(key_name) + " = " + std::to_string(configured_mib);
  return out;
}

range_footprint estimate_footprint(const rty::job_spec& job, bool external_ranges) {
  range_footprint f;
  const std::uint64_t inputs = job.in_files.size();
  const std::uint64_t events = job.events_per_input > 0 ? static_cast<std::uint64_t>(job.events_per_input) : 0;
  f.ranges = mul_sat(inputs, events);
  f.bytes = mul_sat(f.ranges, bytes_per_range + (external_ranges ? bytes_per_external_range : 0));
  f.bytes = add_sat(f.bytes, mul_sat(inputs + job.output_files.size(), bytes_per_file));
  return f;
}

std::optional<std::string> check_range_memory(const rty::job_spec& job, bool external_ranges,
                                              const memory_limit& limit, const char* key_name) {
  const auto f = estimate_footprint(job, external_ranges);
  if (f.bytes <= limit.bytes) return std::nullopt;
  std::ostringstream s;
  s << "job " << job.panda_id << " has " << f.ranges << " event ranges (" << job.in_files.size()
    << " input file(s) x " << job.events_per_input << " events): the bookkeeping needs about " << f.bytes
    << " bytes (" << mib(f.bytes) << "), more than the limit of " << limit.bytes << " bytes (" << mib(limit.bytes)
    << ", " << limit.source << "); refused before allocating. Raise " << key_name
    << " (MiB) if this host has the memory";
  return s.str();
}

}  // namespace rty::bookkeeping
