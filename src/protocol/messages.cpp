#include "protocol/messages.hpp"

#include <limits>

namespace rty::protocol {
namespace {

namespace json = boost::json;

// Reads typed keys from one object and keeps the first problem, phrased for the log.
class reader {
 public:
  reader(const json::object& o, std::string context) : o_(o), context_(std::move(context)) {}

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  void fail(std::string message) {
    if (error_.empty()) error_ = context_ + ": " + message;
  }

  std::string str(std::string_view key) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_string()) return std::string(v->get_string());
    expected(key, "a string");
    return {};
  }

  std::int64_t integer(std::string_view key, std::int64_t lo, std::int64_t hi) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_int64() && v->get_int64() >= lo && v->get_int64() <= hi) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(hi) && hi >= 0)
      return static_cast<std::int64_t>(v->get_uint64());
    expected(key, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return 0;
  }

  std::uint64_t uint64(std::string_view key) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_uint64()) return v->get_uint64();
    if (v && v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
    expected(key, "a non-negative integer");
    return 0;
  }

  bool boolean(std::string_view key) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_bool()) return v->get_bool();
    expected(key, "a boolean");
    return false;
  }

  // An integer in [0, hi], or null: nullopt.
  std::optional<std::int64_t> optional_count(std::string_view key, std::int64_t hi) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_null()) return std::nullopt;
    if (v && v->is_int64() && v->get_int64() >= 0 && v->get_int64() <= hi) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(hi)) return static_cast<std::int64_t>(v->get_uint64());
    expected(key, "null or an integer in [0, " + std::to_string(hi) + "]");
    return std::nullopt;
  }

  json::object object(std::string_view key) {
    const auto* v = o_.if_contains(key);
    // A copy on the default heap: a received message lives in its frame's arena (frame.hpp), which a
    // kept object (welcome.job, job_update.fields) must not hold on to as a whole. (Assigning the
    // result to a default-heap member copies too; this does not depend on that.)
    if (v && v->is_object()) return json::object(v->get_object(), json::storage_ptr());
    expected(key, "an object");
    return {};
  }

  const json::array* array(std::string_view key) {
    const auto* v = o_.if_contains(key);
    if (v && v->is_array()) return &v->get_array();
    expected(key, "an array");
    return nullptr;
  }

  // Reads "version" first: a peer of another version may not have the keys we expect at all.
  void require_version() {
    const auto* v = o_.if_contains("version");
    if (!v || !(v->is_int64() || v->is_uint64())) return expected("version", "an integer");
    const auto got = v->is_int64() ? std::to_string(v->get_int64()) : std::to_string(v->get_uint64());
    if (got != std::to_string(version))
      fail("protocol version mismatch: peer speaks version " + got + ", this build speaks version " +
           std::to_string(version));
  }

 private:
  void expected(std::string_view key, const std::string& what) {
    fail("key \"" + std::string(key) + "\" " + (o_.contains(key) ? "is not " : "is missing, expected ") + what);
  }

  const json::object& o_;
  std::string context_;
  std::string error_;
};

template <class Message>
json::object start(json::storage_ptr sp = {}) {
  return json::object({{"type", json::string_view(Message::type.data(), Message::type.size())}}, 0, std::move(sp));
}

// Checks "type" and opens a reader; returns nullopt-equivalent by leaving an error in the reader.
template <class Message>
reader open(const json::object& o) {
  reader r(o, std::string(Message::type) + " message");
  const auto* t = o.if_contains("type");
  if (!t || !t->is_string())
    r.fail("no string \"type\" key");
  else if (t->get_string() != Message::type)
    r.fail("message has type \"" + std::string(t->get_string()) + "\"");
  return r;
}

// One from_json: checks "type", lets `fill` read the keys into a Message, and returns it or the first
// problem.
template <class Message, class Fill>
rty::result<Message> decode(const json::object& o, Fill fill) {
  auto r = open<Message>(o);
  Message m;
  fill(r, m);
  if (!r.ok()) return rty::fail(r.error());
  return m;
}

// Reads the array at `key` element by element with `parse` into `out`; the first bad element fails it.
template <class T, class Parse>
void read_list(reader& r, std::string_view key, std::vector<T>& out, Parse parse) {
  const auto* a = r.array(key);
  if (!a) return;
  out.reserve(a->size());
  for (std::size_t i = 0; i < a->size() && r.ok(); ++i) {
    auto x = parse((*a)[i]);
    if (!x)
      r.fail(std::string(key) + "[" + std::to_string(i) + "]: " + x.error().message());
    else
      out.push_back(std::move(*x));
  }
}

