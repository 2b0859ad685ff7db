#include "config/address.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

namespace rty::config {

std::optional<listen_address> parse_listen_address(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text == "off" || text == "OFF" || text == "Off") return listen_address{.host = {}, .port = 0, .enabled = false};
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  auto host = text.substr(0, colon);
  const auto port_text = text.substr(colon + 1);
  int port = -1;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535) return std::nullopt;
  int family = AF_INET;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    family = AF_INET6;
  }
  std::string numeric(host);
  unsigned char buf[sizeof(struct in6_addr)];
  if (numeric.empty() || ::inet_pton(family, numeric.c_str(), buf) != 1) return std::nullopt;
  return listen_address{.host = std::move(numeric), .port = port, .enabled = true};
}

}  // namespace rty::config
