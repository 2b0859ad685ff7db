#include "protocol/frame.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include <cstring>

namespace rty::protocol {

namespace {

// Length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlong forms, no surrogates, at most
// U+10FFFF), 0 if there is none. What Boost.JSON's parser accepts, so what we send always decodes.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto c = b(i);
  if (c < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80, hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;
    if (c == 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;
    if (c == 0xf4) hi = 0x8f;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(i + 1) < lo || b(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k)
    if (b(i + k) < 0x80 || b(i + k) > 0xbf) return 0;
  return n;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    // Frames are ASCII but for the odd field: skip 8 ASCII bytes at a time.
    std::uint64_t word;
    if (i + 8 <= s.size() && (std::memcpy(&word, s.data() + i, 8), (word & 0x8080808080808080ULL) == 0)) {
      i += 8;
      continue;
    }
    const auto n = utf8_sequence(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string repaired(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto n = utf8_sequence(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD for each byte that starts no valid sequence
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

void repair(boost::json::value& v) {
  if (auto* str = v.if_string()) {
    if (!valid_utf8(*str)) *str = repaired(*str);
  } else if (auto* arr = v.if_array()) {
    for (auto& e : *arr) repair(e);
  } else if (auto* obj = v.if_object()) {
    boost::json::object fixed;
    for (auto& kv : *obj) {
      repair(kv.value());
      fixed[valid_utf8(kv.key()) ? std::string(kv.key()) : repaired(kv.key())] = std::move(kv.value());
    }
    *obj = std::move(fixed);
  }
}

void put_length(std::string& frame, std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  frame.push_back(static_cast<char>((n >> 24) & 0xff));
  frame.push_back(static_cast<char>((n >> 16) & 0xff));
  frame.push_back(static_cast<char>((n >> 8) & 0xff));
  frame.push_back(static_cast<char>(n & 0xff));
}

void set_length(std::string& frame, std::size_t length) {
  const auto n = static_cast<std::uint32_t>(length);
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
}

// Appends the compact JSON of `message` to `out`, straight from the serializer: no intermediate string.
template <class Json>
void serialize_into(std::string& out, const Json& message) {
  boost::json::serializer sr;
  sr.reset(&message);
  std::size_t chunk = 1024;
  while (!sr.done()) {
    const std::size_t used = out.size();
    out.resize(used + chunk);
    out.resize(used + sr.read(out.data() + used, chunk).size());
    chunk *= 2;
  }
}

// Boost.JSON serialises a string's bytes as they are, and its parser refuses invalid UTF-8: a pilot's
// field with a stray byte would make a frame the peer cannot decode (and the node lost). Such strings
// go out with U+FFFD in place of each bad byte; valid messages (all but never) pay one scan.
// The frame is built in place: 4 bytes of length, then the body, with room for a MAC after it.
std::string frame_of(const boost::json::object& message) {
  std::string frame;
  frame.reserve(1024);
  frame.append(4, '\0');
  serialize_into(frame, message);
  if (!valid_utf8(std::string_view(frame).substr(4))) {
    boost::json::value v = message;
    repair(v);
    frame.resize(4);
    serialize_into(frame, v);
  }
  frame.reserve(frame.size() + mac_size);  // the tag of a sealed frame goes in without a reallocation
  set_length(frame, frame.size() - 4);
  return frame;
}

}  // namespace

std::string encode_body(const boost::json::object& message) { return frame_of(message).substr(4); }

std::string frame_body(std::string_view body) {
  std::string frame;
  frame.reserve(4 + body.size());
  put_length(frame, body.size());
  frame += body;
  return frame;
}

std::string encode_frame(const boost::json::object& message) { return frame_of(message); }

digest frame_mac::tag(std::uint64_t sequence, std::string_view body) const {
  std::uint8_t seq[8];
  for (int i = 0; i < 8; ++i) seq[i] = static_cast<std::uint8_t>(sequence >> (56 - 8 * i));
  auto h = key_.begin();
  h.update(seq, sizeof seq).update(body);
  return key_.finish(h);
}

void frame_sealer::seal_frame(std::string& frame) {
  const auto tag = mac_.tag(sequence_++, std::string_view(frame).substr(4));
  frame += as_bytes(tag);
  set_length(frame, frame.size() - 4);
}

std::string frame_sealer::seal_body(std::string_view body) {
  const auto tag = mac_.tag(sequence_++, body);
  std::string frame;
  frame.reserve(4 + body.size() + mac_size);
  put_length(frame, body.size() + mac_size);
  frame += body;
  frame += as_bytes(tag);
  return frame;
}

frame_decoder::frame_decoder(std::size_t max_frame) : max_frame_(max_frame) {}

void frame_decoder::require_mac(const digest& key) {
  mac_.emplace(key);
  sequence_ = 0;
}

void frame_decoder::feed(std::string_view bytes) {
  if (failed()) return;
  // Drop consumed bytes before growing, so a long-lived channel does not keep every frame it saw.
  if (offset_ > 0 && offset_ * 2 >= buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

rty::result<std::optional<boost::json::object>> frame_decoder::fail(std::string message) {
  error_ = std::move(message);
  buffer_.clear();
  offset_ = 0;
  return rty::fail(error_);
}

rty::result<std::optional<boost::json::object>> frame_decoder::next() {
  if (failed()) return rty::fail(error_);
  if (buffered() < 4) return std::optional<boost::json::object>();
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + offset_);
  const std::size_t length = (std::size_t(p[0]) << 24) | (std::size_t(p[1]) << 16) | (std::size_t(p[2]) << 8) | p[3];
  if (length > max_frame_)
    return fail("frame of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(max_frame_) +
                " bytes");
  if (buffered() < 4 + length) return std::optional<boost::json::object>();

  std::string_view body(buffer_.data() + offset_ + 4, length);
  if (mac_) {
    if (length < mac_size) return fail("frame of " + std::to_string(length) + " bytes is too short to carry a MAC");
    const auto tag = body.substr(length - mac_size);
    body = body.substr(0, length - mac_size);
    if (!equal_constant_time(as_bytes(mac_->tag(sequence_, body)), tag))
      return fail("frame " + std::to_string(sequence_) +
                  " fails its MAC check (altered, injected, replayed or out of order)");
    ++sequence_;
  }
  offset_ += 4 + length;
  boost::system::error_code ec;
  // The whole message in one arena: parsing a frame cost a malloc per string and per object (a
  // ranges_reply of 8 ranges: about 60), now one or two. The arena lives as long as the message (or a
  // part of it moved out); messages.cpp copies what it keeps onto the heap.
  boost::json::value v =
      boost::json::parse(body, ec, boost::json::make_shared_resource<boost::json::monotonic_resource>(body.size() + 1024));
  if (offset_ == buffer_.size()) {
    // Empty: a channel that once got a large frame does not keep its buffer (10,000 channels would).
    if (buffer_.capacity() > keep_capacity)
      std::string().swap(buffer_);
    else
      buffer_.clear();
    offset_ = 0;
  }
  if (ec) return fail("frame of " + std::to_string(length) + " bytes is not valid JSON: " + ec.message());
  if (!v.is_object())
    return fail(std::string("frame is JSON but not an object (got ") + std::string(boost::json::to_string(v.kind())) + ")");
  auto& obj = v.as_object();
  const auto* type = obj.if_contains("type");
  if (!type || !type->is_string()) return fail("frame has no string \"type\" key");
  return std::optional<boost::json::object>(std::move(obj));
}

}  // namespace rty::protocol
