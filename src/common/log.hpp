#pragma once
// One logging facility for every component: UTC timestamp, level, component, message, one line per
// record, written with a single write(2) so lines from several threads/processes never interleave.
//
//   RTY_LOG(info, "Driver") << "got job " << id;
//
// The stream expression is only evaluated when the level is enabled.
#include <sstream>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace rty::log {

enum class level { debug = 0, info = 1, warning = 2, error = 3, critical = 4, off = 5 };

// Parses "debug", "info", "warning"/"warn", "error", "critical" (case-insensitive).
bool parse_level(std::string_view text, level& out);
std::string_view level_name(level l);

void set_level(level l);
level current_level();
inline bool enabled(level l) { return l >= current_level(); }

// Route records to a file (appended; created if missing). On failure an error naming the file, with the errno.
rty::result<void> set_file(const std::string& path);
// Back to stderr.
void set_stderr();

void write(level l, std::string_view component, std::string_view message);

// Text from outside (pilot's fields, range ids, paths, a node's host name) made safe for one log
// line (issue 13): control characters (below 0x20, 0x7f) become \n, \r, \t or \xHH and a backslash
// becomes \\, so nobody can end a line and forge the next one, or hide text behind escape sequences.
// Longer than `max_bytes`: cut, with "...(N bytes)" noting the original size. Bytes >= 0x80 are kept
// (UTF-8 names stay readable).
std::string escape(std::string_view text, std::size_t max_bytes = 512);

class record {
 public:
  record(level l, std::string_view component) : level_(l), component_(component) {}
  record(const record&) = delete;
  record& operator=(const record&) = delete;
  ~record() { write(level_, component_, stream_.str()); }
  template <class T>
  record& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  level level_;
  std::string_view component_;
  std::ostringstream stream_;
};

}  // namespace rty::log

// A for statement rather than an if/else: the macro is then one complete statement with no else of
// its own, so `if (x) RTY_LOG(...) << y; else ...` binds as written and draws no -Wdangling-else.
#define RTY_LOG(lvl, component)                                                              \
  for (bool rty_log_once_ = ::rty::log::enabled(::rty::log::level::lvl); rty_log_once_;      \
       rty_log_once_ = false)                                                                \
  ::rty::log::record(::rty::log::level::lvl, component)
