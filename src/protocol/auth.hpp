#pragma once
// The run's secret and the handshake's nonces, and hex helpers over protocol/sha256.hpp. The secret is
// written to a file only the run's uid can read; the stubs prove they know it, and the coordinator
// proves it back (protocol/handshake.hpp).
#include "common/error.hpp"
#include "protocol/sha256.hpp"

#include <string>
#include <string_view>

namespace rty::protocol {

// Random bytes from getrandom(2), lowercase hex. An error ("getrandom: <strerror>") only if the kernel
// has no entropy source at all (no getrandom): nothing can be authenticated then.
rty::result<std::string> make_secret();  // 32 bytes → 64 hex digits
rty::result<std::string> make_nonce();   // 16 bytes → 32 hex digits

digest sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
std::string to_hex(std::string_view bytes);

}  // namespace rty::protocol
