#pragma once
// Reader for Python's configparser dialect, as used by Harvester's panda_harvester.cfg (harvester-messenger
// spec §1): [section] headers, `key = value` / `key: value` (first delimiter wins), full-line `#`/`;`
// comments (also indented), no inline comments, indented continuation lines joined with "\n", [DEFAULT]
// keys visible in every section, BasicInterpolation (%(key)s, %%), case-insensitive keys, strict mode
// (duplicate sections/keys are errors).
//
// Interpolation is checked for every value at parse time: Harvester reads every value of every section
// at start-up, so a value it would reject is a broken file even if we never look at that key.
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rty::harvester {

struct ini_error {
  std::string file;
  int line = 0;  // 1-based; 0 when no line applies (e.g. unreadable file)
  std::string message;
  std::string to_string() const;  // "<file>:<line>: <message>"
};

class ini_file {
 public:
  static boost::system::result<ini_file, ini_error> parse(std::string_view text, std::string origin);
  static boost::system::result<ini_file, ini_error> load(const std::string& path);

  // Section names are case-sensitive (as in configparser); "DEFAULT" is not a section.
  bool has_section(std::string_view section) const;
  // Interpolated value; keys case-insensitive; [DEFAULT] as fallback. nullopt if the section or key
  // is absent. get("DEFAULT", key) reads the defaults.
  std::optional<std::string> get(std::string_view section, std::string_view key) const;
  // Keys of the section as written (section's own first, then [DEFAULT]'s not overridden).
  std::vector<std::string> keys(std::string_view section) const;
  std::vector<std::string> sections() const;
  const std::string& origin() const { return origin_; }

 private:
  struct entry {
    std::string key;        // as written
    std::string key_lower;  // for lookups
    std::string raw;        // before interpolation
    std::string value;      // after interpolation (in this section's context)
    int line = 0;
  };
  struct section {
    std::string name;
    std::vector<entry> entries;
  };
  const section* find_section(std::string_view name) const;
  static const entry* find_entry(const section& s, std::string_view key_lower);
  struct interpolator;  // configparser's BasicInterpolation, in ini.cpp
  // The sections and raw values of `text` (comments, continuation lines, duplicates refused).
  boost::system::result<void, ini_error> read_lines(std::string_view text);
  // Interpolates `entries` in the context of `sec` (nullptr: [DEFAULT] alone); with `defaults_out`, the
  // [DEFAULT] values as seen from `sec` too.
  boost::system::result<void, ini_error> interpolate_section(const section* sec, std::vector<entry>& entries,
                                                             std::vector<std::string>* defaults_out);

  std::string origin_;
  section defaults_{"DEFAULT", {}};
  std::vector<section> sections_;
  // Interpolated [DEFAULT] values seen from each section (a default may refer to a section's key).
  std::vector<std::vector<std::string>> default_values_;
};

}  // namespace rty::harvester
