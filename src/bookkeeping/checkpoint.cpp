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

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

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

using error = std::string;

std::optional<error> parse_range(const bj::value& v, std::string_view key, const std::string& where,
                                 range_record& out) {
  if (!v.is_object()) return where + ": expected an object {eventRangeID, startEvent, lastEvent}";
  const auto& o = v.get_object();
  out.event_range_id = std::string(key);
  if (auto it = o.find("eventRangeID"); it != o.end()) {
    if (!it->value().is_string()) return where + ".eventRangeID: expected a string";
    out.event_range_id = std::string(it->value().get_string());
  }
  const std::int64_t fallback = event_from_id(out.event_range_id);
  out.start_event = rty::json::get_int(o, "startEvent").value_or(fallback);
  out.last_event = rty::json::get_int(o, "lastEvent").value_or(fallback);
  if (auto it = o.find("path"); it != o.end()) {
    if (it->value().is_string())
      out.path = std::string(it->value().get_string());
    else if (!it->value().is_null())
      return where + ".path: expected a string";
  }
  if (auto it = o.find("guid"); it != o.end() && it->value().is_string())
    out.output_guid = std::string(it->value().get_string());
  return std::nullopt;
}

std::optional<error> parse_ranges(const bj::value& v, const std::string& where, range_map& out) {
  if (!v.is_object()) return where + ": expected an object of event ranges keyed by eventRangeID";
  for (const auto& kv : v.get_object()) {
    range_record r;
    if (auto e = parse_range(kv.value(), kv.key(), where + "[" + quoted(kv.key()) + "]", r)) return e;
    out[std::string(kv.key())] = std::move(r);
  }
  return std::nullopt;
}

// Section = object keyed by input LFN.
const bj::object* section(const bj::object& top, std::string_view name, std::string_view origin,
                          error& err) {
  auto it = top.find(name);
  if (it == top.end() || it->value().is_null()) return nullptr;
  if (!it->value().is_object()) {
    err = std::string(origin) + ": \"" + std::string(name) + "\": expected an object keyed by input file";
    return nullptr;
  }
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

boost::system::result<checkpoint, std::string> checkpoint_from_json(const bj::value& v,
                                                                    std::string_view origin) {
  const std::string org(origin);
  if (!v.is_object()) return org + ": expected a JSON object with simulated/merging/merged/failed";
  const auto& top = v.get_object();
  checkpoint cp;
  error err;

  for (auto [name, target] : {std::pair{"simulated", &cp.simulated}, std::pair{"failed", &cp.failed}}) {
    const bj::object* sec = section(top, name, origin, err);
    if (!err.empty()) return err;
    if (!sec) continue;
    for (const auto& kv : *sec) {
      range_map ranges;
      if (auto e = parse_ranges(kv.value(), org + ": " + name + "[" + quoted(kv.key()) + "]", ranges)) return *e;
      (*target)[std::string(kv.key())] = std::move(ranges);
    }
  }

  if (const bj::object* sec = section(top, "merging", origin, err)) {
    for (const auto& kv : *sec) {
      const std::string where = org + ": merging[" + quoted(kv.key()) + "]";
      if (!kv.value().is_object()) return where + ": expected an object keyed by output file";
      auto& per_output = cp.merging[std::string(kv.key())];
      for (const auto& out : kv.value().get_object()) {
        range_map ranges;
        if (auto e = parse_ranges(out.value(), where + "[" + quoted(out.key()) + "]", ranges)) return *e;
        per_output[std::string(out.key())] = std::move(ranges);
      }
    }
  } else if (!err.empty()) {
    return err;
  }

  if (const bj::object* sec = section(top, "merged", origin, err)) {
    for (const auto& kv : *sec) {
      const std::string where = org + ": merged[" + quoted(kv.key()) + "]";
      auto& per_output = cp.merged[std::string(kv.key())];
      if (kv.value().is_array()) {
        // Older Raythena wrote a plain list of output names (ray: example/state.json).
        for (const auto& name : kv.value().get_array()) {
          if (!name.is_string()) return where + ": expected output file names";
          per_output[std::string(name.get_string())] = merged_record{};
        }
        continue;
      }
      if (!kv.value().is_object()) return where + ": expected an object {output: {path, guid}}";
      for (const auto& out : kv.value().get_object()) {
        const std::string owhere = where + "[" + quoted(out.key()) + "]";
        if (!out.value().is_object()) return owhere + ": expected an object {path, guid}";
        const auto& o = out.value().get_object();
        merged_record rec;
        if (auto it = o.find("path"); it != o.end()) {
          if (!it->value().is_string()) return owhere + ".path: expected a string";
          rec.path = std::string(it->value().get_string());
        }
        if (auto it = o.find("guid"); it != o.end() && !it->value().is_null()) {
          if (!it->value().is_string()) return owhere + ".guid: expected a string";
          rec.guid = std::string(it->value().get_string());
        }
        per_output[std::string(out.key())] = std::move(rec);
      }
    }
  } else if (!err.empty()) {
    return err;
  }
  return cp;
}

std::error_code save_checkpoint(const checkpoint& cp, const std::string& path, std::string* what) {
  return rty::file::write_atomic(path, bj::serialize(to_json(cp)), what);
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

std::error_code save_checkpoint_streamed(const std::string& path, const std::function<void(json_stream&)>& emit,
                                         std::string* what) {
  // write_atomic's steps (tmp, fsync, rename, fsync of the directory), fed chunk by chunk.
  const std::string tmp = path + ".tmp";
  auto error = [&](const char* step, const std::string& file, int err) {
    std::error_code ec(err, std::generic_category());
    if (what) *what = std::string(step) + " '" + file + "': " + ec.message();
    return ec;
  };
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return error("cannot create", tmp, errno);
  int write_errno = 0;
  json_stream out([&](std::string_view chunk) {
    while (!chunk.empty()) {
      const ssize_t w = ::write(fd, chunk.data(), chunk.size());
      if (w < 0) {
        if (errno == EINTR) continue;
        write_errno = errno;
        return false;
      }
      chunk.remove_prefix(static_cast<std::size_t>(w));
    }
    return true;
  });
  emit(out);
  int err = 0;
  const char* step = nullptr;
  if (!out.finish()) {
    err = write_errno, step = "cannot write";
  } else if (::fsync(fd) != 0) {
    err = errno, step = "cannot fsync";
  }
  if (::close(fd) != 0 && !step) err = errno, step = "cannot close";
  if (step) {
    ::unlink(tmp.c_str());
    return error(step, tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return error("cannot rename", tmp + "' to '" + path, err);
  }
  rty::file::sync_directory(rty::file::dir_of(path));
  return {};
}

boost::system::result<std::optional<checkpoint>, std::string> load_checkpoint(const std::string& path) {
  std::string file = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    file = path + ".tmp";
    if (!std::filesystem::exists(file, ec)) return std::optional<checkpoint>{};
  }
  std::string what;
  auto v = rty::json::read_file(file, &what);
  if (!v) return "cannot load checkpoint: " + what;
  auto cp = checkpoint_from_json(*v, file);
  if (!cp) return cp.error();
  return std::optional<checkpoint>(std::move(*cp));
}

}  // namespace rty::bookkeeping
