#pragma once
// Control-channel framing: a 4-byte big-endian length followed by that many bytes of compact JSON,
// always an object with a string "type". Sans-I/O: the caller moves bytes, this code only cuts them.
#include <boost/json/object.hpp>
#include <boost/system/result.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace rty::protocol {

inline constexpr std::uint32_t version = 1;
inline constexpr std::size_t default_max_frame = 16 * 1024 * 1024;

std::string encode_frame(const boost::json::object& message);

// Feed bytes as they arrive and pull complete messages. Any error is final: the stream can no longer be
// trusted to be aligned on a frame boundary, so the connection must be closed.
class frame_decoder {
 public:
  explicit frame_decoder(std::size_t max_frame = default_max_frame);

  void feed(std::string_view bytes);

  // nullopt: need more bytes. Error: oversized frame (checked as soon as the length prefix is in, so
  // a hostile peer cannot make us buffer it), invalid JSON, not an object, no string "type".
  boost::system::result<std::optional<boost::json::object>, std::string> next();

  bool failed() const { return !error_.empty(); }
  // Bytes received but not yet consumed by next().
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  boost::system::result<std::optional<boost::json::object>, std::string> fail(std::string message);

  static constexpr std::size_t keep_capacity = 8 * 1024;  // an empty buffer larger than this is freed

  std::size_t max_frame_;
  std::string buffer_;
  std::size_t offset_ = 0;
  std::string error_;
};

}  // namespace rty::protocol
