#pragma once
// One merge transform invocation (docs/architecture.md), built as data: what to exec, where, and which
// files to write first. Nothing here starts a process; the coordinator spawns `argv` in `work_dir`
// with rty::process and watches it on its event loop. The small synchronous helpers below prepare and
// clean the per-merge directory and keep the transform's job report.
#include <cstddef>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/error.hpp"
#include "common/job_spec.hpp"
#include "common/atlas_paths.hpp"
#include "common/merge_task.hpp"
#include "common/process.hpp"

namespace rty::merge {

struct merge_settings {
  std::string task_dir;             // O = <taskprogressbasedir>/<taskID>
  std::string containerengine;      // ALRB --swtype; "none" = run esmergeSpec.transPath directly
  std::string containerextraargs;   // shell code run on the host before atlasLocalSetup.sh
  std::string containerextrasetup;  // shell code run inside the container before the transform
  std::string container_options;    // queuedata container_options, passed as one `-e` argument
  std::string alrb_root = rty::default_alrb_root;
};

// True when settings.containerengine asks for no container (case-insensitive "none").
bool runs_without_container(const merge_settings& settings);

struct merge_command {
  std::vector<std::string> argv;  // [transPath, args…] or ["/bin/bash", "-c", <ALRB host script>]
  std::string work_dir;           // O/merge-tmp/<output>.<attempt>; cwd of the process, /srv in the container
  std::vector<std::pair<std::string, std::string>> files;  // name in work_dir → content, written before exec
  std::string output_path;        // O/final/<output_name>: where publish_output() puts it on success
  std::string work_output_path;   // work_dir/<output_name>: where the transform writes it
  std::string report_path;        // work_dir/jobReport.json, written by the transform
  std::string kept_report_path;   // O/job-reports/<output_name>.json (keep_report copies it there)
  std::string log_path;           // work_dir/merge.log: where to send the process's stdout+stderr
  std::string task_dir;           // O, the only tree remove_work_dir may delete in
  std::string output_name;
  int attempt = 1;
};

// Argument rules (spec §4.2, upstream hits_merge_transform): jobParameters split like a shell would;
// `@inputFor_${OUTPUT0}` → `@<dir>/file_list.txt` (dir = work_dir, or /srv in a container);
// `--inputHitsFile=X` / `--inputHITSFile=X` → two words (argparse only expands a word that starts with
// '@'); the first remaining `${OUTPUT0}` → the output in the work dir, `--autoConfiguration=everything`
// and `--DBRelease=current` dropped. `attempt` (1-based) only names the work dir.
// The transform never writes into O/final: it writes <output> in its own directory (named relative to
// its cwd, the work dir, or as /srv/<output> in a container where the work dir is /srv), and only the
// run that started it and saw it succeed renames it into final/. A merge orphaned by a crash so writes
// into a directory of its own that the resumed run removes and never publishes; a relative name or
// /srv also means its writes go to the removed directory, not to a new one under the same path.
merge_command build_merge_command(const rty::merge_task& task, const rty::job_spec& job,
                                  const merge_settings& settings, int attempt);

// Checks once per job what build_merge_command relies on: a transPath, jobParameters that split
// cleanly and mention `@inputFor_${OUTPUT0}` and `${OUTPUT0}`, output names usable as file names.
// nullopt when fine, else a message naming the field and value.
std::optional<std::string> validate_merge_parameters(const rty::job_spec& job);

// Creates O/final, O/job-reports and a fresh work_dir (a leftover from a crashed run is removed), then
// writes command.files (scripts executable). The error names the path, its code the cause.
rty::result<void> prepare_work_dir(const merge_command& command);

// After a successful merge: renames work_output_path to output_path (same filesystem, under O) and
// syncs final/. A missing output is an error naming it (code std::errc::no_such_file_or_directory):
// the transform said 0 but wrote nothing.
rty::result<void> publish_output(const merge_command& command);

// After a successful merge: copies report_path to kept_report_path atomically.
rty::result<void> keep_report(const merge_command& command);

// After success: removes work_dir, but only when it lies strictly inside <task_dir>/merge-tmp/
// (anything else returns std::errc::operation_not_permitted and touches nothing).
std::error_code remove_work_dir(const merge_command& command);

// How a merge transform is started, on the coordinator's node or by a stub: in `work_dir`, stdout and
// stderr into `log_path`, in a process group of its own (so that what it leaves behind can be killed),
// with SIGKILL as its parent-death signal: no merge outlives its parent to race the attempt that
// replaces it.
process::spawn_options merge_spawn_options(const std::vector<std::string>& argv, const std::string& work_dir,
                                           const std::string& log_path);

// True when `path` lies strictly inside `dir` (both lexically normalised, both absolute or both relative,
// no ".." escape). The stub checks a merge_run's work_dir against <task_dir>/merge-tmp and its log against
// the work dir; the coordinator checks a remote merge's output against its work dir before the rename.
bool strictly_inside(const std::string& dir, const std::string& path);

// The last `max_lines` lines of a (log) file, for the coordinator log when a merge fails. Reads at most
// the final 64 KiB. A missing file gives "<path>: <reason>".
std::string log_tail(const std::string& path, std::size_t max_lines = 20);

}  // namespace rty::merge
