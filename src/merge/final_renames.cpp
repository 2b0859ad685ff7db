#include "merge/final_renames.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <map>
#include <set>

#include "common/file_util.hpp"
#include "common/safe_name.hpp"

namespace rty::merge {
namespace fs = std::filesystem;

namespace {
// What went wrong across a batch of renames: the first error, and one line per problem.
struct problems {
  std::error_code first;
  std::string messages;
  void operator()(std::error_code ec, const std::string& message) {
    if (!first) first = ec;
    if (!messages.empty()) messages += "\n";
    messages += message;
  }
  rty::result<void> outcome() const {
    if (!first) return {};
    return rty::fail(first, messages);
  }
};
}  // namespace

std::vector<std::vector<std::string>> current_output_names(const rty::job_spec& job) {
  std::vector<std::vector<std::string>> names(job.in_files.size());
  const auto e = job.events_per_input;
  const auto h = job.events_per_output;
  if (e <= 0 || h <= 0) return names;
  const auto& outs = job.output_files;
  for (std::size_t i = 0; i < job.in_files.size(); ++i) {
    if (h >= e) {
      std::size_t idx = i / static_cast<std::size_t>(h / e);
      if (idx < outs.size()) names[i].push_back(outs[idx]);
    } else {
      std::size_t n = static_cast<std::size_t>(e / h);
      for (std::size_t j = i * n; j < (i + 1) * n && j < outs.size(); ++j) names[i].push_back(outs[j]);
    }
  }
  return names;
}

std::vector<std::pair<std::string, std::string>> plan_renames(const std::vector<final_output>& merged,
                                                              const rty::job_spec& job) {
  auto current = current_output_names(job);
  std::map<std::string, const std::vector<std::string>*> current_of;
  for (std::size_t i = 0; i < job.in_files.size(); ++i) current_of.emplace(job.in_files[i], &current[i]);

  // Group recorded names by input, keeping first-appearance order of inputs.
  std::vector<std::string> input_order;
  std::map<std::string, std::vector<std::string>> recorded;
  std::vector<std::string> name_order;
  for (auto& m : merged) {
    auto [it, inserted] = recorded.try_emplace(m.input_file);
    if (inserted) input_order.push_back(m.input_file);
    if (std::find(it->second.begin(), it->second.end(), m.output_name) == it->second.end())
      it->second.push_back(m.output_name);
    if (std::find(name_order.begin(), name_order.end(), m.output_name) == name_order.end())
      name_order.push_back(m.output_name);
  }

  std::map<std::string, std::string> lookup;  // old → new, identity included
  for (auto& input : input_order) {
    auto cur_it = current_of.find(input);
    if (cur_it == current_of.end()) continue;
    const auto& cur = *cur_it->second;
    const auto& names = recorded[input];
    std::set<std::string> taken;
    std::vector<std::string> to_map;
    for (auto& name : names) {
      if (auto l = lookup.find(name); l != lookup.end()) {
        taken.insert(l->second);
      } else if (std::find(cur.begin(), cur.end(), name) != cur.end()) {
        lookup.emplace(name, name);
        taken.insert(name);
      } else {
        to_map.push_back(name);
      }
    }
    std::sort(to_map.begin(), to_map.end());
    auto free_it = cur.begin();
    for (auto& name : to_map) {
      while (free_it != cur.end() && taken.count(*free_it)) ++free_it;
      if (free_it == cur.end()) break;
      lookup.emplace(name, *free_it);
      taken.insert(*free_it);
    }
  }

  std::vector<std::pair<std::string, std::string>> plan;
  for (auto& name : name_order) {
    auto it = lookup.find(name);
    if (it != lookup.end() && it->second != name) plan.emplace_back(name, it->second);
  }
  return plan;
}

rty::result<void> apply_renames(commit_log& log, const std::vector<std::pair<std::string, std::string>>& renames,
                                const std::string& final_dir) {
  problems problem;
  for (auto& [old_name, new_name] : renames) {
    // Names come from state.json and the job spec: nothing is renamed outside final_dir (issue 13).
    auto bad = rty::names::check("output", old_name);
    if (!bad) bad = rty::names::check("output", new_name);
    if (bad) {
      problem(std::make_error_code(std::errc::invalid_argument), "not renaming in '" + final_dir + "': " + *bad);
      continue;
    }
    const std::string src = file::join(final_dir, old_name);
    const std::string dst = file::join(final_dir, new_name);
    if (log.current_name(old_name) != new_name) {
      if (auto logged = log.append(old_name, new_name); !logged) {
        problem(logged.error().code(), logged.error().message() + " (not renaming '" + src + "')");
        continue;
      }
    }
    std::error_code ec;
    const bool has_src = fs::exists(src, ec);
    const bool has_dst = fs::exists(dst, ec);
    if (has_src && !has_dst) {
      if (::rename(src.c_str(), dst.c_str()) != 0) {
        std::error_code rc{errno, std::generic_category()};
        problem(rc, "cannot rename '" + src + "' to '" + dst + "': " + rc.message());
      }
    } else if (has_src && has_dst) {
      problem(std::make_error_code(std::errc::file_exists),
              "cannot rename '" + src + "' to '" + dst + "': both exist, refusing to overwrite");
    } else if (!has_src && !has_dst) {
      problem(std::make_error_code(std::errc::no_such_file_or_directory),
              "cannot rename '" + src + "' to '" + dst + "': neither exists");
    }  // only the target: done by an earlier run
  }
  if (!renames.empty()) file::sync_directory(final_dir);
  return problem.outcome();
}

rty::result<void> complete_logged_renames(const commit_log& log, const std::string& final_dir,
                                          std::vector<std::pair<std::string, std::string>>* done) {
  std::map<std::string, std::vector<std::string>> earlier;  // name now → the names it had before
  for (auto& [old_name, now] : log.renamed())
    if (old_name != now) earlier[now].push_back(old_name);
  problems problem;
  bool renamed_any = false;
  for (auto& [now, olds] : earlier) {
    auto bad = rty::names::check("output", now);
    for (auto& o : olds)
      if (!bad) bad = rty::names::check("output", o);
    if (bad) {  // commit_log::parse refuses such lines; this keeps the function safe on its own
      problem(std::make_error_code(std::errc::invalid_argument), "not renaming in '" + final_dir + "': " + *bad);
      continue;
    }
    const std::string dst = file::join(final_dir, now);
    std::error_code ec;
    if (fs::exists(dst, ec)) continue;
    std::vector<std::string> present;
    for (auto& old_name : olds)
      if (fs::exists(file::join(final_dir, old_name), ec)) present.push_back(old_name);
    if (present.empty()) continue;  // nothing of this chain here: the final report names what is missing
    if (present.size() > 1) {
      std::string names;
      for (auto& n : present) names += (names.empty() ? "" : ", ") + n;
      problem(std::make_error_code(std::errc::file_exists),
              "cannot complete the logged rename to '" + dst + "': several earlier names exist (" + names + ")");
      continue;
    }
    const std::string src = file::join(final_dir, present.front());
    if (::rename(src.c_str(), dst.c_str()) != 0) {
      std::error_code rc{errno, std::generic_category()};
      problem(rc, "cannot rename '" + src + "' to '" + dst + "': " + rc.message());
      continue;
    }
    renamed_any = true;
    if (done) done->emplace_back(present.front(), now);
  }
  if (renamed_any) file::sync_directory(final_dir);
  return problem.outcome();
}

std::vector<final_output> with_current_names(const std::vector<final_output>& merged,
                                             const std::map<std::string, std::string>& renamed) {
  std::vector<final_output> out = merged;
  for (auto& m : out) {
    auto it = renamed.find(m.output_name);
    if (it == renamed.end()) continue;
    auto slash = m.path.rfind('/');
    if (m.path.substr(slash == std::string::npos ? 0 : slash + 1) == m.output_name)
      m.path = m.path.substr(0, slash == std::string::npos ? 0 : slash + 1) + it->second;
    m.output_name = it->second;
  }
  return out;
}

}  // namespace rty::merge
