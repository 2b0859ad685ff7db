#include "tools/task_report.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json/parse.hpp>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "common/file_util.hpp"
#include "common/task_lock.hpp"
#include "common/utc_time.hpp"
#include "merge/commit_log.hpp"
#include "merge/merge_command.hpp"
#include "tools/status_client.hpp"

namespace rty::tools {
namespace {

namespace fs = std::filesystem;
using time_point = task_facts::time_point;

std::uint64_t events_in(const bookkeeping::range_map& ranges) {
  std::uint64_t n = 0;
  for (const auto& [id, r] : ranges)
    if (r.last_event >= r.start_event) n += static_cast<std::uint64_t>(r.last_event - r.start_event + 1);
  return n;
}

std::optional<time_point> mtime_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return time_point(std::chrono::seconds(st.st_mtim.tv_sec));
}

std::string utc(time_point t) { return format_utc(t, "%Y-%m-%d %H:%M:%S UTC"); }

std::string ago(time_point t, time_point now) {
  return format_duration(std::chrono::duration<double>(now - t).count()) + " ago";
}

// The lock file's state without taking the lock for more than an instant and without creating it.
// true: another process holds it.
bool lock_held(const std::string& path, std::optional<long>& pid) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  if (!held) ::flock(fd, LOCK_UN);
  ::close(fd);
  if (held)
    if (auto text = file::read_all(path)) pid = file::lock_holder_pid(*text);
  return held;
}

// files.output[0].subFiles[0].nentries of a merge report.
std::optional<std::uint64_t> nentries(const boost::json::value& v) {
  const auto* o = v.if_object();
  const auto* files = o ? o->if_contains("files") : nullptr;
  const auto* out = files && files->is_object() ? files->as_object().if_contains("output") : nullptr;
  if (!out || !out->is_array() || out->as_array().empty() || !out->as_array()[0].is_object()) return std::nullopt;
  const auto* subs = out->as_array()[0].as_object().if_contains("subFiles");
  if (!subs || !subs->is_array() || subs->as_array().empty() || !subs->as_array()[0].is_object()) return std::nullopt;
  const auto* n = subs->as_array()[0].as_object().if_contains("nentries");
  if (n && n->is_int64() && n->as_int64() >= 0) return static_cast<std::uint64_t>(n->as_int64());
  if (n && n->is_uint64()) return n->as_uint64();
  return std::nullopt;
}

bool is_task_dir(const std::string& dir) {
  std::error_code ec;
  return fs::exists(file::join(dir, "state.json"), ec) || fs::exists(file::join(dir, "state.json.tmp"), ec) ||
         fs::exists(file::join(dir, "commit_log"), ec) || fs::is_directory(file::join(dir, "final"), ec);
}

}  // namespace

std::string to_string(task_state s) {
  switch (s) {
    case task_state::running: return "running";
    case task_state::finished: return "finished";
    case task_state::interrupted: return "interrupted";
  }
  return "?";
}

task_state state_of(const task_facts& f) {
  if (f.running) return task_state::running;
  if (f.report_exit_code) return *f.report_exit_code == 0 || *f.report_exit_code == 4 ? task_state::finished
                                                                                      : task_state::interrupted;
  bool in_flight = std::any_of(f.cp.simulated.begin(), f.cp.simulated.end(), [](auto& e) { return !e.second.empty(); }) ||
                   !f.cp.merging.empty();
  return f.has_checkpoint && !in_flight ? task_state::finished : task_state::interrupted;
}

