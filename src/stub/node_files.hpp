#pragma once
// File work a stub does on its node, kept out of the Asio translation unit so that it is unit-tested
// on its own.
#include <string>
#include <system_error>

#include "common/error.hpp"

namespace rty::stub {

// Moves a finished range's output into the task directory (flat, like Raythena). Falls back to
// copy+unlink across filesystems. A name already taken there gets ".<node_id>" appended, so two nodes
// never overwrite each other's files. A source that does not exist is an error (ENOENT) even when the
// task directory holds a file of its name: that file is never substituted. The error's code is the
// failing call's errno. A copy that fails leaves no partial file in the task directory.
rty::result<std::string> move_output(const std::string& src, const std::string& task_dir, const std::string& node_id);

// An output as pilot_dir_guard::batch checked it: the directory it opened beneath the pilot directory
// and the file's name in it. dir_fd -1: the check took the long way (realpath), only the path is known.
struct checked_at {
  int dir_fd = -1;
  std::string name;
};

// move_output with its renames relative to directories already open: `from` (the checked source, or
// dir_fd -1 for `src`) and `task_fd` (an O_PATH descriptor of `task_dir`, or -1). Once per range, this
// spares the kernel a walk of each long path, and the file moved is the one in the directory checked,
// even if the path was re-pointed in between. Same results and errors as above.
rty::result<std::string> move_output(const std::string& src, const checked_at& from, const std::string& task_dir,
                                     int task_fd, const std::string& node_id);

// True for errors that say the task directory's filesystem takes no more data (full, over quota,
// read-only): the range's output is fine, storing it failed.
bool storage_refused(std::error_code error);

// Only files pilot wrote inside this node's pilot directory may be moved: `path` (absolute, or relative
// to `pilot_dir`) must name a regular file (not a symlink) whose directory, with every symlink
// resolved, lies inside `pilot_dir`. Returns a path to it beneath the resolved pilot directory, or an
// error saying why not (e.g. an update naming /etc/passwd, ../ or a symlink out of the directory).
//
// pilot_dir_guard resolves the directory once and checks each output with one openat2(RESOLVE_BENEATH)
// (the kernel refuses every way out) instead of a realpath per call; check_pilot_output is the one-off.
class pilot_dir_guard {
 public:
  explicit pilot_dir_guard(std::string pilot_dir);
  ~pilot_dir_guard();
  pilot_dir_guard(const pilot_dir_guard&) = delete;
  pilot_dir_guard& operator=(const pilot_dir_guard&) = delete;
  rty::result<std::string> check(const std::string& path) const;

  // The checks of one updateEventRanges: pilot writes its outputs side by side, so the directory
  // opened (beneath the pilot directory) for one output serves the next one in the same directory,
  // one openat2 per update instead of one per output. Each file is still checked on its own.
  class batch {
   public:
    explicit batch(const pilot_dir_guard& guard) : guard_(guard) {}
    ~batch() { forget(); }
    batch(const batch&) = delete;
    batch& operator=(const batch&) = delete;
    rty::result<std::string> check(const std::string& path) { return guard_.check(path, this); }
    std::size_t opened() const { return opened_; }  // directories opened so far (for the tests)
    // Where the last check that passed found its file (valid until the next check or the batch's end).
    const checked_at& last() const { return last_; }

   private:
    friend class pilot_dir_guard;
    void forget();
    const pilot_dir_guard& guard_;
    std::string rel_;  // the directory of fd_, relative to the resolved pilot directory
    int fd_ = -1;
    std::size_t opened_ = 0;
    checked_at last_;
  };

 private:
  rty::result<std::string> check(const std::string& path, batch* cache) const;
  rty::result<std::string> check_resolved(const std::string& path, const std::string& parent,
                                          const std::string& name) const;

  std::string dir_, root_, error_;  // as given, resolved, why it cannot be resolved
  int root_fd_ = -1;
};
rty::result<std::string> check_pilot_output(const std::string& path, const std::string& pilot_dir);

// The pilot config pilot reads through HARVESTER_PILOT_CONFIG, with only [Pilot] pandaserver set to
// `url` (added, with the section if needed, when missing).
std::string rewrite_pandaserver(const std::string& original, const std::string& url);

}  // namespace rty::stub