constexpr std::int64_t int_max = std::numeric_limits<int>::max();
constexpr std::int64_t int_min = std::numeric_limits<int>::min();

}  // namespace

rty::result<std::string> message_type(const json::object& message) {
  const auto* t = message.if_contains("type");
  if (!t || !t->is_string()) return rty::fail("message has no string \"type\" key");
  return std::string(t->get_string());
}

// ---- shared vocabulary ----

json::object to_json(const rty::event_range& r, json::storage_ptr sp) {
  return json::object({{"PFN", r.pfn}, {"lastEvent", r.last_event}, {"eventRangeID", r.id},
                       {"startEvent", r.start_event}, {"GUID", r.guid}},
                      0, std::move(sp));
}

rty::result<rty::event_range> event_range_from_json(const json::value& v) {
  if (!v.is_object()) return rty::fail("event range is not an object");
  reader r(v.get_object(), "event range");
  rty::event_range out;
  out.id = r.str("eventRangeID");
  out.pfn = r.str("PFN");
  out.guid = r.str("GUID");
  out.start_event = r.integer("startEvent", 0, std::numeric_limits<std::int64_t>::max());
  out.last_event = r.integer("lastEvent", 0, std::numeric_limits<std::int64_t>::max());
  if (!r.ok()) return rty::fail(r.error());
  return out;
}

json::object to_json(const rty::range_update& u, json::storage_ptr sp) {
  return json::object({{"id", u.range_id}, {"status", rty::to_string(u.status)}, {"path", u.path},
                       {"chksum", u.chksum}, {"fsize", u.fsize}, {"type", u.type}, {"error_code", u.error_code}},
                      0, std::move(sp));
}

rty::result<rty::range_update> range_update_from_json(const json::value& v) {
  if (!v.is_object()) return rty::fail("range update is not an object");
  reader r(v.get_object(), "range update");
  rty::range_update out;
  out.range_id = r.str("id");
  const auto status = r.str("status");
  out.path = r.str("path");
  out.chksum = r.str("chksum");
  out.fsize = r.integer("fsize", -1, std::numeric_limits<std::int64_t>::max());
  out.type = r.str("type");
  out.error_code = static_cast<int>(r.integer("error_code", int_min, int_max));
  if (!r.ok()) return rty::fail(r.error());
  const auto parsed = rty::parse_range_status(status);
  if (!parsed) return rty::fail("range update: status \"" + status + "\" is not running, finished, failed or fatal");
  out.status = *parsed;
  return out;
}

// ---- messages ----

json::object challenge::to_json() const {
  auto o = start<challenge>();
  o["version"] = version;
  o["nonce"] = nonce;
  return o;
}

rty::result<challenge> challenge::from_json(const json::object& o) {
  return decode<challenge>(o, [](reader& r, challenge& m) {
    r.require_version();
    m.nonce = r.str("nonce");
    if (r.ok() && m.nonce.empty()) r.fail("nonce is empty");
  });
}

json::object hello::to_json() const {
  auto o = start<hello>();
  o["version"] = version;
  o["node_id"] = node_id;
  o["host"] = host;
  o["pid"] = pid;
  o["nonce"] = nonce;
  o["proof"] = proof;
  return o;
}

rty::result<hello> hello::from_json(const json::object& o) {
  return decode<hello>(o, [](reader& r, hello& m) {
    r.require_version();
    m.node_id = r.str("node_id");
    m.host = r.str("host");
    m.pid = r.integer("pid", 0, std::numeric_limits<std::int64_t>::max());
    m.nonce = r.str("nonce");
    m.proof = r.str("proof");
  });
}

json::object accepted::to_json() const {
  auto o = start<accepted>();
  o["proof"] = proof;
  return o;
}

rty::result<accepted> accepted::from_json(const json::object& o) {
  return decode<accepted>(o, [](reader& r, accepted& m) {
    m.proof = r.str("proof");
  });
}

json::object welcome::to_json() const {
  auto o = start<welcome>();
  o["node_index"] = node_index;
  o["job"] = job;
  o["settings"] = settings;
  return o;
}

rty::result<welcome> welcome::from_json(const json::object& o) {
  return decode<welcome>(o, [](reader& r, welcome& m) {
    m.node_index = static_cast<int>(r.integer("node_index", 0, int_max));
    m.job = r.object("job");
    m.settings = r.object("settings");
  });
}

json::object heartbeat::to_json() const { return start<heartbeat>(); }

rty::result<heartbeat> heartbeat::from_json(const json::object& o) {
  return decode<heartbeat>(o, [](reader&, heartbeat&) {});
}

