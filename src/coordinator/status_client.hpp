#pragma once
// `raythenad status`: finds a running coordinator through <workdir>/status.url, fetches GET /status
// with a small blocking HTTP/1.0 client (plain POSIX sockets, no Asio: cheap to compile) and prints
// a summary for shifters, or the raw JSON.
#include <boost/json/object.hpp>

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

namespace rty::coordinator {

inline constexpr std::string_view status_url_file = "status.url";

struct http_url {
  std::string host;  // name, IPv4, or IPv6 without brackets
  std::string port;  // "80" when not given
};

// "http://HOST[:PORT][/]" ("[v6addr]" accepted). nullopt with `error` explaining what was expected.
std::optional<http_url> parse_http_url(std::string_view text, std::string* error);

struct http_get_result {
  enum class failure { none, refused, timeout, other };
  failure fail = failure::none;
  int status = 0;     // HTTP status code when an answer came
  std::string body;
  std::string error;  // names the URL and the cause when fail != none
};

// GET `path` with HTTP/1.0 (answer read until the server closes); `timeout` bounds connect, send and
// the whole read. Never throws.
http_get_result http_get(const http_url& url, std::string_view path, std::chrono::milliseconds timeout);

// The compact text shown by `raythenad status`: a header block (job, state, ranges by state, rates,
// ETA, walltime left, merges) and one line per node. Missing fields show as "-".
std::string format_status_summary(const boost::json::object& status);

// "42s", "12m05s", "3h07m", "2d04h": durations at a glance.
std::string format_duration(double seconds);

// argv[0] is the word "status" (main passes argc - 1, argv + 1). Options:
//   --workdir DIR (default $RAYTHENA_RAY_WORKDIR, else the current directory), --json, --watch,
//   --interval SECONDS (watch period, default 2), --count N (stop after N refreshes), --timeout SECONDS.
// Returns 0 on success, 1 when the coordinator cannot be reached or answers badly, 2 on a usage error.
int run_status_command(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

std::string status_command_help();

}  // namespace rty::coordinator
