#include "stub/node_files.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rty::stub {
namespace fs = std::filesystem;

std::optional<std::string> check_pilot_output(const std::string& path, const std::string& pilot_dir, std::string& why) {
  if (path.empty()) {
    why = "no output path";
    return std::nullopt;
  }
  const std::string full = path.front() == '/' ? path : pilot_dir + "/" + path;
  char root[PATH_MAX];
  if (!::realpath(pilot_dir.c_str(), root)) {
    why = "pilot directory '" + pilot_dir + "': " + std::strerror(errno);
    return std::nullopt;
  }
  const auto slash = full.rfind('/');
  const std::string parent = slash == 0 ? "/" : full.substr(0, slash);
  const std::string name = full.substr(slash + 1);
  if (name.empty() || name == "." || name == "..") {
    why = "'" + path + "' does not name a file";
    return std::nullopt;
  }
  char dir[PATH_MAX];
  if (!::realpath(parent.c_str(), dir)) {
    why = "directory of '" + path + "': " + std::strerror(errno);
    return std::nullopt;
  }
  const std::string d(dir), r(root);
  if (d != r && d.compare(0, r.size() + 1, r + "/") != 0) {
    why = "'" + path + "' is outside this node's pilot directory " + r + ": refused";
    return std::nullopt;
  }
  struct stat st {};
  const std::string resolved = d + "/" + name;
  if (::lstat(resolved.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    why = "'" + path + "' is not a regular file (a symlink or special file): refused";
    return std::nullopt;
  }
  return resolved;  // may not exist any more: a repeated update for a file already moved
}

bool storage_refused(int error) { return error == ENOSPC || error == EDQUOT || error == EROFS; }

std::optional<std::string> move_output(const std::string& src, const std::string& task_dir, const std::string& node_id,
                                       std::string& why, int* error) {
  if (error) *error = 0;
  // Plain system calls, checked by their result rather than stat'ed first: this runs once per range.
  const auto slash = src.rfind('/');
  const std::string target = task_dir + "/" + (slash == std::string::npos ? src : src.substr(slash + 1));
  auto try_rename = [&](const std::string& to) {
    return ::renameat2(AT_FDCWD, src.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0 ? 0 : errno;
  };
  int err = try_rename(target);
  if (err == 0) return target;
  std::string dest = target;
  if (err == EEXIST) {  // another node produced the same name: never overwrite, namespace it
    dest = target + "." + node_id;
    err = try_rename(dest);
    if (err == 0) return dest;
  }
  if (err == ENOENT) {
    struct stat st {};
    if (::stat(src.c_str(), &st) != 0) {
      // A repeated update for a file already moved.
      if (::stat(dest.c_str(), &st) == 0) return dest;
      why = "output file '" + src + "' does not exist";
      if (error) *error = ENOENT;
      return std::nullopt;
    }
  }
  if (err == EINVAL || err == ENOSYS) {  // filesystem without RENAME_NOREPLACE (some parallel filesystems)
    struct stat st {};
    if (::stat(dest.c_str(), &st) == 0) {
      why = "'" + dest + "' already exists";
      if (error) *error = EEXIST;
      return std::nullopt;
    }
    if (::rename(src.c_str(), dest.c_str()) == 0) return dest;
    err = errno;
  }
  if (err != EXDEV) {
    why = "cannot move '" + src + "' to '" + dest + "': " + std::strerror(err);
    if (error) *error = err;
    return std::nullopt;
  }
  std::error_code ec;  // another filesystem: copy, then remove
  fs::copy_file(src, dest, fs::copy_options::none, ec);
  if (ec) {
    why = "cannot copy '" + src + "' to '" + dest + "': " + ec.message();
    if (error) *error = ec.value();
    if (ec.value() != EEXIST) {
      std::error_code rm;
      fs::remove(dest, rm);  // a half-written copy must not take the name of a later attempt
    }
    return std::nullopt;
  }
  fs::remove(src, ec);
  return dest;
}

std::string rewrite_pandaserver(const std::string& original, const std::string& url) {
  std::string out;
  bool in_pilot = false, replaced = false;
  std::size_t pos = 0;
  while (pos <= original.size()) {
    auto eol = original.find('\n', pos);
    std::string line = original.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    std::string trimmed = line;
    trimmed.erase(0, trimmed.find_first_not_of(" \t"));
    if (!trimmed.empty() && trimmed.front() == '[') {
      if (in_pilot && !replaced) {
        out += "pandaserver = " + url + "\n";
        replaced = true;
      }
      in_pilot = trimmed.rfind("[Pilot]", 0) == 0;
    } else if (in_pilot && line == trimmed) {
      auto sep = trimmed.find_first_of("=:");
      std::string key = trimmed.substr(0, sep);
      while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
      if (sep != std::string::npos && key == "pandaserver") {
        line = "pandaserver = " + url;
        replaced = true;
      }
    }
    out += line;
    if (eol == std::string::npos) break;
    out += '\n';
    pos = eol + 1;
  }
  if (!replaced) {
    if (!in_pilot) out += (out.empty() || out.back() == '\n' ? "" : "\n") + std::string("[Pilot]\n");
    out += "pandaserver = " + url + "\n";
  }
  return out;
}

}  // namespace rty::stub
