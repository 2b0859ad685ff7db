#pragma once
// Challenge-response authentication of a stub on the control channel. The coordinator sends a fresh
// nonce; the stub answers with HMAC-SHA256(secret, nonce, node_id). The secret itself never crosses the
// network, and a recorded proof is useless against another nonce (no replay).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rty::protocol {

// Random bytes from getrandom(2), lowercase hex. Throws std::system_error only if the kernel has no
// entropy source at all (the program cannot run safely then).
std::string make_secret();  // 32 bytes → 64 hex digits
std::string make_nonce();   // 16 bytes → 32 hex digits

// Self-contained SHA-256 (FIPS 180-4) and HMAC (RFC 2104): no OpenSSL dependency for one hash.
std::array<std::uint8_t, 32> sha256(std::string_view data);
std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view data);

std::string auth_proof(std::string_view secret, std::string_view nonce, std::string_view node_id);
// Constant-time comparison with the expected proof.
bool verify_proof(std::string_view secret, std::string_view nonce, std::string_view node_id, std::string_view proof);

}  // namespace rty::protocol
