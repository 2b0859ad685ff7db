#include "config/loader.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <set>
#include <thread>

#include "common/file_util.hpp"
#include "config/address.hpp"
#include "pilot/pilot_tree.hpp"

namespace rty::config {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// PyYAML (YAML 1.1) booleans, which is what Raythena configs were written for, plus 1/0 for variables.
std::optional<bool> parse_bool(std::string_view text) {
  auto t = lower(trim(text));
  if (t == "true" || t == "yes" || t == "on" || t == "y" || t == "1") return true;
  if (t == "false" || t == "no" || t == "off" || t == "n" || t == "0") return false;
  return std::nullopt;
}

std::string where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null()) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// Collects every problem of one load, so the user fixes them all in one go.
class loader {
 public:
  explicit loader(const load_request& request) : request_(request), file_(request.config_path) {}

  rty::result<loaded_config> run(std::string_view yaml_text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(yaml_text));
    } catch (const YAML::Exception& e) {
      errors_.push_back(where(file_, e.mark) + ": malformed YAML: " + e.msg);
      return failure();
    }
    if (root.IsDefined() && !root.IsNull() && !root.IsMap()) {
      errors_.push_back(where(file_, root.Mark()) +
                        ": the file must be a mapping of sections (payload, harvester, ray, resources, logging)");
      return failure();
    }
    read_sections(root);
    apply_overrides(request_.env_overrides);
    apply_overrides(request_.cli_overrides);
    check_environment();
    if (!errors_.empty()) return failure();
    finish();
    if (!errors_.empty()) return failure();
    return loaded_config{std::move(settings_), std::move(notices_)};
  }

 private:
  rty::result<loaded_config> failure() const {
    std::string message = "raythenad: cannot load configuration " + file_ + ":";
    for (const auto& e : errors_) message += "\n  " + e;
    // The warnings found on the way (unknown keys with their nearest name) often explain the error.
    for (const auto& n : notices_) message += "\n  " + n;
    return rty::fail(std::move(message));
  }

  void read_sections(const YAML::Node& root) {
    std::set<std::string> seen_sections;
    if (root.IsMap()) {
      for (auto it = root.begin(); it != root.end(); ++it) {
        std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string{};
        auto known = std::find(section_names().begin(), section_names().end(), name);
        if (known == section_names().end()) {
          notices_.push_back("warning: " + where(file_, it->first.Mark()) + ": unknown section '" + name +
                             "' (did you mean '" + nearest_section(name) + "'?); it is ignored");
          continue;
        }
        seen_sections.insert(name);
        read_section(name, it->first, it->second);
      }
    }
    for (auto section : section_names()) {
      if (!seen_sections.count(std::string(section)))
        errors_.push_back(file_ + ": Malformed configuration file: section '" + std::string(section) +
                          "' not found");
    }
  }

  void read_section(const std::string& section, const YAML::Node& name_node, const YAML::Node& body) {
    if (body.IsNull()) {
      // Raythena treats a null section like a missing one.
      errors_.push_back(where(file_, name_node.Mark()) + ": Malformed configuration file: section '" + section +
                        "' not found (it is empty)");
      return;
    }
    if (!body.IsMap()) {
      errors_.push_back(where(file_, body.Mark()) + ": section '" + section + "' must be a mapping of keys");
      return;
    }
    std::set<std::string> present;
    for (auto it = body.begin(); it != body.end(); ++it) {
      std::string name = it->first.IsScalar() ? it->first.Scalar() : std::string{};
      const key_spec* key = find_key(section, name);
      std::string full = section + "." + name;
      if (!key) {
        notices_.push_back("warning: " + where(file_, it->first.Mark()) + ": unknown key '" + full +
                           "' (did you mean '" + nearest_key(full) + "'?); it is ignored");
        continue;
      }
      present.insert(name);
      read_value(*key, it->first, it->second);
    }
    std::vector<std::string> missing;
    for (const auto& key : key_table())
      if (key.section == section && key.required && !present.count(std::string(key.name)))
        missing.push_back(std::string(key.name));
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + section + "." + m;
      errors_.push_back(where(file_, name_node.Mark()) + ": Param" + (missing.size() > 1 ? "s " : " ") + list +
                        " not found in conf section '" + section +
                        "' (Raythena requires every one present; an empty value means the default)");
    }
  }

  // An ignored switch left off (copyraylogs: false) asks for nothing that is missing: no notice for it.
  static bool switched_off(const key_value& v) { return std::holds_alternative<bool>(v) && !std::get<bool>(v); }

  void read_value(const key_spec& key, const YAML::Node& name_node, const YAML::Node& value) {
    std::optional<key_value> converted;
    std::string shown;
    if (value.IsNull()) {
      converted = key_value{};
    } else if (value.IsScalar()) {
      shown = "'" + value.Scalar() + "'";
      converted = convert_text(key, value.Scalar());
    } else if (value.IsSequence() && key.kind == value_kind::string_list) {
      std::vector<std::string> items;
      for (const auto& item : value) {
        if (!item.IsScalar()) {
          errors_.push_back(where(file_, item.Mark()) + ": " + key.full_name() +
                            ": list items must be strings; expected " + key.expected());
          return;
        }
        auto text = std::string(trim(item.Scalar()));
        if (!text.empty()) items.push_back(text);
      }
      converted = key_value{std::move(items)};
    } else {
      shown = value.IsSequence() ? "a list" : "a mapping";
    }
    if (!converted) {
      errors_.push_back(where(file_, value.Mark().is_null() ? name_node.Mark() : value.Mark()) + ": " +
                        key.full_name() + ": bad value " + shown + "; expected " + key.expected());
      return;
    }
    if (key.ignored && !std::holds_alternative<std::monostate>(*converted) && !switched_off(*converted))
      notices_.push_back("notice: " + where(file_, name_node.Mark()) + ": " + key.full_name() + " is " +
                         std::string(key.help));
    key.set(settings_, *converted);
  }

  void apply_overrides(const std::vector<override_value>& overrides) {
    for (const auto& o : overrides) {
      if (!o.key || o.text.empty()) continue;  // each flag guards itself: no value, no override
      const key_spec& key = *o.key;
      std::optional<key_value> converted;
      if (!key.switch_value.empty()) {
        auto on = parse_bool(o.text);
        if (!on) {
          errors_.push_back(o.origin + ": bad value '" + o.text + "' for " + key.full_name() +
                            "; expected true or false (1/0, yes/no, on/off)");
          continue;
        }
        if (!*on) continue;
        converted = convert_text(key, key.switch_value);
      } else {
        converted = convert_text(key, o.text);
      }
      if (!converted) {
        errors_.push_back(o.origin + ": bad value '" + o.text + "' for " + key.full_name() + "; expected " +
                          key.expected());
        continue;
      }
      if (key.ignored && !switched_off(*converted))
        notices_.push_back("notice: " + o.origin + ": " + key.full_name() + " is " + std::string(key.help));
      key.set(settings_, *converted);
      // --nodes is also the srun node count, which has no key of its own: remember that it was given.
      if (key.section == "ray" && key.name == "localnodes")
        if (auto n = std::get_if<std::int64_t>(&*converted)) settings_.ray.nodes = static_cast<int>(*n);
    }
  }

  void finish() {
    std::error_code cwd_ec;
    const auto cwd = std::filesystem::current_path(cwd_ec);
    for (const auto& key : key_table()) {
      if (key.kind != value_kind::path) continue;
      auto value = key.get(settings_);
      if (auto text = std::get_if<std::string>(&value)) {
        auto expanded = rty::file::expand_vars(*text);
        // Stubs and pilots run in their own directories, so a relative path means "relative to where
        // raythenad was started" and is made absolute here, once. Three keys are relative by
        // definition and stay so (as does a path starting with an unknown $VARIABLE): the kill file (to the node's pilot directory), the time-monitor
        // file (to ray.workdir) and the worker log (its basename goes to the node's directory).
        const bool relative_by_design = key.full_name() == "payload.pilotkillfile" ||
                                        key.full_name() == "payload.timemonitorfile" ||
                                        key.full_name() == "logging.workerlogfile";
        if (!relative_by_design && !expanded.empty() && expanded.front() != '/' && expanded.front() != '$' && !cwd_ec)
          expanded = (cwd / expanded).lexically_normal().string();
        if (expanded != *text) key.set(settings_, key_value{expanded});
      }
    }
    auto& s = settings_;
    if (trim(s.ray.workdir).empty()) {
      std::error_code ec;
      s.ray.workdir = std::filesystem::current_path(ec).string();
    }
    resolve_pilot_files();
    if (s.ray.stubexecutable.empty()) s.ray.stubexecutable = default_stub_executable(request_.executable_path);
    if (s.resources.corepernode <= 0)
      s.resources.corepernode = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (s.ray.launcher == launcher_kind::automatic) {
      auto job = request_.env.find("SLURM_JOB_ID");
      s.ray.launcher = job != request_.env.end() && !job->second.empty() ? launcher_kind::srun : launcher_kind::local;
    }
    s.logging.level = lower(s.logging.level);
  }

  // payload.pilotwrapper and payload.pilotdir: the key when set, else what payload.bindir holds, else the
  // CVMFS default. With bindir set, a file not found there is an error rather than a silent CVMFS
  // fallback: the site said where pilot is.
  void resolve_pilot_files() {
    auto& p = settings_.payload;
    const bool bindir = p.bindir && !trim(*p.bindir).empty();
    p.pilotwrapper_from = p.pilotwrapper.empty() ? (bindir ? "payload.bindir" : "default") : "payload.pilotwrapper";
    p.pilotdir_from = p.pilotdir.empty() ? (bindir ? "payload.bindir" : "default") : "payload.pilotdir";
    if (bindir && (p.pilotwrapper.empty() || p.pilotdir.empty())) {
      auto found = rty::pilot::find_in_bindir(*p.bindir);
      const std::string where = "payload.bindir=" + *p.bindir;
      if (!found.error.empty()) {
        errors_.push_back(where + ": " + found.error);
        return;
      }
      if (p.pilotwrapper.empty()) {
        if (found.wrapper)
          p.pilotwrapper = *found.wrapper;
        else
          errors_.push_back(where + ": no executable runpilot3-wrapper.sh or runpilot2-wrapper.sh in it or up to " +
                            std::to_string(rty::pilot::bindir_search_depth) +
                            " levels below; unpack the wrapper there or set payload.pilotwrapper");
      }
      if (p.pilotdir.empty()) {
        if (found.pilot_dir)
          p.pilotdir = *found.pilot_dir;
        else
          errors_.push_back(where + ": no directory with pilot.py in it or up to " +
                            std::to_string(rty::pilot::bindir_search_depth) +
                            " levels below; unpack the pilot3 tarball there or set payload.pilotdir");
      }
    }
    if (p.pilotwrapper.empty())
      p.pilotwrapper = "/cvmfs/atlas.cern.ch/repo/sw/PandaPilotWrapper/latest/runpilot2-wrapper.sh";
    if (p.pilotdir.empty()) p.pilotdir = "/cvmfs/atlas.cern.ch/repo/sw/PandaPilot/pilot3/" + p.pilotversion;
  }

  // RAYTHENA_* variables that set nothing: a typo (RAYTHENA_CORE_PER_NOD) would otherwise be silently
  // ignored, like an unknown key. Warned about the same way, with the nearest known name.
  void check_environment() {
    for (const auto& [name, value] : request_.env) {
      (void)value;  // never shown: a misspelt secret variable must not end up in a log
      if (!name.starts_with("RAYTHENA_") || known_environment_name(name)) continue;
      notices_.push_back("warning: " + name + ": " + unknown_environment_reason(name));
    }
  }

  const load_request& request_;
  std::string file_;
  settings settings_;
  std::vector<std::string> errors_;
  std::vector<std::string> notices_;
};

}  // namespace