json::object ranges_request::to_json() const {
  auto o = start<ranges_request>();
  o["request_id"] = request_id;
  o["n_ranges"] = n_ranges;
  return o;
}

rty::result<ranges_request> ranges_request::from_json(const json::object& o) {
  return decode<ranges_request>(o, [](reader& r, ranges_request& m) {
    m.request_id = r.uint64("request_id");
    m.n_ranges = static_cast<int>(r.integer("n_ranges", 1, int_max));
  });
}

json::object ranges_reply::to_json(json::storage_ptr sp) const {
  auto o = start<ranges_reply>(sp);
  o["request_id"] = request_id;
  json::array a(sp);
  a.reserve(ranges.size());
  for (const auto& x : ranges) a.emplace_back(protocol::to_json(x, sp));
  o["ranges"] = std::move(a);
  o["no_more"] = no_more;
  return o;
}

rty::result<ranges_reply> ranges_reply::from_json(const json::object& o) {
  return decode<ranges_reply>(o, [](reader& r, ranges_reply& m) {
    m.request_id = r.uint64("request_id");
    m.no_more = r.boolean("no_more");
    read_list(r, "ranges", m.ranges, event_range_from_json);
  });
}

json::object ranges_cancel::to_json() const {
  auto o = start<ranges_cancel>();
  o["request_id"] = request_id;
  return o;
}

rty::result<ranges_cancel> ranges_cancel::from_json(const json::object& o) {
  return decode<ranges_cancel>(o, [](reader& r, ranges_cancel& m) {
    m.request_id = r.uint64("request_id");
  });
}

json::object ranges_return::to_json() const {
  auto o = start<ranges_return>();
  json::array a;
  for (const auto& id : ranges) a.emplace_back(json::string(id));
  o["ranges"] = std::move(a);
  return o;
}

rty::result<ranges_return> ranges_return::from_json(const json::object& o) {
  return decode<ranges_return>(o, [](reader& r, ranges_return& m) {
    if (const auto* a = r.array("ranges")) {
      for (std::size_t i = 0; i < a->size(); ++i) {
        if (!(*a)[i].is_string()) {
          r.fail("ranges[" + std::to_string(i) + "] is not a string range id");
          break;
        }
        m.ranges.emplace_back((*a)[i].get_string());
      }
    }
  });
}

json::object ranges_update::to_json(json::storage_ptr sp) const {
  auto o = start<ranges_update>(sp);
  json::array a(sp);
  a.reserve(updates.size());
  for (const auto& u : updates) a.emplace_back(protocol::to_json(u, sp));
  o["updates"] = std::move(a);
  return o;
}

rty::result<ranges_update> ranges_update::from_json(const json::object& o) {
  return decode<ranges_update>(o, [](reader& r, ranges_update& m) {
    read_list(r, "updates", m.updates, range_update_from_json);
  });
}

json::object job_update::to_json() const {
  auto o = start<job_update>();
  o["state"] = state;
  o["fields"] = fields;
  return o;
}

rty::result<job_update> job_update::from_json(const json::object& o) {
  return decode<job_update>(o, [](reader& r, job_update& m) {
    m.state = r.str("state");
    m.fields = r.object("fields");
  });
}

namespace {
json::value count_or_null(const std::optional<std::int64_t>& v, std::int64_t hi) {
  if (v && *v >= 0 && *v <= hi) return *v;
  return nullptr;
}
}  // namespace

json::object worker_node::to_json() const {
  auto o = start<worker_node>();
  o["host_name"] = host_name;
  o["cpu_model"] = cpu_model;
  o["logical_cpus"] = count_or_null(logical_cpus, max_logical_cpus);
  o["memory_mb"] = count_or_null(memory_mb, max_memory_mb);
  o["local_disk_gb"] = count_or_null(local_disk_gb, max_local_disk_gb);
  return o;
}

rty::result<worker_node> worker_node::from_json(const json::object& o) {
  return decode<worker_node>(o, [](reader& r, worker_node& m) {
    m.host_name = r.str("host_name");
    m.cpu_model = r.str("cpu_model");
    m.logical_cpus = r.optional_count("logical_cpus", max_logical_cpus);
    m.memory_mb = r.optional_count("memory_mb", max_memory_mb);
    m.local_disk_gb = r.optional_count("local_disk_gb", max_local_disk_gb);
  });
}

json::object pilot_exit::to_json() const {
  auto o = start<pilot_exit>();
  o["code"] = code;
  o["signal"] = signal;
  o["reason"] = reason;
  return o;
}

