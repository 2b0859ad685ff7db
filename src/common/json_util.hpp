#pragma once
// Boost.JSON helpers with error messages that name the file and the key.
#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace rty::json {

// Parses text; the error is "<origin>: malformed JSON (<parser message>)".
rty::result<boost::json::value> parse(std::string_view text, std::string_view origin);

// Reads and parses a file; the error names the file and the problem (missing, unreadable, malformed).
rty::result<boost::json::value> read_file(const std::string& path);

// Lenient accessors used on foreign input (Harvester and pilot send numbers as strings and vice versa).
std::optional<std::string> get_string(const boost::json::object& o, std::string_view key);  // numbers → decimal text
std::optional<std::int64_t> get_int(const boost::json::object& o, std::string_view key);     // numeric strings accepted

// Compact serialisation.
inline std::string dump(const boost::json::value& v) { return boost::json::serialize(v); }

}  // namespace rty::json
