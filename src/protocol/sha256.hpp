#pragma once
// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), self-contained: the control channel needs one hash,
// not an OpenSSL dependency. hmac_sha256_key precomputes the key's inner and outer pad states once, so
// a per-frame MAC costs only the message's blocks plus one (see protocol/frame.hpp, frame_mac).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace rty::protocol {

using digest = std::array<std::uint8_t, 32>;

class sha256_hasher {
 public:
  sha256_hasher& update(std::string_view data);
  sha256_hasher& update(const void* data, std::size_t n) {
    return update(std::string_view(static_cast<const char*>(data), n));
  }
  digest finish();  // the hasher is spent afterwards

 private:
  void compress(const std::uint8_t* block, std::size_t blocks);

  std::uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint8_t block_[64] = {};
  std::size_t used_ = 0;
  std::uint64_t length_ = 0;
};

// An HMAC-SHA256 key with its pad states computed once; copyable, immutable after construction.
class hmac_sha256_key {
 public:
  explicit hmac_sha256_key(std::string_view key);
  // A hasher primed with the inner pad: update() it with the message, then finish(inner).
  sha256_hasher begin() const { return inner_; }
  digest finish(sha256_hasher& inner) const;
  digest operator()(std::string_view message) const {
    auto h = begin();
    h.update(message);
    return finish(h);
  }

 private:
  sha256_hasher inner_, outer_;
};

inline std::string_view as_bytes(const digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

namespace detail {
// The compression function over `blocks` 64-byte blocks: portable, and with the x86 SHA extensions
// (used when the CPU has them; elsewhere the same as portable). Exposed for the tests.
void compress_portable(std::uint32_t* state, const std::uint8_t* block, std::size_t blocks);
void compress_shani(std::uint32_t* state, const std::uint8_t* block, std::size_t blocks);
bool have_shani();
}  // namespace detail

// Constant-time equality of two equally long byte strings (false when the lengths differ).
bool equal_constant_time(std::string_view a, std::string_view b);

}  // namespace rty::protocol
