// What pilot3 sends to the node-local server: request target, Content-Type and body as the HTTP layer
// hands them to rty::pilot, then the getEventRanges / updateEventRanges parsers on the decoded fields.
// Layout: byte 0 = flags, then "<target>\n<content-type>\n<body>".
//   flags & 0x80: the rest is an eventRanges JSON text given straight to parse_update_event_ranges
//                 (bypasses form encoding, so the fuzzer mutates the JSON itself);
//   flags & 0x01: the harness gzips the body (pilot >= 3.7.3 sends gzip-JSON without Content-Encoding);
//   flags & 0x02: ...and cuts (flags >> 2) & 0x1f bytes off the end of the gzip stream.
// Properties: decode_body never throws; every decoded name and value is valid UTF-8; a decoded
// getEventRanges request has nRanges >= 1.
#include "fuzz_support.hpp"
#include "pilot/request.hpp"

#include <boost/json/object.hpp>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace {

namespace pl = rty::pilot;

std::string gzip(std::string_view in) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::string out(deflateBound(&z, static_cast<uLong>(in.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

bool valid_utf8(std::string_view s) {
  // Written apart from the decoder's own check, so that one bug does not hide in both.
  static constexpr std::uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = c;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c >> 5) == 0x6) n = 1, cp = c & 0x1f;
    else if ((c >> 4) == 0xe) n = 2, cp = c & 0x0f;
    else if ((c >> 3) == 0x1e) n = 3, cp = c & 0x07;
    else return false;
    if (s.size() - i <= n) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

const boost::json::object& fixed_job() {
  static const boost::json::object job{{"PandaID", 6000000001}, {"jobsetID", "1"}};
  return job;
}

void parse_fields(const pl::fields& f, bool decoded) {
  for (const auto& [k, v] : f) {
    if (!decoded) break;
    RTY_FUZZ_CHECK(valid_utf8(k), "decoded field name is not UTF-8");
    RTY_FUZZ_CHECK(valid_utf8(v), "decoded value of " + k + " is not UTF-8");
  }
  if (auto g = pl::parse_get_event_ranges(f)) {
    RTY_FUZZ_CHECK(g->n_ranges >= 1 && !g->panda_id.empty(), "getEventRanges accepted without nRanges/pandaID");
    (void)pl::panda_id_matches(fixed_job(), g->panda_id);
  }
  if (auto u = pl::parse_update_event_ranges(f)) {
    for (const auto& x : *u) RTY_FUZZ_CHECK(!x.range_id.empty(), "update without a range id");
  }
}

}  // namespace

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned flags = data[0];
  const auto rest = rty::fuzz::as_text(data + 1, size - 1);
  if (flags & 0x80) {
    parse_fields(pl::fields{{"eventRanges", std::string(rest)}}, false);
    return 0;
  }
  const auto nl1 = rest.find('\n');
  const auto target = rest.substr(0, nl1);
  std::string_view content_type, body;
  if (nl1 != std::string_view::npos) {
    const auto after = rest.substr(nl1 + 1);
    const auto nl2 = after.find('\n');
    content_type = after.substr(0, nl2);
    if (nl2 != std::string_view::npos) body = after.substr(nl2 + 1);
  }
  (void)pl::to_string(pl::route(target));
  std::string packed;
  if (flags & 0x01) {
    packed = gzip(body);
    if (flags & 0x02) packed.resize(packed.size() - std::min<std::size_t>(packed.size(), (flags >> 2) & 0x1f));
    body = packed;
  }
  // A small inflate limit keeps runs fast and exercises the limit.
  auto f = pl::decode_body(target, content_type, body, 64 * 1024);
  if (!f) {
    RTY_FUZZ_CHECK(!f.error().message().empty(), "decode error without a message");
    return 0;
  }
  parse_fields(*f, true);
  return 0;
}