namespace {

// An output: merged (final), or merged but waiting for the same input's other outputs.
struct output_row {
  std::set<std::string> inputs;
  std::string guid;
  bool final_file = false;
  std::uint64_t events_from_ranges = 0;  // merging entries carry their ranges
};
using output_rows = std::map<std::string, output_row>;

output_rows outputs_of(const task_facts& f) {
  output_rows outputs;
  for (const auto& [input, outs] : f.cp.merged)
    for (const auto& [name, rec] : outs) {
      auto& r = outputs[name];
      r.inputs.insert(input);
      r.guid = rec.guid;
      r.final_file = true;
    }
  for (const auto& [input, outs] : f.cp.merging)
    for (const auto& [name, ranges] : outs) {
      auto& r = outputs[name];
      r.inputs.insert(input);
      r.events_from_ranges += events_in(ranges);
      for (const auto& [id, rr] : ranges)
        if (!rr.output_guid.empty()) r.guid = rr.output_guid;
    }
  return outputs;
}

std::optional<std::uint64_t> events_of(const task_facts& f, const std::string& name, const output_row& r) {
  if (auto it = f.output_events.find(name); it != f.output_events.end()) return it->second;
  if (!r.final_file) return r.events_from_ranges;
  return std::nullopt;
}

// The events and inputs lines: merged, failed and left.
void report_counts(std::ostream& o, const task_facts& f, const output_rows& outputs) {
  std::uint64_t merged_events = 0;
  std::size_t unknown = 0;
  for (const auto& [name, r] : outputs) {
    if (auto e = events_of(f, name, r))
      merged_events += *e;
    else
      ++unknown;
  }
  std::uint64_t simulated_ranges = 0, simulated_events = 0, failed_ranges = 0, failed_events = 0;
  for (const auto& [input, ranges] : f.cp.simulated) {
    simulated_ranges += ranges.size();
    simulated_events += events_in(ranges);
  }
  for (const auto& [input, ranges] : f.cp.failed) {
    failed_ranges += ranges.size();
    failed_events += events_in(ranges);
  }
  o << "events  merged " << merged_events;
  if (unknown) o << " (+ " << unknown << " output(s) whose report is missing)";
  o << " in " << outputs.size() << " output(s); failed " << failed_events << " (" << failed_ranges
    << " ranges); left: " << simulated_events << " simulated, not merged yet (" << simulated_ranges
    << " ranges), and those never simulated (the job spec knows how many)\n";
  o << "inputs  " << f.cp.merged.size() << " fully merged, " << f.cp.merging.size() << " partly merged, "
    << f.cp.failed.size() << " with failed ranges\n";
  if (!f.renamed.empty()) o << "renames " << f.renamed.size() << " output rename(s) in commit_log\n";
}

void report_outputs(std::ostream& o, const task_facts& f, const output_rows& outputs) {
  if (outputs.empty()) return;
  o << "\noutputs\n";
  for (const auto& [name, r] : outputs) {
    o << "  " << name << "  " << (r.final_file ? "final" : "merged, input not complete") << "  events ";
    auto e = events_of(f, name, r);
    o << (e ? std::to_string(*e) : std::string("?")) << "  guid " << (r.guid.empty() ? "-" : r.guid) << "  input";
    for (const auto& in : r.inputs) o << " " << in;
    o << "\n";
  }
}

void report_failures(std::ostream& o, const task_facts& f) {
  if (f.cp.failed.empty() && f.merge_logs.empty()) return;
  o << "\nfailures\n";
  for (const auto& [input, ranges] : f.cp.failed)
    o << "  input " << input << ": " << ranges.size() << " range(s), " << events_in(ranges)
      << " events failed for good (their merge group failed: a range ran out of ray.maxrangeattempts or its "
         "merge out of ray.mergeretries; the coordinator log has each attempt's cause)\n";
  for (const auto& [dir, tail] : f.merge_logs) {
    o << "  merge " << dir << " did not complete (merge-tmp/" << dir << "/merge.log), last lines:\n";
    std::istringstream lines(tail);
    for (std::string line; std::getline(lines, line);) o << "    | " << line << "\n";
  }
}

void report_timings(std::ostream& o, const task_facts& f, time_point now) {
  o << "\ntimings\n";
  if (f.checkpoint_time) o << "  last checkpoint  " << utc(*f.checkpoint_time) << " (" << ago(*f.checkpoint_time, now) << ")\n";
  if (f.first_merge && f.last_merge) {
    o << "  merges           " << utc(*f.first_merge) << " to " << utc(*f.last_merge);
    o << " (" << format_duration(std::chrono::duration<double>(*f.last_merge - *f.first_merge).count()) << ")\n";
  }
}

}  // namespace

std::string format_task_report(const task_facts& f, time_point now) {
  std::ostringstream o;
  const auto state = state_of(f);
  o << "task " << f.task_dir << ": " << to_string(state);
  if (f.running) o << " (raythenad " << (f.running_pid ? "pid " + std::to_string(*f.running_pid) : "pid unknown")
                   << " holds " << file::join(f.task_dir, "raythenad.lock") << ")";
  if (f.report_exit_code) o << ", exit code " << *f.report_exit_code << " (jobReport.json)";
  if (state == task_state::interrupted) o << "; the next run resumes from state.json";
  o << "\n";
  if (!f.has_checkpoint) {
    o << "no state.json yet: no range has been recorded\n";
    return o.str();
  }

  const output_rows outputs = outputs_of(f);
  report_counts(o, f, outputs);
  report_outputs(o, f, outputs);
  report_failures(o, f);
  report_timings(o, f, now);
  return o.str();
}

