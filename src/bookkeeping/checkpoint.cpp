#include "bookkeeping/checkpoint.hpp"

#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <unordered_map>
#include <vector>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "common/safe_name.hpp"

namespace rty::bookkeeping {
namespace {

namespace bj = boost::json;

bj::object range_to_json(const range_record& r, bool with_path, bool with_guid) {
  bj::object o;
  o["eventRangeID"] = r.event_range_id;
  o["startEvent"] = r.start_event;
  o["lastEvent"] = r.last_event;
  if (with_path) o["path"] = r.path;
  if (with_guid && !r.output_guid.empty()) o["guid"] = r.output_guid;
  return o;
}

bj::object ranges_to_json(const range_map& m, bool with_path, bool with_guid) {
  bj::object o;
  o.reserve(m.size());
  for (const auto& [id, r] : m) o[id] = range_to_json(r, with_path, with_guid);
  return o;
}

// Keys in messages are untrusted: printed escaped.
std::string quoted(std::string_view s) { return "\"" + rty::names::escaped(s) + "\""; }

// The number after the last '-' of a range id, used when startEvent/lastEvent are absent or blank (the
// upstream example file has them as "").
std::int64_t event_from_id(std::string_view id) {
  auto dash = id.rfind('-');
  if (dash == std::string_view::npos) return 0;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(id.data() + dash + 1, id.data() + id.size(), n);
  if (ec != std::errc() || p != id.data() + id.size()) return 0;
  return n;
}

rty::result<void> parse_range(const bj::value& v, std::string_view key, const std::string& where,
                              range_record& out) {
  if (!v.is_object()) return rty::fail(where + ": expected an object {eventRangeID, startEvent, lastEvent}");
  const auto& o = v.get_object();
  if (auto bad = rty::names::check("event range id", key)) return rty::fail(where + ": " + *bad);
  out.event_range_id = std::string(key);
  if (auto it = o.find("eventRangeID"); it != o.end()) {
    if (!it->value().is_string()) return rty::fail(where + ".eventRangeID: expected a string");
    out.event_range_id = std::string(it->value().get_string());
    if (auto bad = rty::names::check("eventRangeID", out.event_range_id)) return rty::fail(where + ": " + *bad);
  }
  const std::int64_t fallback = event_from_id(out.event_range_id);
  out.start_event = rty::json::get_int(o, "startEvent").value_or(fallback);
  out.last_event = rty::json::get_int(o, "lastEvent").value_or(fallback);
  if (auto it = o.find("path"); it != o.end()) {
    if (it->value().is_string())
      out.path = std::string(it->value().get_string());
    else if (!it->value().is_null())
      return rty::fail(where + ".path: expected a string");
    if (!out.path.empty())
      if (auto bad = rty::names::check_path("path", out.path)) return rty::fail(where + ": " + *bad);
  }
  if (auto it = o.find("guid"); it != o.end() && it->value().is_string())
    out.output_guid = std::string(it->value().get_string());
  if (!out.output_guid.empty())
    if (auto bad = rty::names::check("guid", out.output_guid)) return rty::fail(where + ": " + *bad);
  return {};
}

rty::result<void> parse_ranges(const bj::value& v, const std::string& where, range_map& out) {
  if (!v.is_object()) return rty::fail(where + ": expected an object of event ranges keyed by eventRangeID");
  for (const auto& kv : v.get_object()) {
    range_record r;
    if (auto e = parse_range(kv.value(), kv.key(), where + "[" + quoted(kv.key()) + "]", r); !e) return e;
    out[std::string(kv.key())] = std::move(r);
  }
  return {};
}

// Section = object keyed by input LFN; nullptr when absent.
rty::result<const bj::object*> section(const bj::object& top, std::string_view name, std::string_view origin) {
  auto it = top.find(name);
  if (it == top.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_object())
    return rty::fail(std::string(origin) + ": \"" + std::string(name) + "\": expected an object keyed by input file");
  return &it->value().get_object();
}

}  // namespace

bj::object to_json(const checkpoint& cp) {
  bj::object top;
  bj::object simulated;
  for (const auto& [f, ranges] : cp.simulated) simulated[f] = ranges_to_json(ranges, true, false);
  bj::object merging;
  for (const auto& [f, outs] : cp.merging) {
    bj::object per_output;
    for (const auto& [name, ranges] : outs) per_output[name] = ranges_to_json(ranges, true, true);
    merging[f] = std::move(per_output);
  }
  bj::object merged;
  for (const auto& [f, outs] : cp.merged) {
    bj::object per_output;
    for (const auto& [name, rec] : outs) per_output[name] = bj::object{{"path", rec.path}, {"guid", rec.guid}};
    merged[f] = std::move(per_output);
  }
  bj::object failed;
  for (const auto& [f, ranges] : cp.failed) failed[f] = ranges_to_json(ranges, false, false);
  top["simulated"] = std::move(simulated);
  top["merging"] = std::move(merging);
  top["merged"] = std::move(merged);
  top["failed"] = std::move(failed);
  return top;
}

rty::result<checkpoint> checkpoint_from_json(const bj::value& v, std::string_view origin) {
  const std::string org(origin);
  if (!v.is_object()) return rty::fail(org + ": expected a JSON object with simulated/merging/merged/failed");
  const auto& top = v.get_object();
  checkpoint cp;

  for (auto [name, target] : {std::pair{"simulated", &cp.simulated}, std::pair{"failed", &cp.failed}}) {
    auto sec = section(top, name, origin);
    if (!sec) return sec.error();
    if (!*sec) continue;
    for (const auto& kv : **sec) {
      range_map ranges;
      const std::string where = org + ": " + name + "[" + quoted(kv.key()) + "]";
      if (auto bad = rty::names::check("input file", kv.key())) return rty::fail(where + ": " + *bad);
      if (auto e = parse_ranges(kv.value(), where, ranges); !e) return e.error();
      (*target)[std::string(kv.key())] = std::move(ranges);
    }
  }

  auto merging = section(top, "merging", origin);
  if (!merging) return merging.error();
  if (*merging) {
    for (const auto& kv : **merging) {
      const std::string where = org + ": merging[" + quoted(kv.key()) + "]";
      if (auto bad = rty::names::check("input file", kv.key())) return rty::fail(where + ": " + *bad);
      if (!kv.value().is_object()) return rty::fail(where + ": expected an object keyed by output file");
      auto& per_output = cp.merging[std::string(kv.key())];
      for (const auto& out : kv.value().get_object()) {
        if (auto bad = rty::names::check("output file", out.key())) return rty::fail(where + ": " + *bad);
        range_map ranges;
        if (auto e = parse_ranges(out.value(), where + "[" + quoted(out.key()) + "]", ranges); !e) return e.error();
        per_output[std::string(out.key())] = std::move(ranges);
      }
    }
  }

  auto merged = section(top, "merged", origin);
  if (!merged) return merged.error();
  if (*merged) {
    for (const auto& kv : **merged) {
      const std::string where = org + ": merged[" + quoted(kv.key()) + "]";
      if (auto bad = rty::names::check("input file", kv.key())) return rty::fail(where + ": " + *bad);
      auto& per_output = cp.merged[std::string(kv.key())];
      if (kv.value().is_array()) {
        // Older Raythena wrote a plain list of output names (ray: example/state.json).
        for (const auto& name : kv.value().get_array()) {
          if (!name.is_string()) return rty::fail(where + ": expected output file names");
          if (auto bad = rty::names::check("output file", name.get_string())) return rty::fail(where + ": " + *bad);
          per_output[std::string(name.get_string())] = merged_record{};
        }
        continue;
      }
      if (!kv.value().is_object()) return rty::fail(where + ": expected an object {output: {path, guid}}");
      for (const auto& out : kv.value().get_object()) {
        const std::string owhere = where + "[" + quoted(out.key()) + "]";
        if (auto bad = rty::names::check("output file", out.key())) return rty::fail(owhere + ": " + *bad);
        if (!out.value().is_object()) return rty::fail(owhere + ": expected an object {path, guid}");
        const auto& o = out.value().get_object();
        merged_record rec;
        if (auto it = o.find("path"); it != o.end()) {
          if (!it->value().is_string()) return rty::fail(owhere + ".path: expected a string");
          rec.path = std::string(it->value().get_string());
          if (!rec.path.empty())
            if (auto bad = rty::names::check_path("path", rec.path)) return rty::fail(owhere + ": " + *bad);
        }
        if (auto it = o.find("guid"); it != o.end() && !it->value().is_null()) {
          if (!it->value().is_string()) return rty::fail(owhere + ".guid: expected a string");
          rec.guid = std::string(it->value().get_string());
          if (!rec.guid.empty())
            if (auto bad = rty::names::check("guid", rec.guid)) return rty::fail(owhere + ": " + *bad);
        }
        per_output[std::string(out.key())] = std::move(rec);
      }
    }
  }
  return cp;
}

rty::result<void> save_checkpoint(const checkpoint& cp, const std::string& path) {
  return rty::file::write_atomic(path, bj::serialize(to_json(cp)));
}

json_stream::json_stream(sink s, std::size_t chunk) : sink_(std::move(s)), chunk_(chunk) {
  buf_.reserve(chunk_ + 4096);
}

void json_stream::separate() {
  const std::uint64_t bit = std::uint64_t(1) << depth_;
  if (has_member_ & bit) buf_.push_back(',');
  has_member_ |= bit;
}

// boost::json::serialize's escaping: '"', '\\' and control characters; everything else as is.
void json_stream::quoted(std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  buf_.push_back('"');
  std::size_t plain = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    buf_.append(s.data() + plain, i - plain);
    plain = i + 1;
    buf_.push_back('\\');
    switch (c) {
      case '"': buf_.push_back('"'); break;
      case '\\': buf_.push_back('\\'); break;
      case '\b': buf_.push_back('b'); break;
      case '\t': buf_.push_back('t'); break;
      case '\n': buf_.push_back('n'); break;
      case '\f': buf_.push_back('f'); break;
      case '\r': buf_.push_back('r'); break;
      default:
        buf_.append("u00", 3);
        buf_.push_back(hex[c >> 4]);
        buf_.push_back(hex[c & 15]);
    }
  }
  buf_.append(s.data() + plain, s.size() - plain);
  buf_.push_back('"');
}

