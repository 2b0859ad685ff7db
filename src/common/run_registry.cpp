// The per-user job-id -> workdir registry (run_registry.hpp).
#include "common/run_registry.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "common/file_util.hpp"

namespace rty::registry {
namespace {

std::optional<std::string> entry_path(const std::string& dir, std::string_view job_id) {
  if (!valid_slurm_job_id(job_id) || dir.empty()) return std::nullopt;
  return file::join(dir, std::string(job_id));
}

// The parents as std::filesystem makes them (umask applies), the last one 0700 from the start: no
// moment in which another user could open it. Existing ones are left as they are.
bool make_private_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (ec) {
    errno = ec.value();
    return false;
  }
  return ::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST;
}

}  // namespace

bool valid_slurm_job_id(std::string_view id) {
  auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 20 && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  auto us = id.find('_');
  if (us == std::string_view::npos) return digits(id);
  return digits(id.substr(0, us)) && digits(id.substr(us + 1));
}

std::optional<std::string> registry_dir(const std::map<std::string, std::string>& env) {
  auto absolute = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end() || it->second.empty() || it->second.front() != '/') return std::nullopt;
    return it->second;
  };
  if (auto state = absolute("XDG_STATE_HOME")) return file::join(*state, "raythenad/jobs");
  if (auto home = absolute("HOME")) return file::join(*home, ".local/state/raythenad/jobs");
  return std::nullopt;
}

rty::result<void> record_run(const std::string& dir, std::string_view job_id, const std::string& workdir) {
  auto path = entry_path(dir, job_id);
  if (!path) return rty::fail("not a Slurm job id: '" + std::string(job_id) + "'");
  if (workdir.empty() || workdir.front() != '/' || workdir.find('\n') != std::string::npos)
    return rty::fail("the workdir is not an absolute path: '" + workdir + "'");
  if (!make_private_dirs(dir)) return rty::fail(dir + ": " + std::strerror(errno));
  return file::write_atomic(*path, workdir + "\n");
}

std::optional<std::string> find_run(const std::string& dir, std::string_view job_id) {
  auto path = entry_path(dir, job_id);
  if (!path) return std::nullopt;
  auto text = file::read_all(*path);
  if (!text || text->size() > 4096) return std::nullopt;
  std::string line = *text;
  if (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.empty() || line.front() != '/' || line.find('\n') != std::string::npos || line.find('\0') != std::string::npos)
    return std::nullopt;
  return line;
}

void forget_run(const std::string& dir, std::string_view job_id, const std::string& workdir) {
  auto path = entry_path(dir, job_id);
  if (!path) return;
  if (find_run(dir, job_id) == workdir) ::unlink(path->c_str());
}

}  // namespace rty::registry
