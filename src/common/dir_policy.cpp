#include "common/dir_policy.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace rty::file {
namespace {
std::string octal_mode(unsigned mode) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

std::string owner_text(unsigned uid, std::string_view name) {
  std::string out = name.empty() ? "uid " + std::to_string(uid) : std::string(name) + " (uid " + std::to_string(uid) + ")";
  return out;
}
}  // namespace

std::optional<std::string> unsafe_dir_reason(const std::string& path, unsigned owner_uid, unsigned mode,
                                             unsigned my_uid, std::string_view owner_name) {
  const std::string facts = "(owner " + owner_text(owner_uid, owner_name) + ", mode " + octal_mode(mode) + ")";
  if (!S_ISDIR(mode)) return "is not a directory " + facts;
  // Root may own it: only root could then plant anything, and root can do anything anyway.
  if (owner_uid != my_uid && owner_uid != 0)
    return "is owned by another user " + facts +
           ": refusing to run, its owner could plant or replace the files we write there; use a directory of "
           "uid " + std::to_string(my_uid) + "'s own";
  // Sticky or not: o+w lets anyone plant names we have not created yet.
  if (mode & S_IWOTH)
    return "is writable by other users " + facts +
           ": refusing to run, anyone could plant or replace the files we write there; chmod o-w " + path +
           " (group write is fine)";
  return std::nullopt;
}

std::string describe_owner(unsigned uid) {
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  std::string name;
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf.data(), buf.size(), &found) == 0 && found) name = pw.pw_name;
  return owner_text(uid, name);
}

std::optional<std::string> dir_problem(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    return std::string("cannot be checked: ") + std::strerror(errno);
  }
  passwd pw{}, *found = nullptr;
  std::vector<char> buf(16384);
  std::string name;
  if (::getpwuid_r(st.st_uid, &pw, buf.data(), buf.size(), &found) == 0 && found) name = pw.pw_name;
  return unsafe_dir_reason(path, st.st_uid, st.st_mode, ::geteuid(), name);
}

std::optional<std::string> check_dir_is_private(std::string_view role, const std::string& path) {
  if (auto why = dir_problem(path)) return std::string(role) + " " + path + " " + *why;
  return std::nullopt;
}

std::optional<std::string> check_run_dirs(const std::string& task_dir, const std::string& nodes_dir) {
  std::vector<std::pair<std::string, std::string>> dirs = {{"task directory", task_dir},
                                                           {"task directory", task_dir + "/final"},
                                                           {"task directory", task_dir + "/job-reports"},
                                                           {"task directory", task_dir + "/merge-tmp"},
                                                           {"node directory", nodes_dir}};
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto it = fs::directory_iterator(nodes_dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_directory(ec)) dirs.emplace_back("node directory", it->path().string());
  for (auto& [role, dir] : dirs)
    if (auto problem = check_dir_is_private(role, dir)) return problem;
  return std::nullopt;
}

std::optional<std::string> planted_file(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  if (S_ISREG(st.st_mode) && st.st_nlink == 1 && (st.st_uid == ::geteuid() || st.st_uid == 0)) return std::nullopt;
  return path + " is not a file of ours (" + (S_ISLNK(st.st_mode) ? std::string("a symlink, ") : std::string()) +
         "owner " + describe_owner(st.st_uid) + ", " + std::to_string(st.st_nlink) + " link(s))";
}

}  // namespace rty::file
