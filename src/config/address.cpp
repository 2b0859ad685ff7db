#include "config/address.hpp"

#include <cctype>

#include "common/host_port.hpp"

namespace rty::config {

std::optional<listen_address> parse_listen_address(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text == "off" || text == "OFF" || text == "Off") return listen_address{.host = {}, .port = 0, .enabled = false};
  auto hp = rty::parse_host_port(text);
  if (!hp) return std::nullopt;
  return listen_address{.host = std::move(hp->host), .port = hp->port, .enabled = true};
}

}  // namespace rty::config
