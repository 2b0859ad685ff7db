#define BOOST_TEST_MODULE protocol
#include <boost/test/unit_test.hpp>

#include "protocol/frame.hpp"

#include <boost/json.hpp>

using namespace rty::protocol;
namespace json = boost::json;

namespace {

std::string raw_frame(std::string_view body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string f{char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
  return f + std::string(body);
}

json::object must_next(frame_decoder& d) {
  auto r = d.next();
  BOOST_TEST_REQUIRE(r.has_value(), r.error());
  BOOST_TEST_REQUIRE(r->has_value());
  return **r;
}

}  // namespace

BOOST_AUTO_TEST_CASE(encode_is_big_endian_length_plus_compact_json) {
  const auto f = encode_frame(json::object{{"type", "heartbeat"}});
  BOOST_TEST(f == raw_frame(R"({"type":"heartbeat"})"));
  BOOST_TEST(f.substr(0, 4) == std::string("\0\0\0\x14", 4));
  // Lengths above 255 use the upper bytes.
  const auto big = encode_frame(json::object{{"type", "x"}, {"pad", std::string(300, 'a')}});
  BOOST_TEST(static_cast<unsigned char>(big[2]) == 1);
  BOOST_TEST(big.size() == 4 + ((std::size_t(1) << 8) | static_cast<unsigned char>(big[3])));
}

BOOST_AUTO_TEST_CASE(byte_by_byte) {
  const auto f = encode_frame(json::object{{"type", "hello"}, {"n", 7}});
  frame_decoder d;
  for (std::size_t i = 0; i + 1 < f.size(); ++i) {
    d.feed(f.substr(i, 1));
    auto r = d.next();
    BOOST_TEST_REQUIRE(r.has_value());
    BOOST_TEST(!r->has_value());
  }
  d.feed(f.substr(f.size() - 1));
  const auto m = must_next(d);
  BOOST_TEST(m.at("n").as_int64() == 7);
  BOOST_TEST(d.buffered() == 0u);
  auto again = d.next();
  BOOST_TEST_REQUIRE(again.has_value());
  BOOST_TEST(!again->has_value());
}

BOOST_AUTO_TEST_CASE(several_frames_in_one_feed_and_a_partial_tail) {
  std::string bytes;
  for (int i = 0; i < 3; ++i) bytes += encode_frame(json::object{{"type", "t"}, {"i", i}});
  const auto tail = encode_frame(json::object{{"type", "t"}, {"i", 3}});
  bytes += tail.substr(0, 6);
  frame_decoder d;
  d.feed(bytes);
  for (int i = 0; i < 3; ++i) BOOST_TEST(must_next(d).at("i").as_int64() == i);
  auto r = d.next();
  BOOST_TEST_REQUIRE(r.has_value());
  BOOST_TEST(!r->has_value());
  d.feed(tail.substr(6));
  BOOST_TEST(must_next(d).at("i").as_int64() == 3);
}

BOOST_AUTO_TEST_CASE(oversized_frame_fails_at_the_header_and_stays_failed) {
  frame_decoder d(100);
  // Exactly the limit is fine.
  std::string body = R"({"type":"x","p":")";
  body += std::string(100 - body.size() - 2, 'a') + "\"}";
  BOOST_TEST_REQUIRE(body.size() == 100u);
  d.feed(raw_frame(body));
  BOOST_TEST(must_next(d).at("type").as_string() == "x");
  // 101 bytes: rejected from the 4 length bytes alone, before the body arrives.
  d.feed(std::string("\0\0\0\x65", 4));
  auto r = d.next();
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("101") != std::string::npos);
  BOOST_TEST(r.error().message().find("100") != std::string::npos);
  BOOST_TEST(d.failed());
  // A valid frame afterwards does not revive the decoder.
  d.feed(encode_frame(json::object{{"type", "heartbeat"}}));
  auto after = d.next();
  BOOST_TEST(!after.has_value());
  BOOST_TEST(d.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(default_limit_is_16_mib) {
  frame_decoder d;
  d.feed(std::string("\x01\x00\x00\x01", 4));
  auto r = d.next();
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("16777217") != std::string::npos);
  BOOST_TEST(r.error().message().find("16777216") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(garbage_is_an_error) {
  frame_decoder d;
  d.feed(raw_frame("GET / HTTP/1.1"));
  auto r = d.next();
  BOOST_TEST_REQUIRE(!r.has_value());
  BOOST_TEST(r.error().message().find("not valid JSON") != std::string::npos);
  BOOST_TEST(!d.next().has_value());

  // An HTTP client talking to the channel port: "GET " read as a length is far beyond the limit.
  frame_decoder http;
  http.feed("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto h = http.next();
  BOOST_TEST_REQUIRE(!h.has_value());
  BOOST_TEST(h.error().message().find("exceeds the limit") != std::string::npos);

  frame_decoder empty;
  empty.feed(raw_frame(""));
  BOOST_TEST(!empty.next().has_value());

  frame_decoder trailing;
  trailing.feed(raw_frame(R"({"type":"x"} {)"));
  BOOST_TEST(!trailing.next().has_value());
}

BOOST_AUTO_TEST_CASE(not_an_object_or_no_type) {
  for (const char* body : {"[1,2]", "\"type\"", "42", "null"}) {
    frame_decoder d;
    d.feed(raw_frame(body));
    auto r = d.next();
    BOOST_TEST_REQUIRE(!r.has_value(), body);
    BOOST_TEST(r.error().message().find("not an object") != std::string::npos, r.error());
  }
  for (const char* body : {R"({"kind":"hello"})", R"({"type":7})", "{}"}) {
    frame_decoder d;
    d.feed(raw_frame(body));
    auto r = d.next();
    BOOST_TEST_REQUIRE(!r.has_value(), body);
    BOOST_TEST(r.error().message().find("\"type\"") != std::string::npos, r.error());
    BOOST_TEST(d.failed());
  }
}

BOOST_AUTO_TEST_CASE(long_stream_does_not_accumulate) {
  frame_decoder d;
  const auto f = encode_frame(json::object{{"type", "heartbeat"}});
  for (int i = 0; i < 10000; ++i) {
    d.feed(f + f.substr(0, 3));
    must_next(d);
    d.feed(f.substr(3));
    must_next(d);
  }
  BOOST_TEST(d.buffered() == 0u);
}

BOOST_AUTO_TEST_CASE(strings_that_are_not_utf8_still_make_a_decodable_frame) {
  // A pilot's field with a stray byte (latin-1, a cut multi-byte character) used to make a frame the
  // peer's parser refused, and the node was declared lost. Each bad byte now goes out as U+FFFD.
  const boost::json::object m{{"type", "job_update"},
                              {"state", std::string("run\x80ning")},
                              {"fields", boost::json::object{{std::string("k\xff"), std::string("caf\xc3")}}},
                              {"ok", "d\xc3\xa9j\xc3\xa0 vu"}};
  rty::protocol::frame_decoder d;
  d.feed(rty::protocol::encode_frame(m));
  auto got = d.next();
  BOOST_TEST_REQUIRE(got.has_value(), (got ? "" : got.error().message()));
  BOOST_TEST_REQUIRE(got->has_value());
  const auto& o = **got;
  BOOST_TEST(o.at("state").as_string() == "run\xEF\xBF\xBDning");
  BOOST_TEST(o.at("fields").as_object().at("k\xEF\xBF\xBD").as_string() == "caf\xEF\xBF\xBD");
  BOOST_TEST(o.at("ok").as_string() == "d\xc3\xa9j\xc3\xa0 vu");  // valid UTF-8 is left alone
  // Overlong forms and surrogates are not UTF-8 either.
  d.feed(rty::protocol::encode_frame(boost::json::object{{"type", "x"}, {"a", "\xc0\xaf"}, {"b", "\xed\xa0\x80"}}));
  auto bad = d.next();
  BOOST_TEST_REQUIRE(bad.has_value());
  BOOST_TEST((**bad).at("a").as_string() == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

BOOST_AUTO_TEST_CASE(a_bad_byte_among_long_ascii_runs_is_found) {
  // The UTF-8 check skips ASCII 8 bytes at a time: a bad byte at any offset, after any run, is still seen.
  for (std::size_t at = 0; at < 24; ++at) {
    std::string s(40, 'a');
    s[at] = '\x80';
    rty::protocol::frame_decoder d;
    d.feed(rty::protocol::encode_frame(boost::json::object{{"type", "x"}, {"s", s}, {"ok", std::string(30, 'b') + "\xc3\xa9"}}));
    auto got = d.next();
    BOOST_TEST_REQUIRE(got.has_value());
    BOOST_TEST_REQUIRE(got->has_value());
    std::string want = s;
    want.replace(at, 1, "\xEF\xBF\xBD");
    BOOST_TEST((**got).at("s").as_string() == want);
    BOOST_TEST((**got).at("ok").as_string() == std::string(30, 'b') + "\xc3\xa9");
  }
}
