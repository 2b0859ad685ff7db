#include "protocol/auth.hpp"

#include <sys/random.h>

#include <cerrno>
#include <system_error>

namespace rty::protocol {
namespace {

rty::result<std::string> random_hex(std::size_t n) {
  std::string bytes(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = getrandom(bytes.data() + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return rty::fail("getrandom: " + std::generic_category().message(errno));
    }
    got += static_cast<std::size_t>(r);
  }
  return to_hex(bytes);
}

}  // namespace

std::string to_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<std::uint8_t>(c);
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

rty::result<std::string> make_secret() { return random_hex(32); }
rty::result<std::string> make_nonce() { return random_hex(16); }

digest sha256(std::string_view data) { return sha256_hasher().update(data).finish(); }

std::string sha256_hex(std::string_view data) { return to_hex(as_bytes(sha256(data))); }

std::string hmac_sha256_hex(std::string_view key, std::string_view data) {
  return to_hex(as_bytes(hmac_sha256_key(key)(data)));
}

}  // namespace rty::protocol