std::span<const std::string_view> other_environment_names() {
  // The action flags that have a variable (command_line.cpp) and the stub's secret, which the launcher
  // sets for the stubs and which a raythenad started inside a stub's environment may see.
  static constexpr std::string_view names[] = {"RAYTHENA_CONFIG", "RAYTHENA_VALIDATE", "RAYTHENA_JSON",
                                               "RAYTHENA_STUB_SECRET"};
  return names;
}

bool known_environment_name(std::string_view name) {
  for (auto n : other_environment_names())
    if (n == name) return true;
  for (const auto& key : key_table())
    if (!key.flag.empty() && key.env_name() == name) return true;
  return false;
}

std::string unknown_environment_reason(std::string_view name) {
  // RAYTHENA_PAYLOAD_CONTAINERENGINE names a key that has no variable: say so rather than guess.
  std::string rest = lower(name.substr(std::string_view("RAYTHENA_").size()));
  for (const auto& key : key_table()) {
    std::string as_variable = std::string(key.section) + "_" + std::string(key.name);
    if (key.flag.empty() && rest == as_variable)
      return "unknown environment variable; " + key.full_name() +
             " has no variable (only keys with a command-line flag do): set it in the configuration file; "
             "it is ignored";
  }
  std::string best;
  std::size_t best_distance = std::string::npos;
  auto consider = [&](const std::string& candidate) {
    std::size_t d = edit_distance(name, candidate);
    if (d < best_distance) best_distance = d, best = candidate;
  };
  for (auto n : other_environment_names()) consider(std::string(n));
  for (const auto& key : key_table())
    if (!key.flag.empty()) consider(key.env_name());
  return "unknown environment variable (did you mean " + best + "?); it is ignored";
}

