#pragma once
// Files we hand to someone else (Harvester, the next run) are always published atomically:
// written to a fresh temporary in the same directory, fsync'ed, then renamed over <path>.
//
// The temporary's name is "<path>.tmp.<16 random hex>", created with O_CREAT|O_EXCL|O_NOFOLLOW: in a
// directory other users (a group, on a shared filesystem) may write, a file or symlink planted under
// a predictable name would otherwise be written through (a 0666 ".raythenad-secret.tmp" made the
// secret theirs; a "payload.sh.tmp" of theirs would have been run as us).
#include <cstddef>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace rty::file {

// Writes content to path atomically. On failure the previous file at `path` is untouched and
// the temporary is removed; the error names the path and the cause, and its code is the errno of the
// step that failed (ENOSPC, EDQUOT: the storage refused the write).
rty::result<void> write_atomic(const std::string& path, std::string_view content, bool fsync_dir = true);

// A temporary file for one atomic publication, created as above (mode 0644 minus the umask, or `mode`).
// write() the content, then commit() fsyncs, closes and renames it over `path`; destroyed without
// commit() it removes the temporary. Errors carry a message naming the file and the cause, and the
// errno of the step that failed as their code.
class atomic_file {
 public:
  atomic_file() = default;
  atomic_file(const atomic_file&) = delete;
  atomic_file& operator=(const atomic_file&) = delete;
  ~atomic_file();

  rty::result<void> open(const std::string& path, unsigned mode = 0644);
  rty::result<void> write(std::string_view chunk);
  rty::result<void> commit(bool fsync_dir = true);
  const std::string& temp_path() const { return tmp_; }

 private:
  void discard();
  rty::error not_open(const char* step) const;  // write() or commit() without a temporary open
  int fd_ = -1;
  std::string path_, tmp_;
};

// Temporaries of atomic_file that a killed process left in `dir` ("<name>.tmp.<16 hex>", regular files
// of our own uid; nothing else is touched) are removed. Only safe while no other writer of ours works in
// `dir`: raythenad calls it under the task lock. Returns how many were removed.
std::size_t remove_stale_temporaries(const std::string& dir);

// Reads a whole file; the error names the file and the cause.
rty::result<std::string> read_all(const std::string& path);

// "$VAR" and "${VAR}" replaced from the environment; unknown variables are left as written
// (Python's os.path.expandvars semantics, which Raythena used).
std::string expand_vars(std::string_view text);

// Path join like Python's os.path.join for two parts: an absolute `b` wins.
std::string join(std::string_view a, std::string_view b);

// The directory part of `path`: "." without a slash, "/" for a file at the root.
std::string dir_of(const std::string& path);

// fsync(2) on a directory, so that names just created or renamed in it survive a crash. Best effort:
// some filesystems refuse fsync on directories, and the data itself was synced already.
void sync_directory(const std::string& dir);

// Nothing raythenad, its stubs or their children create may be writable by other users of a shared
// cluster, whatever umask the batch system or ssh handed down: adds "others may not write" to the
// process umask (group sharing, e.g. umask 002 for a production account, is left as the site set it).
// Returns the umask now in force.
unsigned harden_umask();

}  // namespace rty::file
