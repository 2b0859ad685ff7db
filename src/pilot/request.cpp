#include "pilot/request.hpp"

#include "common/error.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <zlib.h>

#include <charconv>
#include <cstring>
#include <limits>

namespace rty::pilot {
namespace {

namespace json = boost::json;

using rty::fail;

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  // Form bodies are almost all ASCII: skip eight such bytes at a time.
  while (i + 8 <= s.size()) {
    std::uint64_t word;
    std::memcpy(&word, s.data() + i, 8);
    if (word & 0x8080808080808080ULL) break;
    i += 8;
  }
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and values beyond U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's unquote_plus: '+' → ' ', %XX → byte, a malformed escape is kept literally.
// The stub's hottest loop (pilot's eventRanges come form-encoded, every quote a %22): one pass writing
// into a buffer of the input's size, which the output never exceeds.
std::string unquote_plus(std::string_view s) {
  std::string out(s.size(), '\0');
  char* o = out.data();
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    int hi, lo;
    if (c == '+') {
      *o++ = ' ';
    } else if (c == '%' && i + 2 < s.size() && (hi = hex_value(s[i + 1])) >= 0 && (lo = hex_value(s[i + 2])) >= 0) {
      *o++ = static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      *o++ = c;  // a malformed escape is kept literally
    }
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
  return out;
}

// parse_qs(keep_blank_values=False): '&'-separated, pairs without '=' or with an empty value dropped.
rty::result<fields> parse_form(std::string_view text, std::string_view origin) {
  fields out;
  while (!text.empty()) {
    const auto amp = text.find('&');
    const auto pair = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || eq + 1 == pair.size()) continue;
    std::string key = unquote_plus(pair.substr(0, eq));
    std::string value = unquote_plus(pair.substr(eq + 1));
    if (!valid_utf8(key) || !valid_utf8(value))
      return rty::fail(std::string(origin) + ": field \"" + (valid_utf8(key) ? key : "?") + "\" is not valid UTF-8");
    out.emplace(std::move(key), std::move(value));  // emplace keeps the first value of a repeated key
  }
  return out;
}

std::string number_text(double d) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

rty::result<fields> fields_from_json(std::string_view text, std::string_view origin) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);  // Boost.JSON rejects invalid UTF-8 in strings
  if (ec) return rty::fail(std::string(origin) + " is not valid JSON: " + ec.message());
  if (!v.is_object()) return rty::fail(std::string(origin) + " is JSON but not an object");
  fields out;
  for (const auto& kv : v.get_object()) {
    std::string value;
    switch (kv.value().kind()) {
      case json::kind::string:
        if (kv.value().get_string().empty()) continue;  // like parse_qs: an empty value is no value
        value = std::string(kv.value().get_string());
        break;
      case json::kind::int64: value = std::to_string(kv.value().get_int64()); break;
      case json::kind::uint64: value = std::to_string(kv.value().get_uint64()); break;
      case json::kind::double_: value = number_text(kv.value().get_double()); break;
      default: value = json::serialize(kv.value()); break;
    }
    out.emplace(std::string(kv.key()), std::move(value));
  }
  return out;
}

rty::result<std::string> gunzip(std::string_view in, std::size_t limit) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return rty::fail("gzip body: cannot initialise zlib");
  std::string out;
  char chunk[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(chunk);
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      const std::string why = z.msg ? z.msg : (rc == Z_BUF_ERROR ? "truncated stream" : "error " + std::to_string(rc));
      inflateEnd(&z);
      return rty::fail("gzip body of " + std::to_string(in.size()) + " bytes does not inflate: " + why);
    }
    out.append(chunk, sizeof chunk - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return rty::fail("gzip body inflates to more than the limit of " + std::to_string(limit) + " bytes");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return rty::fail("gzip body of " + std::to_string(in.size()) + " bytes is truncated");
    }
  }
  inflateEnd(&z);
  return rty::result<std::string>(boost::system::in_place_value, std::move(out));
}

std::string_view path_of(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.substr(0, scheme.size()) == scheme) {
      target.remove_prefix(scheme.size());
      const auto slash = target.find('/');
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
      break;
    }
  }
  return target.substr(0, target.find_first_of("?#"));
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

std::string_view skip_space(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  return s;
}