std::optional<key_value> convert_text(const key_spec& key, std::string_view raw) {
  std::string_view text = raw;
  if (trim(text).empty()) return key_value{};
  switch (key.kind) {
    case value_kind::text:
    case value_kind::path:
    case value_kind::shell: return key_value{std::string(text)};
    case value_kind::integer:
    case value_kind::seconds: {
      auto t = trim(text);
      if (!t.empty() && t.front() == '+') t.remove_prefix(1);
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
      if (ec != std::errc{} || end != t.data() + t.size() || v < key.min || v > key.max) return std::nullopt;
      return key_value{v};
    }
    case value_kind::boolean: {
      auto b = parse_bool(text);
      if (!b) return std::nullopt;
      return key_value{*b};
    }
    case value_kind::string_list: {
      std::vector<std::string> items;
      std::size_t start = 0;
      while (start <= text.size()) {
        auto comma = text.find(',', start);
        if (comma == std::string_view::npos) comma = text.size();
        auto item = trim(text.substr(start, comma - start));
        if (!item.empty()) items.emplace_back(item);
        start = comma + 1;
      }
      return key_value{std::move(items)};
    }
    case value_kind::address: {
      auto a = parse_listen_address(text);
      if (!a) return std::nullopt;
      return key_value{a->enabled ? (a->host.find(':') != std::string::npos ? "[" + a->host + "]" : a->host) + ":" +
                                        std::to_string(a->port)
                                  : std::string("off")};
    }
    case value_kind::choice: {
      auto t = lower(trim(text));
      for (auto c : key.choices)
        if (t == c) return key_value{t};
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::string default_stub_executable(const std::string& executable_path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(executable_path).parent_path();
  fs::path beside = dir / "raythena-stub";
  std::error_code ec;
  if (fs::exists(beside, ec)) return beside.string();
  // Build tree: build/src/coordinator/raythenad and build/src/stub/raythena-stub.
  fs::path build_tree = dir.parent_path() / "stub" / "raythena-stub";
  if (!dir.empty() && fs::exists(build_tree, ec)) return build_tree.lexically_normal().string();
  return beside.string();
}

rty::result<loaded_config> load_config_text(std::string_view yaml_text, const load_request& request) {
  return loader(request).run(yaml_text);
}

rty::result<loaded_config> load_config(const load_request& request) {
  std::error_code ec;
  if (request.config_path.empty() || !std::filesystem::is_regular_file(request.config_path, ec))
    return rty::fail(std::string("raythenad: Could not find config file ") +
                     (request.config_path.empty() ? std::string("(none given: use --config FILE or RAYTHENA_CONFIG)")
                                                  : request.config_path));
  auto text = rty::file::read_all(request.config_path);
  if (!text) return rty::fail("raythenad: cannot read configuration: " + text.error().message());
  return load_config_text(*text, request);
}

}  // namespace rty::config
