#include "stub/ranges_broker.hpp"

#include <algorithm>
#include <charconv>

#include "harvester/ini.hpp"

namespace rty::stub {

std::chrono::milliseconds hold_limit(std::optional<long> http_maxtime) {
  using namespace std::chrono;
  const long curl = http_maxtime.value_or(120);
  return std::clamp<milliseconds>(milliseconds(curl * 1000 / 2), 1s, 60s);
}

// pilot reads its config with Python's configparser: the reader --validate uses for it too.
std::optional<long> pilot_http_maxtime(std::string_view text) {
  auto ini = harvester::ini_file::parse(text, "pilot config");
  if (!ini) return std::nullopt;
  auto value = ini->get("Pilot", "http_maxtime");
  if (!value) return std::nullopt;
  long v = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), v);
  if (ec != std::errc() || end != value->data() + value->size() || v <= 0) return std::nullopt;
  return v;
}

namespace {
protocol::ranges_return return_of(const std::vector<rty::event_range>& ranges) {
  protocol::ranges_return back;
  for (const auto& r : ranges) back.ranges.push_back(r.id);
  return back;
}
}  // namespace

ranges_broker::ask ranges_broker::pilot_asks(int n_ranges, clock::time_point now) {
  ask a;
  if (no_more_ || n_ranges <= 0) {
    a.answer_now = true;
    return a;
  }
  a.request_id = ++next_id_;
  a.deadline = now + max_wait_;
  waiting_.emplace(a.request_id, std::nullopt);
  return a;
}

ranges_broker::delivery ranges_broker::coordinator_replied(protocol::ranges_reply reply) {
  delivery d;
  const bool no_more = reply.no_more;
  if (no_more) no_more_ = true;
  auto it = waiting_.find(reply.request_id);
  if (it != waiting_.end() && !it->second) {
    d.woken.push_back(reply.request_id);
    it->second = std::move(reply);
  } else {
    // pilot gave up on this request (or the reply is a repeat): nobody will receive these ranges.
    d.give_back = return_of(reply.ranges);
  }
  if (no_more) {
    // "no more" ends every wait, not only one (the original's bug).
    for (auto& [id, slot] : waiting_) {
      if (slot) continue;
      slot.emplace();
      slot->request_id = id;
      slot->no_more = true;
      d.woken.push_back(id);
    }
  }
  return d;
}

ranges_broker::outcome ranges_broker::finish_wait(std::uint64_t request_id, wait_end why) {
  outcome o;
  auto it = waiting_.find(request_id);
  if (it == waiting_.end()) {
    o.what = outcome::server_error;
    return o;
  }
  std::optional<protocol::ranges_reply> reply = std::move(it->second);
  waiting_.erase(it);
  // A reply that came in the same turn as the deadline is an answer like any other.
  if (why == wait_end::deadline && reply) why = wait_end::woken;
  switch (why) {
    case wait_end::woken:
      if (!reply) {
        o.what = outcome::server_error;
        return o;
      }
      o.what = outcome::ranges;
      o.delivered = std::move(reply->ranges);
      delivered(o.delivered);
      return o;
    case wait_end::deadline:
      // Pilot must hear before its curl limit: [] now, and the coordinator forgets the request (ranges
      // it sends for it after all come back through coordinator_replied's give_back).
      o.what = outcome::empty;
      o.cancel = protocol::ranges_cancel{request_id};
      return o;
    case wait_end::client_gone:
      o.what = outcome::no_answer;
      if (reply && !reply->ranges.empty()) {
        o.give_back = return_of(reply->ranges);  // the answer came, but there is nobody to give it to
      } else if (!reply) {
        o.cancel = protocol::ranges_cancel{request_id};
      }
      return o;
    case wait_end::shutdown:
      o.what = outcome::server_error;
      if (reply && !reply->ranges.empty()) o.give_back = return_of(reply->ranges);
      return o;
  }
  return o;
}

void ranges_broker::delivered(const std::vector<rty::event_range>& ranges) {
  for (const auto& r : ranges) outstanding_.insert(r.id);
}

void ranges_broker::not_delivered(const std::vector<std::string>& range_ids) {
  for (const auto& id : range_ids) outstanding_.erase(id);
}

ranges_broker::screened ranges_broker::screen_updates(std::vector<rty::range_update> updates) {
  screened s;
  s.accepted.reserve(updates.size());
  for (auto& u : updates) {
    auto it = outstanding_.find(u.range_id);
    if (it == outstanding_.end()) {
      (reported_.count(u.range_id) ? s.repeated : s.refused).push_back(std::move(u.range_id));
      continue;
    }
    if (u.status != range_status::running) {
      outstanding_.erase(it);
      if (reported_.insert(u.range_id).second) reported_order_.push_back(u.range_id);
      if (reported_order_.size() > reported_memory) {
        reported_.erase(reported_order_.front());
        reported_order_.pop_front();
      }
    }
    s.accepted.push_back(std::move(u));
  }
  return s;
}

}  // namespace rty::stub