void json_stream::begin_object() {
  buf_.push_back('{');
  ++depth_;  // at most 5 levels in state.json; the mask has 64
  has_member_ &= ~(std::uint64_t(1) << depth_);
}

void json_stream::end_object() {
  buf_.push_back('}');
  --depth_;
  maybe_flush();
}

void json_stream::key(std::string_view k) {
  separate();
  quoted(k);
  buf_.push_back(':');
}

void json_stream::value(std::string_view s) { quoted(s); }

void json_stream::value(std::int64_t n) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
  (void)ec;
  buf_.append(digits, end);
}

void json_stream::range(std::string_view id, std::int64_t start, std::int64_t last, const std::string_view* path,
                        std::string_view guid) {
  key(id);
  begin_object();
  key("eventRangeID");
  value(id);
  key("startEvent");
  value(start);
  key("lastEvent");
  value(last);
  if (path) {
    key("path");
    value(*path);
  }
  if (!guid.empty()) {
    key("guid");
    value(guid);
  }
  end_object();
}

void json_stream::flush() {
  if (!failed_ && !buf_.empty() && !sink_(buf_)) failed_ = true;
  buf_.clear();
}

bool json_stream::finish() {
  flush();
  return !failed_;
}

rty::result<void> save_checkpoint_streamed(const std::string& path, const std::function<void(json_stream&)>& emit) {
  // file::atomic_file's steps (an exclusive temporary of a random name, fsync, rename, fsync of the
  // directory), fed chunk by chunk: a planted state.json.tmp is never written through.
  rty::file::atomic_file f;
  if (auto r = f.open(path); !r) return r;
  rty::result<void> written;
  json_stream out([&](std::string_view chunk) {
    written = f.write(chunk);
    return written.has_value();
  });
  emit(out);
  if (!out.finish()) return written;  // the sink fails only when a write did
  return f.commit();
}

rty::result<std::optional<checkpoint>> load_checkpoint(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    file = path + ".tmp";
    if (!std::filesystem::exists(file, ec)) return std::optional<checkpoint>{};
  }
  auto v = rty::json::read_file(file);
  if (!v) return rty::fail("cannot load checkpoint: " + v.error().message());
  auto cp = checkpoint_from_json(*v, file);
  if (!cp) return cp.error();
  return std::optional<checkpoint>(std::move(*cp));
}

}  // namespace rty::bookkeeping
