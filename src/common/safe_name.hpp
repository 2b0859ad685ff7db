#pragma once
// Names from outside (job spec, Harvester's event ranges, state.json, commit_log) that become one
// component of a path: inFiles/outFiles LFNs, GUIDs, event range ids, output names. Every such name is
// checked with this before it is joined to a directory (tracker issue 13 item 5).
//
// A usable name is 1 to 255 bytes (NAME_MAX), not "." or "..", without '/', NUL or any other control
// character (0x00-0x1f, 0x7f). ".." inside a name ("a..b", "x.." ) is fine: one path component named
// "a..b" cannot leave its directory, only the whole component ".." can. Blanks are a path-safety
// non-issue and allowed here; formats that separate words by blanks (commit_log) refuse them themselves.
#include <optional>
#include <string>
#include <string_view>

namespace rty::names {

inline constexpr std::size_t max_name_bytes = 255;

// nullopt when `name` is usable as one path component; otherwise why not ("contains '/'", ...).
inline std::optional<std::string_view> why_unsafe(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name == ".") return "is '.'";
  if (name == "..") return "is '..'";
  if (name.size() > max_name_bytes) return "is longer than 255 bytes";
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '/') return "contains '/'";
    if (c == 0) return "contains a NUL byte";
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  return std::nullopt;
}

inline bool is_safe(std::string_view name) { return !why_unsafe(name); }

// Printable form of an untrusted value for a log line or an error message: backslash, quote and
// non-printable bytes as \\, \', \n, \t, \r, \xNN; cut after `max` bytes with "...".
inline std::string escaped(std::string_view s, std::size_t max = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(s.size(), max) + 8);
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == max) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\'': out += "\\'"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += "\\x";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

// nullopt when usable; otherwise "<what> '<escaped name>' is not a usable file name (<why>)".
inline std::optional<std::string> check(std::string_view what, std::string_view name) {
  auto why = why_unsafe(name);
  if (!why) return std::nullopt;
  return std::string(what) + " '" + escaped(name) + "' is not a usable file name (" + std::string(*why) + ")";
}

// A path read back from our own files (state.json's per-range and merged paths): may have '/', but no
// NUL or control character and no ".." component (so it cannot climb out of where it claims to be).
inline std::optional<std::string_view> why_unsafe_path(std::string_view path) {
  if (path.empty()) return "is empty";
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == 0) return "contains a NUL byte";
    if (c < 0x20 || c == 0x7f) return "contains a control character";
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (path.substr(start, slash - start) == "..") return "has a '..' component";
    start = slash + 1;
  }
  return std::nullopt;
}

inline std::optional<std::string> check_path(std::string_view what, std::string_view path) {
  auto why = why_unsafe_path(path);
  if (!why) return std::nullopt;
  return std::string(what) + " '" + escaped(path) + "' is not a usable path (" + std::string(*why) + ")";
}

}  // namespace rty::names
