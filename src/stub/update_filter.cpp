#include "stub/update_filter.hpp"

#include "stub/node_files.hpp"

namespace rty::stub {

int filter_updates(ranges_broker& broker, std::vector<rty::range_update> updates, bool channel_gone,
                   update_sink& sink) {
  if (channel_gone) {
    // Nobody could record them: the files stay where pilot wrote them, and pilot hears an error.
    sink.unreachable();
    return 500;
  }
  auto screened = broker.screen_updates(std::move(updates));
  for (const auto& id : screened.refused) sink.refused(id);
  if (!screened.repeated.empty()) sink.repeated(screened.repeated.size(), screened.repeated.front());
  protocol::ranges_update forward;
  bool withheld = false;
  for (auto& u : screened.accepted) {
    if (u.status != range_status::finished || u.path.empty()) {
      forward.updates.push_back(std::move(u));
      continue;
    }
    auto moved = sink.store_output(u.path);
    if (!moved && storage_refused(moved.error().code())) {
      // Not the range's fault: reporting it failed would spend one of its attempts. It stays leased to
      // this node and goes back to the others when this node ends.
      sink.withheld(u.range_id, moved.error().message());
      broker.still_outstanding(u.range_id);  // pilot may report it again
      withheld = true;
      continue;
    }
    if (!moved) {
      sink.output_failed(u.range_id, moved.error().message());
      u.status = range_status::failed;
      u.path.clear();
    } else {
      u.path = std::move(*moved);
    }
    forward.updates.push_back(std::move(u));
  }
  if (!forward.updates.empty() && !sink.forward(forward)) {
    // Too large for one frame (or the channel just went): nothing was recorded, pilot may try again.
    for (const auto& u : forward.updates) broker.still_outstanding(u.range_id);
    return 500;
  }
  return withheld || !screened.refused.empty() ? 500 : 0;
}

}  // namespace rty::stub
