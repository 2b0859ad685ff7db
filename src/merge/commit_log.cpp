#include "merge/commit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "common/file_util.hpp"
#include "common/log.hpp"
#include "common/safe_name.hpp"

namespace rty::merge {

namespace {
constexpr std::string_view rename_op = "rename_output";

std::error_code errno_code() { return {errno, std::generic_category()}; }

std::vector<std::string> split_spaces(std::string_view line) {
  std::vector<std::string> words;
  std::size_t i = 0;
  while (i < line.size()) {
    auto end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    if (end > i) words.emplace_back(line.substr(i, end - i));
    i = end + 1;
  }
  return words;
}

// One file name in final/ (issue 13: no '/', '..', control characters), and no blanks: the line
// format separates names by spaces.
std::optional<std::string> name_problem(const std::string& name) {
  if (auto bad = rty::names::check("name", name)) return bad;
  if (name.find_first_of(" \t") != std::string::npos)
    return "name '" + rty::names::escaped(name) + "' is not a usable file name (contains blanks)";
  return std::nullopt;
}
}  // namespace

rty::result<commit_log> commit_log::load(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return commit_log(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return rty::fail("cannot read commit log '" + path + "': " + errno_code().message());
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse(buffer.str(), path);
}

rty::result<commit_log> commit_log::parse(std::string_view data, const std::string& path) {
  commit_log log(path);
  std::size_t pos = 0;
  std::size_t line_no = 0;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    if (nl == std::string::npos) {
      RTY_LOG(warning, "Merge") << "commit log '" << path << "': ignoring incomplete last line '"
                                << rty::names::escaped(data.substr(pos)) << "' (interrupted write)";
      break;
    }
    ++line_no;
    std::string_view line(data.data() + pos, nl - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto words = split_spaces(line);
    if (!words.empty() && words[0] == rename_op) {
      if (words.size() != 3)
        return rty::fail("commit log '" + path + "' line " + std::to_string(line_no) +
                         ": expected 'rename_output <old> <new>', got '" + rty::names::escaped(line) + "'");
      for (int w : {1, 2})
        if (auto bad = name_problem(words[w]))
          return rty::fail("commit log '" + path + "' line " + std::to_string(line_no) + ": " + *bad +
                           "; refusing the log (renames happen only inside final/)");
      log.replay(words[1], words[2]);
    }
    pos = nl + 1;
    log.valid_size_ = pos;
  }
  return log;
}

void commit_log::replay(const std::string& old_name, const std::string& new_name) {
  // Same result as upstream's recover_outputfile_name run for every name: follow the lines in order.
  for (auto& [from, current] : renamed_)
    if (current == old_name) current = new_name;
  renamed_.emplace(old_name, new_name);
}

std::string commit_log::current_name(const std::string& name) const {
  auto it = renamed_.find(name);
  return it == renamed_.end() ? name : it->second;
}

rty::result<void> commit_log::append(const std::string& old_name, const std::string& new_name) {
  for (auto* name : {&old_name, &new_name})
    if (auto bad = name_problem(*name))
      return rty::fail(std::make_error_code(std::errc::invalid_argument),
                       "commit log '" + path_ + "': refusing to record rename of '" + rty::names::escaped(old_name) +
                           "' to '" + rty::names::escaped(new_name) + "': " + *bad);
  auto fail = [&](const char* step) {
    auto ec = errno_code();
    return rty::fail(ec, std::string(step) + " commit log '" + path_ + "': " + ec.message());
  };
  struct stat st {};
  const bool is_new = ::stat(path_.c_str(), &st) != 0;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fail("cannot open");
  struct fd_closer {
    int fd;
    ~fd_closer() { ::close(fd); }
  } closer{fd};
  if (::fstat(fd, &st) != 0) return fail("cannot stat");
  if (static_cast<std::uint64_t>(st.st_size) != valid_size_ &&
      ::ftruncate(fd, static_cast<off_t>(valid_size_)) != 0)
    return fail("cannot cut torn tail of");
  const std::string line = std::string(rename_op) + " " + old_name + " " + new_name + "\n";
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t w = ::pwrite(fd, line.data() + done, line.size() - done, static_cast<off_t>(valid_size_ + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync");
  if (is_new) file::sync_directory(file::dir_of(path_));
  valid_size_ += line.size();
  replay(old_name, new_name);
  return {};
}

}  // namespace rty::merge
