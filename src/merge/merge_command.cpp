#include "merge/merge_command.hpp"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>

#include "common/file_util.hpp"
#include "common/json_util.hpp"
#include "merge/shell_words.hpp"

namespace rty::merge {
namespace fs = std::filesystem;

namespace {
constexpr std::string_view input_placeholder = "@inputFor_${OUTPUT0}";
constexpr std::string_view output_placeholder = "${OUTPUT0}";
constexpr std::string_view file_list_name = "file_list.txt";

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size()))
    s.replace(pos, from.size(), to);
}

// Transform arguments after the §4.2 rewrites, `list_dir` being where file_list.txt is seen.
std::vector<std::string> transform_arguments(const rty::job_spec& job, const std::string& list_dir,
                                             const std::string& output_path) {
  const std::string list_arg = "@" + list_dir + "/" + std::string(file_list_name);
  std::vector<std::string> args;
  bool output_done = false;
  for (auto& word : split_shell_words_as_if_closed(job.merge_job_parameters)) {
    if (word == "--autoConfiguration=everything" || word == "--DBRelease=current") continue;
    std::vector<std::string> pieces;
    for (std::string_view opt : {"--inputHitsFile=", "--inputHITSFile="}) {
      if (word.starts_with(opt)) {
        pieces.emplace_back(opt.substr(0, opt.size() - 1));
        pieces.push_back(word.substr(opt.size()));
        break;
      }
    }
    if (pieces.empty()) pieces.push_back(word);
    for (auto& piece : pieces) {
      replace_all(piece, input_placeholder, list_arg);
      if (!output_done) {
        auto pos = piece.find(output_placeholder);
        if (pos != std::string::npos) {
          piece.replace(pos, output_placeholder.size(), output_path);
          output_done = true;
        }
      }
      args.push_back(std::move(piece));
    }
  }
  return args;
}

std::string with_separator(const std::string& shell_prefix) {
  auto last = shell_prefix.find_last_not_of(" \t\r\n");
  if (last == std::string::npos) return "";  // blank: no prefix at all
  return shell_prefix[last] == ';' ? shell_prefix : shell_prefix + ";";
}

std::string safe_file_name(std::string name) {
  std::replace(name.begin(), name.end(), '/', '_');
  if (name.empty() || name == "." || name == "..") name = "_" + name;
  return name;
}

std::error_code errno_code() { return {errno, std::generic_category()}; }
}  // namespace

bool runs_without_container(const merge_settings& settings) {
  std::string e = settings.containerengine;
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e == "none";
}

merge_command build_merge_command(const rty::merge_task& task, const rty::job_spec& job,
                                  const merge_settings& settings, int attempt) {
  merge_command cmd;
  const std::string& o = settings.task_dir;
  cmd.task_dir = o;
  cmd.output_name = task.output_name;
  cmd.attempt = attempt;
  cmd.work_dir = file::join(file::join(o, "merge-tmp"), safe_file_name(task.output_name) + "." +
                                                            std::to_string(attempt));
  cmd.output_path = file::join(file::join(o, "final"), task.output_name);
  cmd.work_output_path = file::join(cmd.work_dir, task.output_name);
  cmd.report_path = file::join(cmd.work_dir, "jobReport.json");
  cmd.kept_report_path = file::join(file::join(o, "job-reports"), task.output_name + ".json");
  cmd.log_path = file::join(cmd.work_dir, "merge.log");

  std::string file_list;
  for (auto& input : task.inputs) file_list += input.path + "\n";
  cmd.files.emplace_back(std::string(file_list_name), std::move(file_list));

  if (runs_without_container(settings)) {
    cmd.argv.push_back(job.merge_trans_path);
    // Relative to the cwd (the work dir): an orphan whose directory was removed cannot reach a new one.
    for (auto& a : transform_arguments(job, cmd.work_dir, task.output_name)) cmd.argv.push_back(std::move(a));
    return cmd;
  }

  // Container: ALRB starts the container with the work dir mounted as /srv and runs
  // release_setup.sh then merge_transform.sh inside it. Site settings are shell code by definition;
  // every word that comes from the job is quoted.
  std::string transform = "#!/bin/bash\n" + with_separator(settings.containerextrasetup) +
                          shell_quote(job.merge_trans_path);
  for (auto& a : transform_arguments(job, "/srv", "/srv/" + task.output_name)) transform += " " + shell_quote(a);
  transform += "\n";

  std::string cmt_config = json::get_string(job.raw, "cmtConfig").value_or("");
  if (cmt_config.empty()) cmt_config = job.platform;
  // '$MAKEFLAGS' stays literal for asetup, as upstream writes it.
  std::string release_setup = "#!/bin/bash\nasetup " + shell_quote("Athena," + job.release + ",notest") +
                              " --platform " + shell_quote(cmt_config) + " --makeflags='$MAKEFLAGS'\n";
  cmd.files.emplace_back("merge_transform.sh", std::move(transform));
  cmd.files.emplace_back("release_setup.sh", std::move(release_setup));

  std::string host = "export ATLAS_LOCAL_ROOT_BASE=" + shell_quote(settings.alrb_root) + ";" +
                     "export thePlatform=" + shell_quote(job.platform) + ";" +
                     with_separator(settings.containerextraargs) +
                     "source \"${ATLAS_LOCAL_ROOT_BASE}/user/atlasLocalSetup.sh\" --swtype " +
                     shell_quote(settings.containerengine) +
                     " -c \"$thePlatform\" -s /srv/release_setup.sh -r /srv/merge_transform.sh -e " +
                     shell_quote(settings.container_options);
  cmd.argv = {"/bin/bash", "-c", std::move(host)};
  return cmd;
}

