#pragma once
// A listening address written in configuration: "HOST:PORT" with HOST an IPv4 literal or a bracketed
// IPv6 literal ("[::1]:9100"), PORT 0-65535 (0: any free port); "off" means no listener at all.
#include <optional>
#include <string>
#include <string_view>

namespace rty::config {

struct listen_address {
  std::string host;  // numeric, without brackets
  int port = 0;
  bool enabled = true;
};

// nullopt when `text` is none of the forms above.
std::optional<listen_address> parse_listen_address(std::string_view text);

}  // namespace rty::config
