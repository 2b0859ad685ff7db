#pragma once
// "HOST:PORT" with HOST an IPv4 literal or a bracketed IPv6 literal ("[::1]:9100") and PORT 0-65535:
// the one parser for addresses raythenad writes and reads (ray.statusaddress, the stub's
// --coordinator). Names are not resolved here; whoever accepts a name resolves it first.
#include <arpa/inet.h>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>

namespace rty {

struct host_port {
  std::string host;  // numeric, without brackets
  int port = 0;
  bool v6 = false;
};

inline std::optional<host_port> parse_host_port(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  auto host = text.substr(0, colon);
  const auto port_text = text.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535) return std::nullopt;
  bool v6 = false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    v6 = true;
  }
  std::string numeric(host);
  unsigned char buf[sizeof(struct in6_addr)];
  if (numeric.empty() || ::inet_pton(v6 ? AF_INET6 : AF_INET, numeric.c_str(), buf) != 1) return std::nullopt;
  return host_port{std::move(numeric), port, v6};
}

}  // namespace rty
