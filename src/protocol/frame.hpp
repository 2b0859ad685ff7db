#pragma once
// Control-channel framing: a 4-byte big-endian length followed by that many bytes of compact JSON,
// always an object with a string "type". Sans-I/O: the caller moves bytes, this code only cuts them.
//
// After the handshake (protocol/handshake.hpp) every frame is sealed: the length covers the JSON and a
// 32-byte tag, HMAC-SHA256(direction key, 8-byte big-endian sequence number || JSON). Each direction
// has its own key and counts its frames from 0, so a frame injected, altered, replayed, reordered,
// dropped or reflected back to its sender fails its check and ends the connection.
#include "common/error.hpp"
#include "protocol/sha256.hpp"

#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rty::protocol {

inline constexpr std::uint32_t version = 3;  // 2: mutual authentication, MAC on every frame; 3: merge_run/merge_result
inline constexpr std::size_t default_max_frame = 16 * 1024 * 1024;
// Until a peer has proven the secret it may send frames of this size at most: a handshake frame is a
// few hundred bytes, and a flood of unauthenticated peers cannot make us buffer megabytes each.
inline constexpr std::size_t handshake_max_frame = 4096;
inline constexpr std::size_t mac_size = 32;

// The unsealed frame of `message`: its compact JSON (always decodable: strings that are not UTF-8 get
// U+FFFD) serialised straight into the frame, with room for a tag (frame_sealer::seal_frame).
std::string encode_frame(const boost::json::object& message);
// The two steps of encode_frame: the compact JSON, and the frame around a body.
std::string encode_body(const boost::json::object& message);
std::string frame_body(std::string_view body);

// The MAC of one direction of a session.
class frame_mac {
 public:
  explicit frame_mac(const digest& key) : key_(as_bytes(key)) {}
  digest tag(std::uint64_t sequence, std::string_view body) const;

 private:
  hmac_sha256_key key_;
};

// Frames outgoing messages with the MAC of the sending direction.
class frame_sealer {
 public:
  explicit frame_sealer(const digest& key) : mac_(key) {}
  std::string seal(const boost::json::object& message) {
    std::string frame = encode_frame(message);
    seal_frame(frame);
    return frame;
  }
  // Seals, in place, an unsealed frame from encode_frame (a caller that checks its size first).
  void seal_frame(std::string& frame);
  std::string seal_body(std::string_view body);
  std::uint64_t sent() const { return sequence_; }

 private:
  frame_mac mac_;
  std::uint64_t sequence_ = 0;
};

// Feed bytes as they arrive and pull complete messages. Any error is final: the stream can no longer be
// trusted to be aligned on a frame boundary, so the connection must be closed.
class frame_decoder {
 public:
  explicit frame_decoder(std::size_t max_frame = default_max_frame);

  void feed(std::string_view bytes);

  // From the next frame on, every frame must carry a valid tag under `key` (sequence numbers from 0).
  void require_mac(const digest& key);
  bool authenticated() const { return mac_.has_value(); }
  // Changes the size limit for frames not yet decoded (the handshake runs under a small one).
  void set_max_frame(std::size_t max_frame) { max_frame_ = max_frame; }
  std::size_t max_frame() const { return max_frame_; }

  // nullopt: need more bytes. Error: oversized frame (checked as soon as the length prefix is in, so
  // a hostile peer cannot make us buffer it), a missing or wrong MAC, invalid JSON, not an object, no
  // string "type". A message's memory is one arena of its own (a shared monotonic_resource): copy
  // what is kept beyond the message with a storage_ptr() of its own, or it holds the whole arena.
  rty::result<std::optional<boost::json::object>> next();

  bool failed() const { return !error_.empty(); }
  // Bytes received but not yet consumed by next().
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  rty::result<std::optional<boost::json::object>> fail(std::string message);

  static constexpr std::size_t keep_capacity = 8 * 1024;  // an empty buffer larger than this is freed

  std::size_t max_frame_;
  std::optional<frame_mac> mac_;
  std::uint64_t sequence_ = 0;
  std::string buffer_;
  std::size_t offset_ = 0;
  std::string error_;
};

}  // namespace rty::protocol
