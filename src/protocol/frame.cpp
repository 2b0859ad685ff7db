#include "protocol/frame.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace rty::protocol {

std::string encode_frame(const boost::json::object& message) {
  const std::string body = boost::json::serialize(message);
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string frame;
  frame.reserve(4 + body.size());
  frame.push_back(static_cast<char>((n >> 24) & 0xff));
  frame.push_back(static_cast<char>((n >> 16) & 0xff));
  frame.push_back(static_cast<char>((n >> 8) & 0xff));
  frame.push_back(static_cast<char>(n & 0xff));
  frame += body;
  return frame;
}

frame_decoder::frame_decoder(std::size_t max_frame) : max_frame_(max_frame) {}

void frame_decoder::feed(std::string_view bytes) {
  if (failed()) return;
  // Drop consumed bytes before growing, so a long-lived channel does not keep every frame it saw.
  if (offset_ > 0 && offset_ * 2 >= buffer_.size()) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

boost::system::result<std::optional<boost::json::object>, std::string> frame_decoder::fail(std::string message) {
  error_ = std::move(message);
  buffer_.clear();
  offset_ = 0;
  return error_;
}

boost::system::result<std::optional<boost::json::object>, std::string> frame_decoder::next() {
  if (failed()) return error_;
  if (buffered() < 4) return std::optional<boost::json::object>();
  const auto* p = reinterpret_cast<const unsigned char*>(buffer_.data() + offset_);
  const std::size_t length = (std::size_t(p[0]) << 24) | (std::size_t(p[1]) << 16) | (std::size_t(p[2]) << 8) | p[3];
  if (length > max_frame_)
    return fail("frame of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(max_frame_) +
                " bytes");
  if (buffered() < 4 + length) return std::optional<boost::json::object>();

  const std::string_view body(buffer_.data() + offset_ + 4, length);
  offset_ += 4 + length;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
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
