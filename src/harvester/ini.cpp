#include "harvester/ini.hpp"

#include "harvester/capped_read.hpp"

#include "common/file_util.hpp"

#include <algorithm>
#include <cctype>

namespace rty::harvester {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view strip(std::string_view s) {
  const char* ws = " \t\f\v\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::string rstrip(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

// Splits into lines like Python's universal newlines (\n, \r\n, \r).
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' || text[i] == '\r') {
      lines.push_back(text.substr(start, i - start));
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      start = i + 1;
    }
  }
  if (start < text.size()) lines.push_back(text.substr(start));
  return lines;
}

constexpr int max_interpolation_depth = 10;  // configparser.MAX_INTERPOLATION_DEPTH

}  // namespace

std::string ini_error::to_string() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": " + message;
  return out;
}

const ini_file::section* ini_file::find_section(std::string_view name) const {
  for (const auto& s : sections_)
    if (s.name == name) return &s;
  return nullptr;
}

const ini_file::entry* ini_file::find_entry(const section& s, std::string_view key_lower) {
  for (const auto& e : s.entries)
    if (e.key_lower == key_lower) return &e;
  return nullptr;
}

struct ini_file::interpolator {
  const ini_file& ini;
  const section* sec;  // nullptr: [DEFAULT] alone
  std::string error;
  const entry* lookup(const std::string& key_lower) const {
    if (sec)
      if (auto* e = find_entry(*sec, key_lower)) return e;
    return find_entry(ini.defaults_, key_lower);
  }
  bool run(std::string_view rest, std::string& out, int depth) {
    if (depth > max_interpolation_depth) {
      error = "interpolation nested deeper than " + std::to_string(max_interpolation_depth) + " levels";
      return false;
    }
    while (!rest.empty()) {
      auto p = rest.find('%');
      if (p == std::string_view::npos) {
        out += rest;
        return true;
      }
      out += rest.substr(0, p);
      rest.remove_prefix(p);
      char c = rest.size() > 1 ? rest[1] : '\0';
      if (c == '%') {
        out += '%';
        rest.remove_prefix(2);
      } else if (c == '(') {
        auto close = rest.find(')', 2);
        if (close == std::string_view::npos || close == 2 || close + 1 >= rest.size() || rest[close + 1] != 's') {
          error = "bad interpolation variable reference '" + std::string(rest) + "' (expected %(name)s)";
          return false;
        }
        std::string name = lower(rest.substr(2, close - 2));
        rest.remove_prefix(close + 2);
        const entry* ref = lookup(name);
        if (!ref) {
          error = "interpolation refers to missing key '" + name + "'";
          return false;
        }
        if (!run(ref->raw, out, depth + 1)) return false;
      } else {
        error = "'%' must be followed by '%' or '(', found '" + std::string(rest) + "' (write %% for a literal %)";
        return false;
      }
    }
    return true;
  }
};

boost::system::result<void, ini_error> ini_file::read_lines(std::string_view text) {
  section* current = nullptr;
  entry* current_entry = nullptr;  // the option that continuation lines extend
  std::vector<std::string> pending_blank;  // blank lines inside a value are kept only if text follows
  std::size_t indent_level = 0;
  int lineno = 0;
  auto fail = [&](int line, std::string message) { return ini_error{origin_, line, std::move(message)}; };

  for (std::string_view line : split_lines(text)) {
    ++lineno;
    std::string_view value = strip(line);
    if (!value.empty() && (value.front() == '#' || value.front() == ';')) continue;  // full-line comment
    if (value.empty()) {
      if (current_entry) pending_blank.emplace_back();
      continue;
    }
    std::size_t indent = line.find_first_not_of(" \t\f\v");
    if (current && current_entry && indent > indent_level) {
      for (auto& b : pending_blank) current_entry->raw += "\n" + b;
      pending_blank.clear();
      current_entry->raw += "\n";
      current_entry->raw += value;
      continue;
    }
    pending_blank.clear();
    indent_level = indent;
    if (value.front() == '[' && value.find(']', 1) != std::string_view::npos && value.rfind(']') > 1) {
      std::string name(value.substr(1, value.rfind(']') - 1));
      current_entry = nullptr;
      if (name == "DEFAULT") {
        current = &defaults_;
        continue;
      }
      if (find_section(name)) return fail(lineno, "duplicate section [" + name + "]");
      sections_.push_back(section{name, {}});
      current = &sections_.back();
      // Pointers into sections_ stay valid only until the next push_back; re-acquire below.
      continue;
    }
    if (!current) return fail(lineno, "line outside any [section]: '" + std::string(value) + "'");
    auto delim = value.find_first_of("=:");
    if (delim == std::string_view::npos)
      return fail(lineno, "expected 'key = value' or 'key: value', found '" + std::string(value) + "'");
    std::string key(strip(value.substr(0, delim)));
    if (key.empty()) return fail(lineno, "empty key in '" + std::string(value) + "'");
    std::string key_lower = lower(key);
    if (find_entry(*current, key_lower))
      return fail(lineno, "duplicate key '" + key + "' in [" + current->name + "]");
    current->entries.push_back(entry{key, key_lower, std::string(strip(value.substr(delim + 1))), {}, lineno});
    current_entry = &current->entries.back();
  }
  for (auto& e : defaults_.entries) e.raw = rstrip(e.raw);
  for (auto& s : sections_) for (auto& e : s.entries) e.raw = rstrip(e.raw);
  return {};
}

