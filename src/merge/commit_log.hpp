#pragma once
// O/commit_log (docs/architecture.md): append-only lines `rename_output <old> <new>`, written and
// fsync'ed before the rename they announce, so a crash between the two is repaired by replaying.
#include "common/error.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace rty::merge {

class commit_log {
 public:
  // A missing file is an empty log. Lines with another first word are ignored (as upstream does); a
  // final line without '\n' is a torn write from a crash: ignored, and cut off by the next append.
  // A `rename_output` line without exactly two names is an error naming the file and line number.
  static rty::result<commit_log> load(const std::string& path);
  // The same rules on text already read; `path` is where later appends go and what messages name.
  static rty::result<commit_log> parse(std::string_view text, const std::string& path);

  // old → current, after replaying all lines in order: every name that was ever renamed maps to
  // the name its file has now (A→B then B→C gives A→C and B→C).
  const std::map<std::string, std::string>& renamed() const { return renamed_; }
  // renamed()[name] if present, else name.
  std::string current_name(const std::string& name) const;

  // Appends one line and fsyncs it (and the directory when the file is new). Names must be non-empty
  // without blanks (an error with code std::errc::invalid_argument otherwise); a failed write's error
  // has the errno as its code.
  rty::result<void> append(const std::string& old_name, const std::string& new_name);

  const std::string& path() const { return path_; }

 private:
  explicit commit_log(std::string path) : path_(std::move(path)) {}
  void replay(const std::string& old_name, const std::string& new_name);

  std::string path_;
  std::map<std::string, std::string> renamed_;
  std::uint64_t valid_size_ = 0;  // bytes up to and including the last complete line
};

}  // namespace rty::merge