rty::result<pilot_exit> pilot_exit::from_json(const json::object& o) {
  return decode<pilot_exit>(o, [](reader& r, pilot_exit& m) {
    m.code = static_cast<int>(r.integer("code", int_min, int_max));
    m.signal = static_cast<int>(r.integer("signal", 0, int_max));
    m.reason = r.str("reason");
  });
}

json::object start_pilot::to_json() const {
  auto o = start<start_pilot>();
  o["attempt"] = attempt;
  o["reason"] = reason;
  return o;
}

rty::result<start_pilot> start_pilot::from_json(const json::object& o) {
  return decode<start_pilot>(o, [](reader& r, start_pilot& m) {
    m.attempt = static_cast<int>(r.integer("attempt", 2, 1000000));
    m.reason = r.str("reason");
  });
}

json::object stop::to_json() const {
  auto o = start<stop>();
  o["reason"] = reason;
  o["drain"] = drain;
  o["grace_s"] = grace_s;
  return o;
}

rty::result<stop> stop::from_json(const json::object& o) {
  return decode<stop>(o, [](reader& r, stop& m) {
    m.reason = r.str("reason");
    m.drain = r.boolean("drain");
    m.grace_s = static_cast<int>(r.integer("grace_s", 0, 3600));
  });
}

json::object error::to_json() const {
  auto o = start<error>();
  o["message"] = message;
  return o;
}

rty::result<error> error::from_json(const json::object& o) {
  return decode<error>(o, [](reader& r, error& m) {
    m.message = r.str("message");
  });
}

json::object merge_run::to_json() const {
  auto o = start<merge_run>();
  o["output_name"] = output_name;
  o["attempt"] = attempt;
  json::array a;
  a.reserve(argv.size());
  for (const auto& w : argv) a.emplace_back(w);
  o["argv"] = std::move(a);
  o["work_dir"] = work_dir;
  o["log_path"] = log_path;
  return o;
}

rty::result<merge_run> merge_run::from_json(const json::object& o) {
  return decode<merge_run>(o, [](reader& r, merge_run& m) {
    m.output_name = r.str("output_name");
    m.attempt = static_cast<int>(r.integer("attempt", 1, int_max));
    read_list(r, "argv", m.argv, [](const json::value& v) -> rty::result<std::string> {
      if (!v.is_string()) return rty::fail("not a string");
      return std::string(v.get_string());
    });
    m.work_dir = r.str("work_dir");
    m.log_path = r.str("log_path");
    if (r.ok() && m.argv.empty()) r.fail("key \"argv\" is empty");
  });
}

json::object merge_result::to_json() const {
  auto o = start<merge_result>();
  o["output_name"] = output_name;
  o["attempt"] = attempt;
  o["started"] = started;
  o["code"] = code;
  o["signal"] = signal;
  o["reason"] = reason;
  return o;
}

rty::result<merge_result> merge_result::from_json(const json::object& o) {
  return decode<merge_result>(o, [](reader& r, merge_result& m) {
    m.output_name = r.str("output_name");
    m.attempt = static_cast<int>(r.integer("attempt", 1, int_max));
    m.started = r.boolean("started");
    m.code = static_cast<int>(r.integer("code", int_min, int_max));
    m.signal = static_cast<int>(r.integer("signal", 0, int_max));
    m.reason = r.str("reason");
  });
}

}  // namespace rty::protocol

namespace rty::protocol {
namespace {

// Tries each alternative of Variant whose `type` matches; the first match decides.
template <class Variant, std::size_t I = 0>
rty::result<Variant> decode_as(std::string_view type, const json::object& message) {
  if constexpr (I == std::variant_size_v<Variant>) {
    return rty::fail("unexpected message '" + std::string(type) + "'");
  } else {
    using alternative = std::variant_alternative_t<I, Variant>;
    if (type != alternative::type) return decode_as<Variant, I + 1>(type, message);
    auto m = alternative::from_json(message);
    if (!m) return m.error();
    return Variant(std::in_place_index<I>, std::move(*m));
  }
}

template <class Variant>
rty::result<Variant> decode_variant(const json::object& message) {
  auto type = message_type(message);
  if (!type) return type.error();
  return decode_as<Variant>(*type, message);
}

}  // namespace

rty::result<stub_message> decode_stub_message(const json::object& message) {
  return decode_variant<stub_message>(message);
}

rty::result<coordinator_message> decode_coordinator_message(const json::object& message) {
  return decode_variant<coordinator_message>(message);
}

}  // namespace rty::protocol