const std::string* find(const fields& f, const char* key) {
  const auto it = f.find(key);
  return it == f.end() ? nullptr : &it->second;
}

}  // namespace

endpoint route(std::string_view target) {
  const auto path = path_of(target);
  if (path == "/") return endpoint::get_job;
  if (path == "/api/v1/pilot/update_worker_node") return endpoint::update_worker_node;
  if (path == "/api/v1/pilot/update_worker_node_gpu") return endpoint::update_worker_node_gpu;
  constexpr std::string_view prefix = "/server/panda/";
  if (path.substr(0, prefix.size()) != prefix) return endpoint::unknown;
  const auto name = path.substr(prefix.size());
  if (name == "getJob") return endpoint::get_job;
  if (name == "updateJob") return endpoint::update_job;
  if (name == "updateWorkerPilotStatus") return endpoint::update_worker_pilot_status;
  if (name == "getEventRanges") return endpoint::get_event_ranges;
  if (name == "updateEventRanges") return endpoint::update_event_ranges;
  if (name == "getResourceTypes") return endpoint::get_resource_types;
  if (name == "updateJobsInBulk" || name == "getStatus" || name == "getKeyPair") return endpoint::not_implemented;
  return endpoint::unknown;
}

std::string_view to_string(endpoint e) {
  switch (e) {
    case endpoint::get_job: return "getJob";
    case endpoint::update_job: return "updateJob";
    case endpoint::update_worker_pilot_status: return "updateWorkerPilotStatus";
    case endpoint::get_event_ranges: return "getEventRanges";
    case endpoint::update_event_ranges: return "updateEventRanges";
    case endpoint::update_worker_node: return "update_worker_node";
    case endpoint::update_worker_node_gpu: return "update_worker_node_gpu";
    case endpoint::get_resource_types: return "getResourceTypes";
    case endpoint::not_implemented: return "not implemented";
    case endpoint::unknown: return "unknown";
  }
  return "?";
}

rty::result<fields> decode_body(std::string_view target, std::string_view content_type,
                                                       std::string_view body, std::size_t max_decompressed) {
  fields out;
  if (const auto q = target.find('?'); q != std::string_view::npos) {
    auto query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
    auto parsed = parse_form(query, "query string");
    if (!parsed) return parsed.error();
    out = std::move(*parsed);
  }

  rty::result<fields> from_body = fields{};
  if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f && static_cast<unsigned char>(body[1]) == 0x8b) {
    auto text = gunzip(body, max_decompressed);
    if (!text) return text.error();
    from_body = fields_from_json(*text, "gzip body");
  } else if (skip_space(body).substr(0, 1) == "{" || starts_with_ci(content_type, "application/json")) {
    if (!skip_space(body).empty()) from_body = fields_from_json(body, "JSON body");
  } else {
    from_body = parse_form(body, "form body");
  }
  if (!from_body) return from_body.error();
  for (auto& kv : *from_body) out.insert_or_assign(kv.first, std::move(kv.second));
  return out;
}

rty::result<get_event_ranges_request> parse_get_event_ranges(const fields& f) {
  get_event_ranges_request r;
  const auto* panda_id = find(f, "pandaID");
  if (!panda_id || panda_id->empty()) return rty::fail("getEventRanges: no pandaID");
  const auto* n = find(f, "nRanges");
  if (!n) return rty::fail("getEventRanges: no nRanges");
  // Python's int() tolerates surrounding blanks and a sign; so do we.
  std::string_view digits = *n;
  while (!digits.empty() && (digits.front() == ' ' || digits.front() == '\t')) digits.remove_prefix(1);
  while (!digits.empty() && (digits.back() == ' ' || digits.back() == '\t')) digits.remove_suffix(1);
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  long long value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size())
    return rty::fail("getEventRanges: nRanges \"" + *n + "\" is not an integer");
  if (value < 1 || value > std::numeric_limits<int>::max())
    return rty::fail("getEventRanges: nRanges " + *n + " is out of range (expected at least 1)");
  r.panda_id = *panda_id;
  r.n_ranges = static_cast<int>(value);
  if (const auto* j = find(f, "jobsetID")) r.jobset_id = *j;
  if (const auto* t = find(f, "taskID")) r.task_id = *t;
  return r;
}

