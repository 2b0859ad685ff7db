#pragma once
// Directories raythenad writes its secret, checkpoint, scripts and outputs into must not be open to
// other users, as ssh's StrictModes demands of ~/.ssh: another user who may create or rename files in
// them could plant or swap what we write and then read or run. A directory passes when it is owned
// by us (or root) and others may not write it. Group write is allowed: production accounts share
// workdirs with their group (umask 002) on purpose.
#include <optional>
#include <string>
#include <string_view>

namespace rty::file {

// The decision, sans-I/O: owner and mode as stat(2) gives them, `my_uid` the effective uid,
// `owner_name` the owner's user name (may be empty), `path` only for the advice. nullopt when the
// directory is fine, else why not, naming its owner and mode and what to do, e.g. "is writable by other
// users (owner alice (uid 1000), mode 0777): refusing to run, ...; chmod o-w /x (group write is fine)".
std::optional<std::string> unsafe_dir_reason(const std::string& path, unsigned owner_uid, unsigned mode,
                                             unsigned my_uid, std::string_view owner_name = {});

// The same for a directory on disk (stat follows a symlink: the directory it names counts). A path that
// does not exist yet passes (we create it, with our umask); one that is not a directory fails.
std::optional<std::string> dir_problem(const std::string& path);

// dir_problem() as one line for the log: "<role> <path> <reason>", e.g. role "ray.workdir".
std::optional<std::string> check_dir_is_private(std::string_view role, const std::string& path);

// A run's directories at startup, once the job is known: the task directory O and its final/,
// job-reports/ and merge-tmp/ ("task directory"), and `nodes_dir` (ray.workdir/<PandaID>) with every
// node directory already in it ("node directory"). The first problem, as check_dir_is_private words it.
std::optional<std::string> check_run_dirs(const std::string& task_dir, const std::string& nodes_dir);

// For a fixed-name file we may read but never create any more (state.json.tmp of older versions): a
// problem when `path` exists and is not a plain file of ours (a symlink, another owner, more than one
// link), i.e. someone planted it.
std::optional<std::string> planted_file(const std::string& path);

// "name (uid N)" or "uid N" when the uid has no name.
std::string describe_owner(unsigned uid);

}  // namespace rty::file
