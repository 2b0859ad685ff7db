#pragma once
// Finds the pilot wrapper and the pilot3 tree in a directory where a site unpacked them
// (payload.bindir, RAYTHENA_PAYLOAD_BINDIR), wherever the tarball's layout put them: the directory
// itself, or up to two levels below it (pilot3/, pilot3-3.10.1.5/, wrapper/..., PandaPilotWrapper/latest/).
//
// The rule, so that the same tree always gives the same answer:
//   wrapper: a regular executable file named runpilot3-wrapper.sh or runpilot2-wrapper.sh; the
//            shallowest wins, then runpilot3 over runpilot2, then the path in byte order.
//   pilot:   a directory holding a regular file pilot.py; the shallowest wins, then a directory named
//            exactly pilot3, then the path in byte order.
// Hidden entries (".name") are skipped and directory symlinks are not followed (a link cannot send the
// search outside the tree or into a loop). Nothing is read but directory listings and file modes.
#include <optional>
#include <string>
#include <vector>

namespace rty::pilot {

struct bindir_find {
  std::optional<std::string> wrapper;    // absolute path, normalised
  std::optional<std::string> pilot_dir;  // absolute path, normalised
  // Other candidates that lost to the chosen ones, so that --validate can show the choice was not the
  // only one ("also found ...").
  std::vector<std::string> other_wrappers;
  std::vector<std::string> other_pilot_dirs;
  std::string error;  // non-empty when the directory itself cannot be listed
};

inline constexpr int bindir_search_depth = 2;

bindir_find find_in_bindir(const std::string& bindir);

}  // namespace rty::pilot