bool panda_id_matches(const boost::json::object& job, std::string_view panda_id) {
  const auto* v = job.if_contains("PandaID");
  if (!v) return false;
  if (v->is_string()) return v->get_string() == panda_id;
  if (v->is_int64()) return std::to_string(v->get_int64()) == panda_id;
  if (v->is_uint64()) return std::to_string(v->get_uint64()) == panda_id;
  return false;
}

namespace {

std::string where(std::size_t i, std::size_t j = std::string::npos) {
  std::string s = "updateEventRanges: eventRanges[" + std::to_string(i) + "]";
  if (j != std::string::npos) s += ".eventRanges[" + std::to_string(j) + "]";
  return s;
}

// Integer from a JSON number or numeric string (pilot versions differ).
bool integer_of(const json::value* v, std::int64_t& out) {
  if (!v) return false;
  if (v->is_int64()) { out = v->get_int64(); return true; }
  if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    out = static_cast<std::int64_t>(v->get_uint64());
    return true;
  }
  if (v->is_double()) {
    const double d = v->get_double();
    if (d >= 0 && d < 9e18 && d == static_cast<double>(static_cast<std::int64_t>(d))) {
      out = static_cast<std::int64_t>(d);
      return true;
    }
    return false;
  }
  if (v->is_string()) {
    const auto s = v->get_string();
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return !s.empty() && ec == std::errc() && p == s.data() + s.size();
  }
  return false;
}

bool string_of(const json::value* v, std::string& out) {
  if (!v || !v->is_string()) return false;
  out = std::string(v->get_string());
  return true;
}

// eventRangeID + eventStatus (+ errorCode), shared by the three shapes.
// `i`, `j`: the entry's place, named only in an error (a message per range would cost an allocation each).
rty::result<rty::range_update> base_entry(const json::object& e, std::size_t i,
                                                                 std::size_t j = std::string::npos) {
  const auto at = [&] { return where(i, j); };
  rty::range_update u;
  if (!string_of(e.if_contains("eventRangeID"), u.range_id) || u.range_id.empty())
    return rty::fail(at() + ": no eventRangeID string");
  std::string status;
  if (!string_of(e.if_contains("eventStatus"), status)) return rty::fail(at() + " (" + u.range_id + "): no eventStatus string");
  const auto parsed = rty::parse_range_status(status);
  if (!parsed)
    return rty::fail(at() + " (" + u.range_id + "): eventStatus \"" + status + "\" is not finished, failed, fatal or running");
  u.status = *parsed;
  if (const auto* code = e.if_contains("errorCode")) {
    std::int64_t c = 0;
    if (!integer_of(code, c) || c < std::numeric_limits<int>::min() || c > std::numeric_limits<int>::max())
      return rty::fail(at() + " (" + u.range_id + "): errorCode is not an integer");
    u.error_code = static_cast<int>(c);
  }
  return u;
}

}  // namespace

