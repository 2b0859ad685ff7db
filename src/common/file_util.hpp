#pragma once
// Files we hand to someone else (Harvester, the next run) are always published atomically:
// written to "<path>.tmp" in the same directory, fsync'ed, then renamed over <path>.
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace rty::file {

// Writes content to path atomically. On failure the previous file at `path` is untouched and
// the temporary is removed. `what` (if given) receives a message naming the path and the cause.
std::error_code write_atomic(const std::string& path, std::string_view content, std::string* what = nullptr,
                             bool fsync_dir = true);

// Reads a whole file. nullopt on error, with a message naming the file and cause in `what`.
std::optional<std::string> read_all(const std::string& path, std::string* what = nullptr);

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
