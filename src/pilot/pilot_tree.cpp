#include "pilot/pilot_tree.hpp"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <tuple>

namespace rty::pilot {

namespace fs = std::filesystem;

namespace {

constexpr const char* wrapper_names[] = {"runpilot3-wrapper.sh", "runpilot2-wrapper.sh"};

struct candidate {
  int depth = 0;
  int rank = 0;  // name preference, lower wins
  std::string path;
  bool operator<(const candidate& o) const { return std::tie(depth, rank, path) < std::tie(o.depth, o.rank, o.path); }
};

bool executable_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

void walk(const fs::path& dir, int depth, std::vector<candidate>& wrappers, std::vector<candidate>& pilots) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "pilot.py", ec))
    pilots.push_back({depth, dir.filename() == "pilot3" ? 0 : 1, dir.string()});
  fs::directory_iterator it(dir, ec), end;
  if (ec) return;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    const fs::path& p = it->path();
    const std::string name = p.filename().string();
    if (name.empty() || name.front() == '.') continue;
    for (int rank = 0; rank < 2; ++rank)
      if (name == wrapper_names[rank] && executable_file(p)) wrappers.push_back({depth, rank, p.string()});
    std::error_code type_ec;
    if (depth < bindir_search_depth && it->is_directory(type_ec) && !it->is_symlink(type_ec))
      walk(p, depth + 1, wrappers, pilots);
  }
}

void choose(std::vector<candidate>& found, std::optional<std::string>& chosen, std::vector<std::string>& others) {
  std::sort(found.begin(), found.end());
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (i == 0)
      chosen = found[i].path;
    else
      others.push_back(found[i].path);
  }
}

}  // namespace

bindir_find find_in_bindir(const std::string& bindir) {
  bindir_find out;
  std::error_code ec;
  fs::path root = fs::absolute(bindir, ec).lexically_normal();
  if (ec || !fs::exists(root, ec)) {
    out.error = "does not exist";
    return out;
  }
  if (!fs::is_directory(root, ec)) {
    out.error = "is not a directory";
    return out;
  }
  fs::directory_iterator probe(root, ec);
  if (ec) {
    out.error = "cannot be listed: " + ec.message();
    return out;
  }
  std::string text = root.string();
  if (text.size() > 1 && text.back() == '/') root = fs::path(text.substr(0, text.size() - 1));
  std::vector<candidate> wrappers, pilots;
  walk(root, 0, wrappers, pilots);
  choose(wrappers, out.wrapper, out.other_wrappers);
  choose(pilots, out.pilot_dir, out.other_pilot_dirs);
  return out;
}

}  // namespace rty::pilot
