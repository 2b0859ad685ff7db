#pragma once
// What of pilot's updateEventRanges goes on to the coordinator and what pilot hears, without sockets or
// files: the I/O shell (stub.cpp) gives the parsed updates and an update_sink that moves outputs, sends
// and logs. The rules (issue 13, docs/pilot-protocol.md):
//   - only ranges this stub handed to its pilot, each reported once, go on (ranges_broker::screen_updates);
//     a repeat of a report already forwarded is skipped and is no error, anything else is refused (500);
//   - a finished range's output is moved into the task directory; one that cannot be moved is reported
//     failed (simulated again), unless the task directory's filesystem refused it (full, quota,
//     read-only): then the range is not reported, stays with the node, and pilot hears 500;
//   - with the coordinator unreachable, or a frame that cannot be sent, nothing is recorded: 500, and
//     pilot may report again.
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/event_range.hpp"
#include "protocol/messages.hpp"
#include "stub/ranges_broker.hpp"

namespace rty::stub {

class update_sink {
 public:
  virtual ~update_sink() = default;
  // Moves a finished range's output: its path in the task directory, or an error whose code is the
  // failing call's errno (none when no system call failed; storage_refused() tells the storage's fault).
  virtual rty::result<std::string> store_output(const std::string& path) = 0;
  virtual bool forward(const protocol::ranges_update& update) = 0;  // false: not sent
  // For the log:
  virtual void unreachable() = 0;                                   // the coordinator is gone: refused
  virtual void refused(const std::string& range_id) = 0;            // never out with this pilot
  virtual void repeated(std::size_t n, const std::string& first) = 0;
  virtual void withheld(const std::string& range_id, const std::string& why) = 0;  // storage refused
  virtual void output_failed(const std::string& range_id, const std::string& why) = 0;  // reported failed
};

// Applies the rules to one updateEventRanges; returns pilot's StatusCode (0 or 500).
int filter_updates(ranges_broker& broker, std::vector<rty::range_update> updates, bool channel_gone, update_sink& sink);

}  // namespace rty::stub
