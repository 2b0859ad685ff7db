#pragma once
// The one table of configuration keys. Parsing (YAML, RAYTHENA_* variables, command line), --help,
// --help-keys, the --json dump and the key table in docs/configuration.md are all generated from it, so they cannot drift.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "config/settings.hpp"

namespace rty::config {

enum class value_kind {
  text,         // any scalar, kept as written
  path,         // like text, and $VAR/${VAR} are expanded once after loading
  shell,        // like text; a shell fragment, never expanded by us
  integer,      // whole number within [min, max]
  seconds,      // whole number of seconds within [min, max]
  boolean,      // YAML 1.1 booleans (true/false/yes/no/on/off); 1/0 too from the environment
  string_list,  // YAML sequence of strings, or one comma-separated string
  choice,       // one of `choices`, case-insensitive
  address,      // HOST:PORT to listen on (IP literal, [IPv6]), or off (config/address.hpp)
};

// A value in a form every kind fits; monostate is YAML null (= the key's default).
using key_value = std::variant<std::monostate, std::string, std::int64_t, bool, std::vector<std::string>>;

struct key_spec {
  std::string_view section;
  std::string_view name;
  value_kind kind = value_kind::text;
  bool required = false;  // Raythena's rule: must be present in the file (a null value is fine)
  bool raythena = false;  // key known to Raythena (false: added by raythenad)
  bool ignored = false;   // accepted for compatibility only; a non-null value gets a notice
  bool secret = false;    // a password: --validate --json shows "(set)" instead of the value
  std::string_view flag{};          // long option without "--"; empty when the key has none
  char short_flag = 0;              // 0 when none
  std::string_view switch_value{};  // non-empty: the flag takes no argument and sets this value
  std::string_view help{};
  std::string_view default_doc{};  // overrides the default read from settings{} (run-dependent defaults)
  std::span<const std::string_view> choices{};
  std::int64_t min = 0;
  std::int64_t max = 0;
  key_value (*get)(const settings&) = nullptr;
  void (*set)(settings&, const key_value&) = nullptr;  // monostate restores the default

  std::string full_name() const;  // "section.name"
  std::string env_name() const;   // RAYTHENA_<FLAG>, empty when no flag
  std::string expected() const;   // "an integer >= 1", "one of auto, local, srun, ssh", ...
  std::string default_text() const;
  std::string type_name() const;  // "seconds", "auto|local|srun|ssh", ...
};

std::span<const key_spec> key_table();
std::span<const std::string_view> section_names();
const key_spec* find_key(std::string_view section, std::string_view name);
const key_spec* find_flag(std::string_view flag);

// "section.key" of the known key closest to `full_name` by edit distance (for "did you mean").
std::string nearest_key(std::string_view full_name);
std::string nearest_section(std::string_view section);
std::size_t edit_distance(std::string_view a, std::string_view b);

// Human text of a value: null → "null", lists comma-joined, booleans true/false.
std::string value_text(const key_value& v);

// Markdown table of the keys added by raythenad (raythena == false), or of all keys. The key table in
// docs/configuration.md is this text (a test compares them).
std::string keys_markdown(bool new_keys_only);

}  // namespace rty::config