std::optional<std::string> validate_merge_parameters(const rty::job_spec& job) {
  if (job.merge_trans_path.empty()) return "esmergeSpec.transPath is empty";
  if (auto words = split_shell_words(job.merge_job_parameters); !words)
    return "esmergeSpec.jobParameters: " + words.error().message();
  if (job.merge_job_parameters.find(input_placeholder) == std::string::npos)
    return "esmergeSpec.jobParameters has no '" + std::string(input_placeholder) +
           "', so the merge would get no inputs: '" + job.merge_job_parameters + "'";
  std::string rest = job.merge_job_parameters;
  replace_all(rest, input_placeholder, "");
  if (rest.find(output_placeholder) == std::string::npos)
    return "esmergeSpec.jobParameters has no '" + std::string(output_placeholder) +
           "' for the output file: '" + job.merge_job_parameters + "'";
  for (auto& name : job.output_files) {
    if (name.empty() || name == "." || name == ".." ||
        name.find_first_of("/ \t\r\n") != std::string::npos)
      return "outFiles entry '" + name + "' is not usable as a file name";
  }
  return std::nullopt;
}

rty::result<void> prepare_work_dir(const merge_command& command) {
  std::error_code ec;
  auto fail = [](const std::string& step, const std::string& path, std::error_code e) {
    return rty::fail(e, step + " '" + path + "': " + e.message());
  };
  for (auto& dir : {fs::path(command.output_path).parent_path(), fs::path(command.kept_report_path).parent_path()}) {
    fs::create_directories(dir, ec);
    if (ec) return fail("cannot create directory", dir.string(), ec);
  }
  fs::remove_all(command.work_dir, ec);
  if (ec) return fail("cannot remove leftover", command.work_dir, ec);
  fs::create_directories(command.work_dir, ec);
  if (ec) return fail("cannot create directory", command.work_dir, ec);
  for (auto& [name, content] : command.files) {
    std::string path = file::join(command.work_dir, name);
    if (auto r = file::write_atomic(path, content, false); !r) return r;
    if (name.ends_with(".sh") && ::chmod(path.c_str(), 0755) != 0) return fail("cannot chmod", path, errno_code());
  }
  return {};
}

rty::result<void> publish_output(const merge_command& command) {
  if (::rename(command.work_output_path.c_str(), command.output_path.c_str()) != 0) {
    auto ec = errno_code();
    return rty::fail(ec, ec == std::errc::no_such_file_or_directory
                             ? "the transform exited 0 but wrote no " + command.work_output_path
                             : "cannot rename '" + command.work_output_path + "' to '" + command.output_path +
                                   "': " + ec.message());
  }
  file::sync_directory(file::dir_of(command.output_path));
  return {};
}

rty::result<void> keep_report(const merge_command& command) {
  auto content = file::read_all(command.report_path);
  if (!content) return content.error();
  return file::write_atomic(command.kept_report_path, *content);
}

process::spawn_options merge_spawn_options(const std::vector<std::string>& argv, const std::string& work_dir,
                                           const std::string& log_path) {
  process::spawn_options o;
  o.argv = argv;
  o.cwd = work_dir;
  o.stdout_path = log_path;
  o.stderr_path = "=stdout";
  o.new_process_group = true;
  o.parent_death_signal = SIGKILL;
  return o;
}

bool strictly_inside(const std::string& dir, const std::string& path) {
  if (dir.empty() || path.empty()) return false;
  fs::path base = fs::path(dir).lexically_normal();
  fs::path p = fs::path(path).lexically_normal();
  if (p.is_relative() != base.is_relative()) return false;
  fs::path rel = p.lexically_relative(base);
  return !(rel.empty() || rel == "." || rel.begin()->string() == "..");
}

std::error_code remove_work_dir(const merge_command& command) {
  if (command.task_dir.empty() || command.work_dir.empty() ||
      !strictly_inside((fs::path(command.task_dir) / "merge-tmp").string(), command.work_dir))
    return std::make_error_code(std::errc::operation_not_permitted);
  fs::path dir = fs::path(command.work_dir).lexically_normal();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return ec;
}

std::string log_tail(const std::string& path, std::size_t max_lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ": " + errno_code().message();
  constexpr std::streamoff window = 64 * 1024;
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  std::streamoff start = size > window ? size - window : 0;
  in.seekg(start);
  std::string data(static_cast<std::size_t>(size - start), '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (start > 0) {  // drop the partial first line of the window
    auto nl = data.find('\n');
    data.erase(0, nl == std::string::npos ? data.size() : nl + 1);
  }
  if (!data.empty() && data.back() == '\n') data.pop_back();
  if (max_lines == 0) return "";
  std::size_t pos = data.size();
  std::size_t lines = 0;
  while (pos > 0) {
    auto nl = data.rfind('\n', pos - 1);
    if (nl == std::string::npos) {
      pos = 0;
      break;
    }
    if (++lines == max_lines) {
      pos = nl + 1;
      break;
    }
    pos = nl;
  }
  return data.substr(pos);
}

}  // namespace rty::merge
