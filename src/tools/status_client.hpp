#pragma once
// `raythenad status`: finds a running coordinator through <workdir>/status.url, fetches GET /status
// with a small blocking HTTP/1.0 client (plain POSIX sockets, no Asio: cheap to compile) and prints
// a summary for shifters, or the raw JSON.
#include <boost/json/object.hpp>

#include "common/error.hpp"
#include "common/run_registry.hpp"
#include "coordinator/status_report.hpp"

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace rty::tools {

using coordinator::status_url_file;

struct http_url {
  std::string host;  // name, IPv4, or IPv6 without brackets
  std::string port;  // "80" when not given
};

// "http://HOST[:PORT][/]" ("[v6addr]" accepted). The error explains what was expected.
rty::result<http_url> parse_http_url(std::string_view text);

struct http_get_result {
  enum class failure { none, refused, timeout, other };
  failure fail = failure::none;
  int status = 0;     // HTTP status code when an answer came
  std::string body;
  std::string error;  // names the URL and the cause when fail != none
};

// GET `path` with HTTP/1.0 (answer read until the server closes); `timeout` bounds connect, send and
// the whole read. Never throws.
http_get_result http_get(const http_url& url, std::string_view path, std::chrono::milliseconds timeout);

// The compact text shown by `raythenad status`: a header block (job, state, ranges by state, rates,
// ETA, walltime left, merges) and one line per node. Missing fields show as "-".
std::string format_status_summary(const boost::json::object& status);

// "42s", "12m05s", "3h07m", "2d04h": durations at a glance.
std::string format_duration(double seconds);

// --jobid: a Slurm job id as squeue shows it: digits, or ARRAYJOB_TASK (it goes on scontrol's command line).
using registry::valid_slurm_job_id;

// Where a batch job's run may have its workdir, from `scontrol show job N` output: WorkDir=, then the
// directory of StdOut= (each value runs to the end of its line: paths may hold blanks). Absolute
// paths only, without duplicates, in that order.
std::vector<std::string> slurm_job_dirs(std::string_view scontrol_output);

// One line of --all for a run found under the base directory: a running one from its GET /status,
// an ended one from its task directory (tools/task_report.hpp), or why it could not be read.
struct run_row {
  std::string dir;       // the workdir (or task directory) found
  std::string job = "-";   // PandaID (a running run's /status), else "-"
  std::string task = "-";  // the task id: from /status, or the task directory's name
  std::string state;     // running / draining / ... / finished / interrupted / unreadable
  std::string progress;  // "450/1000 ranges (45%), ETA 12m05s" or "200 events merged, 0 failed"
};
run_row row_from_status(const std::string& dir, const boost::json::object& status);
std::string format_run_rows(const std::vector<run_row>& rows);

// argv[0] is the word "status" (main passes argc - 1, argv + 1). Options:
//   --workdir DIR (default $RAYTHENA_RAY_WORKDIR, else the current directory), --jobid N (the workdir
//   from scontrol: WorkDir or StdOut's directory), --all BASEDIR (one line per run under BASEDIR), --json, --watch,
//   --interval SECONDS (watch period, default 2), --count N (stop after N refreshes), --timeout SECONDS.
// Returns 0 on success, 1 when the coordinator cannot be reached or answers badly, 2 on a usage error.
int run_status_command(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

std::string status_command_help();

}  // namespace rty::tools
