#pragma once
// Size caps on every file Harvester (or anyone with write access to the access point) hands us
// (tracker issue 13 item 8): a file over its cap is refused before it is read into memory, with a
// message naming the file and its size, and the file is left where it is for an operator.
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "common/error.hpp"

namespace rty::harvester {

inline constexpr std::uint64_t mib = std::uint64_t(1) << 20;
// A jumbo job spec with 10,000 inputs is about 2 MB.
inline constexpr std::uint64_t job_spec_max_bytes = 64 * mib;
// One answer of a few thousand ranges is about 1 MB.
inline constexpr std::uint64_t event_ranges_max_bytes = 256 * mib;
// Status dumps of unpublished updates (ours from an earlier run, or unclaimed): ~150 bytes an update.
inline constexpr std::uint64_t status_dump_max_bytes = 1024 * mib;
inline constexpr std::uint64_t harvester_cfg_max_bytes = 4 * mib;
// The cacher's queuedata file may hold every PanDA queue.
inline constexpr std::uint64_t queuedata_max_bytes = 256 * mib;

// Reads `path` (a regular file; a FIFO or device is refused, it could block or never end) when it has
// at most `cap` bytes, also if it grows while being read. `kind` ("job spec") goes into the messages.
// The error's code is the errno of a failed open/stat/read (ENOENT: absent), or
// std::errc::file_too_large when the file is over the cap (the message names file, size and cap; the
// file was not read).
rty::result<std::string> read_capped(const std::string& path, std::uint64_t cap, std::string_view kind);

// The read was refused because the file is over its cap (an operator's matter, not a transient state).
inline bool too_big(const rty::error& e) { return e.code() == std::errc::file_too_large; }

// "70000000 bytes (66.8 MiB)".
std::string describe_size(std::uint64_t bytes);

}  // namespace rty::harvester