rty::result<task_facts> read_task_dir(const std::string& given) {
  using rty::fail;
  std::error_code ec;
  if (!fs::is_directory(given, ec)) return fail("raythenad report: " + given + ": not a directory");
  task_facts f;
  std::string dir = given;
  std::optional<std::string> job_report;
  if (!is_task_dir(dir)) {
    // A Harvester endpoint / ray.workdir: task_workdir_path.txt names the task directory.
    const std::string pointer = file::join(dir, "task_workdir_path.txt");
    auto text = file::read_all(pointer);
    if (!text)
      return fail("raythenad report: " + given +
             " is neither a task directory (no state.json, commit_log or final/) nor a run's workdir (no "
             "task_workdir_path.txt)");
    std::string target = text->substr(0, text->find('\n'));
    if (target.empty() || target.front() != '/' || target.find('\0') != std::string::npos)
      return fail("raythenad report: " + pointer + ": expected an absolute path, got '" + target + "'");
    if (!fs::is_directory(target, ec) || !is_task_dir(target))
      return fail("raythenad report: " + pointer + " names " + target + ", which is no task directory (no state.json, "
             "commit_log or final/)");
    job_report = file::join(dir, "jobReport.json");
    dir = target;
  }
  f.task_dir = dir;
  f.running = lock_held(file::join(dir, "raythenad.lock"), f.running_pid);

  auto cp = bookkeeping::load_checkpoint(file::join(dir, "state.json"));
  if (!cp) return fail("raythenad report: " + cp.error().message());
  if (*cp) {
    f.has_checkpoint = true;
    f.cp = std::move(**cp);
    f.checkpoint_time = mtime_of(file::join(dir, "state.json"));
    if (!f.checkpoint_time) f.checkpoint_time = mtime_of(file::join(dir, "state.json.tmp"));
  }
  auto log = merge::commit_log::load(file::join(dir, "commit_log"));
  if (!log) return fail("raythenad report: " + log.error().message());
  f.renamed = log->renamed();

  if (job_report && !f.running) {
    if (auto text = file::read_all(*job_report)) {
      boost::system::error_code jec;
      auto v = boost::json::parse(*text, jec);
      if (!jec && v.is_object())
        if (auto* c = v.as_object().if_contains("exitCode"); c && c->is_int64()) f.report_exit_code = int(c->as_int64());
    }
  }

  for (const auto& entry : fs::directory_iterator(file::join(dir, "job-reports"), ec)) {
    std::error_code eec;
    if (!entry.is_regular_file(eec) || entry.path().extension() != ".json") continue;
    const std::string path = entry.path().string();
    if (auto t = mtime_of(path)) {
      if (!f.first_merge || *t < *f.first_merge) f.first_merge = t;
      if (!f.last_merge || *t > *f.last_merge) f.last_merge = t;
    }
    auto text = file::read_all(path);
    if (!text || text->size() > (16u << 20)) continue;
    boost::system::error_code jec;
    auto v = boost::json::parse(*text, jec);
    if (jec) continue;
    if (auto n = nentries(v)) {
      const std::string name = entry.path().stem().string();
      f.output_events[name] = *n;
      f.output_events[log->current_name(name)] = *n;
    }
  }
  for (const auto& entry : fs::directory_iterator(file::join(dir, "merge-tmp"), ec)) {
    std::error_code eec;
    if (!entry.is_directory(eec)) continue;
    const std::string log_path = (entry.path() / "merge.log").string();
    f.merge_logs[entry.path().filename().string()] = merge::log_tail(log_path, 5);
  }
  return f;
}

std::string report_command_help() {
  return "Usage: raythenad report DIR\n"
         "\n"
         "Summarises a task directory from what the run left there: events merged, failed and left, the\n"
         "outputs, the failures with what is known of their causes (merge logs of merges that did not\n"
         "complete), and timings. Works on a finished, a running (read-only, no lock taken) and an interrupted\n"
         "run. DIR is the task directory (<ray.taskprogressbasedir>/<taskID>, with state.json) or the run's\n"
         "workdir / Harvester endpoint (its task_workdir_path.txt names the task directory, and its\n"
         "jobReport.json gives the run's exit code).\n"
         "\n"
         "Exit status: 0 shown, 1 DIR is no task directory or cannot be read, 2 usage error.\n";
}

int run_report_command(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") {
      out << report_command_help();
      return 0;
    }
    if (a.starts_with("-") && a != "-") {
      err << "raythenad report: unknown option '" << a << "'\n" << report_command_help();
      return 2;
    }
    dirs.emplace_back(a);
  }
  if (dirs.size() != 1) {
    err << "raythenad report: expected one DIR, got " << dirs.size() << "\n" << report_command_help();
    return 2;
  }
  auto f = read_task_dir(dirs.front());
  if (!f) {
    err << f.error() << "\n";
    return 1;
  }
  out << format_task_report(*f, std::chrono::system_clock::now());
  return 0;
}

}  // namespace rty::tools