rty::result<std::vector<rty::range_update>> parse_update_event_ranges(const fields& f) {
  const auto* text = find(f, "eventRanges");
  if (!text) return rty::fail("updateEventRanges: no eventRanges field");
  boost::system::error_code ec;
  // Parsed into an arena (on the stack for pilot's usual few ranges) and read into range_updates: one
  // malloc per string and object less, once per updateEventRanges on the stub's hot path.
  alignas(std::max_align_t) unsigned char arena[8192];
  json::monotonic_resource mr(arena, sizeof arena);
  const json::value v = json::parse(*text, ec, json::storage_ptr(&mr));
  if (ec) return rty::fail("updateEventRanges: eventRanges is not valid JSON: " + ec.message());
  if (!v.is_array()) return rty::fail("updateEventRanges: eventRanges is not a JSON list");

  std::vector<rty::range_update> out;
  const auto& list = v.get_array();
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) return rty::fail(where(i) + " is not an object");
    const auto& elt = list[i].get_object();
    const auto* es_output = elt.if_contains("esOutput");
    const auto* zip_file = elt.if_contains("zipFile");

    if (!es_output && !zip_file) {
      // A bare range: failures (version=0). A finished range must come with its file.
      auto u = base_entry(elt, i);
      if (!u) return u.error();
      if (u->status == rty::range_status::finished)
        return rty::fail(where(i) + " (" + u->range_id + "): finished entry without esOutput/zipFile file information");
      out.push_back(std::move(*u));
      continue;
    }

    const auto* ranges = elt.if_contains("eventRanges");
    if (!ranges || !ranges->is_array()) return rty::fail(where(i) + ": file block without an eventRanges list");
    if (es_output && !es_output->is_object()) return rty::fail(where(i) + ": esOutput is not an object");
    rty::range_update zip;  // file data shared by every range of a zip
    if (zip_file) {
      if (!zip_file->is_object()) return rty::fail(where(i) + ": zipFile is not an object");
      const auto& z = zip_file->get_object();
      if (!string_of(z.if_contains("lfn"), zip.path) || zip.path.empty()) return rty::fail(where(i) + ": zipFile without lfn");
      if (!integer_of(z.if_contains("fsize"), zip.fsize) || zip.fsize < 0)
        return rty::fail(where(i) + ": zipFile without an integer fsize");
      if (!string_of(z.if_contains("adler32"), zip.chksum)) return rty::fail(where(i) + ": zipFile without adler32");
    }

    const auto& entries = ranges->get_array();
    for (std::size_t j = 0; j < entries.size(); ++j) {
      if (!entries[j].is_object()) return rty::fail(where(i, j) + " is not an object");
      const auto& e = entries[j].get_object();
      auto u = base_entry(e, i, j);
      if (!u) return u.error();
      const auto at = [&] { return where(i, j) + " (" + u->range_id + ")"; };
      const bool has_file = u->status == rty::range_status::finished;
      if (zip_file) {
        u->type = "zip_output";
        u->path = zip.path;
        u->chksum = zip.chksum;
        u->fsize = zip.fsize;
      } else {
        u->type = "es_output";
        // Failed entries inside an esOutput block carry no usable file; only finished ones must.
        if (!string_of(e.if_contains("pfn"), u->path) || u->path.empty()) {
          if (has_file) return rty::fail(at() + ": finished entry without pfn");
        }
        if (!integer_of(e.if_contains("fsize"), u->fsize) || u->fsize < 0) {
          if (has_file) return rty::fail(at() + ": finished entry without an integer fsize");
          u->fsize = -1;
        }
        if (!string_of(e.if_contains("adler32"), u->chksum) || u->chksum.empty()) {
          if (has_file) return rty::fail(at() + ": finished entry without adler32");
        }
      }
      out.push_back(std::move(*u));
    }
  }
  return out;
}

capped_fields cap_fields(const fields& f, std::size_t per_field, std::size_t total) {
  constexpr std::size_t max_name = 256;
  capped_fields out;
  std::size_t used = 0;
  for (const auto& [name, value] : f) {
    if (name.size() > max_name) {
      ++out.dropped;
      continue;
    }
    std::string_view v = value;
    bool cut = false;
    if (v.size() > per_field) {
      std::size_t end = per_field;
      // Back to the start of a UTF-8 character, so the value stays valid text.
      while (end > 0 && (static_cast<unsigned char>(v[end]) & 0xc0) == 0x80) --end;
      v = v.substr(0, end);
      cut = true;
    }
    const std::string note = cut ? "...[cut: " + std::to_string(value.size()) + " bytes]" : std::string();
    const std::size_t size = name.size() + v.size() + note.size();
    if (used + size > total) {
      ++out.dropped;
      continue;
    }
    used += size;
    if (cut) ++out.cut;
    std::string kept(v);
    kept += note;
    out.kept.emplace(name, std::move(kept));
  }
  return out;
}

}  // namespace rty::pilot

namespace rty::pilot {

worker_node_report parse_worker_node(const fields& f) {
  auto text = [&](const char* key) {
    auto it = f.find(key);
    return it == f.end() ? std::string() : it->second.substr(0, 256);
  };
  auto number = [&](const char* key) -> std::optional<std::int64_t> {
    auto it = f.find(key);
    if (it == f.end()) return std::nullopt;
    std::string_view v = it->second;
    v = v.substr(0, v.find('.'));  // total_memory may come as 24105 or 24105.13
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || end != v.data() + v.size() || n < 0) return std::nullopt;
    return n;
  };
  worker_node_report r;
  r.host_name = text("host_name");
  r.cpu_model = text("cpu_model");
  r.logical_cpus = number("n_logical_cpus");
  r.total_memory_mb = number("total_memory");
  r.local_disk_gb = number("total_local_disk");
  return r;
}

}  // namespace rty::pilot