boost::system::result<void, ini_error> ini_file::interpolate_section(const section* sec, std::vector<entry>& entries,
                                                                    std::vector<std::string>* defaults_out) {
  for (auto& e : entries) {
    interpolator in{*this, sec, {}};
    std::string out;
    if (!in.run(e.raw, out, 1))
      return ini_error{origin_, e.line, "[" + (sec ? sec->name : std::string("DEFAULT")) + "] " + e.key + ": " + in.error};
    e.value = std::move(out);
  }
  if (defaults_out) {
    for (auto& d : defaults_.entries) {
      if (sec && find_entry(*sec, d.key_lower)) {
        defaults_out->emplace_back();
        continue;
      }
      interpolator in{*this, sec, {}};
      std::string out;
      if (!in.run(d.raw, out, 1))
        return ini_error{origin_, d.line, "[" + sec->name + "] (from [DEFAULT]) " + d.key + ": " + in.error};
      defaults_out->push_back(std::move(out));
    }
  }
  return {};
}

boost::system::result<ini_file, ini_error> ini_file::parse(std::string_view text, std::string origin) {
  ini_file ini;
  ini.origin_ = origin;
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
  if (auto r = ini.read_lines(text); !r) return r.error();
  // Interpolate every value in every section's context (configparser's BasicInterpolation.before_get).
  if (auto r = ini.interpolate_section(nullptr, ini.defaults_.entries, nullptr); !r) return r.error();
  ini.default_values_.resize(ini.sections_.size());
  for (std::size_t i = 0; i < ini.sections_.size(); ++i)
    if (auto r = ini.interpolate_section(&ini.sections_[i], ini.sections_[i].entries, &ini.default_values_[i]); !r)
      return r.error();
  return ini;
}

boost::system::result<ini_file, ini_error> ini_file::load(const std::string& path) {
  auto text = read_capped(path, harvester_cfg_max_bytes, "Harvester config");
  if (!text) return ini_error{path, 0, text.error().message()};
  return parse(*text, path);
}

bool ini_file::has_section(std::string_view name) const { return find_section(name) != nullptr; }

std::optional<std::string> ini_file::get(std::string_view section_name, std::string_view key) const {
  std::string key_lower = lower(key);
  if (section_name == "DEFAULT") {
    if (auto* e = find_entry(defaults_, key_lower)) return e->value;
    return std::nullopt;
  }
  for (std::size_t i = 0; i < sections_.size(); ++i) {
    if (sections_[i].name != section_name) continue;
    if (auto* e = find_entry(sections_[i], key_lower)) return e->value;
    for (std::size_t d = 0; d < defaults_.entries.size(); ++d)
      if (defaults_.entries[d].key_lower == key_lower) return default_values_[i][d];
    return std::nullopt;
  }
  return std::nullopt;
}

std::vector<std::string> ini_file::keys(std::string_view section_name) const {
  std::vector<std::string> out;
  const section* s = section_name == "DEFAULT" ? &defaults_ : find_section(section_name);
  if (!s) return out;
  for (const auto& e : s->entries) out.push_back(e.key);
  if (s != &defaults_)
    for (const auto& d : defaults_.entries)
      if (!find_entry(*s, d.key_lower)) out.push_back(d.key);
  return out;
}

std::vector<std::string> ini_file::sections() const {
  std::vector<std::string> out;
  for (const auto& s : sections_) out.push_back(s.name);
  return out;
}

}  // namespace rty::harvester
