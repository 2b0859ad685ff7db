#pragma once
// Helpers shared by the unit tests (library rty_test_support, header-only): a temporary directory
// that removes itself, whole-file reads and writes, and a job spec of a given geometry.
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "common/job_spec.hpp"

namespace rty::test {

// A fresh directory under the system's temporary directory, removed (with everything in it, also
// after a test took permissions away) when it goes out of scope.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "rty-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl + " failed");
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::string str() const { return path.string(); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }

  std::filesystem::path path;
};

// Writes `content` to `p`, creating its parent directories.
inline void write_file(const std::filesystem::path& p, const std::string& content) {
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

// The whole file ("" when it cannot be read).
inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The names a test job uses: "<tag>._<6 digits>.pool.root.1".
inline std::string numbered_file(const std::string& tag, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "._%06d.pool.root.1", i);
  return tag + buf;
}

struct job_names {
  std::string panda_id = "6000000001";
  std::string task_id = "5678";
  std::string input_tag = "EVNT.01234";
  std::string output_tag = "HITS.05678";
};

// A job with `inputs` input files of `events_per_input` events, merged into outputs of
// `events_per_output` events (several inputs per output, or several outputs per input).
inline rty::job_spec make_job(int inputs, int events_per_input, int events_per_output, const job_names& names = {}) {
  rty::job_spec job;
  job.panda_id = names.panda_id;
  job.task_id = names.task_id;
  job.events_per_input = events_per_input;
  job.events_per_output = events_per_output;
  for (int i = 1; i <= inputs; ++i) {
    job.in_files.push_back(numbered_file(names.input_tag, i));
    job.guids.push_back("GUID-" + std::to_string(i));
  }
  const int outputs = events_per_output >= events_per_input ? inputs / (events_per_output / events_per_input)
                                                            : inputs * (events_per_input / events_per_output);
  for (int j = 1; j <= outputs; ++j) job.output_files.push_back(numbered_file(names.output_tag, j));
  return job;
}

}  // namespace rty::test
