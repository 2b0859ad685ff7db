#include "merge/merge_report.hpp"

#include <boost/json.hpp>

#include "common/json_util.hpp"

namespace rty::merge {
namespace bj = boost::json;

namespace {
// files.output[0].subFiles[0], or an error naming the first key that is missing.
rty::result<const bj::object*> first_output_subfile(const bj::object& report, const std::string& origin) {
  auto fail = [&](const std::string& key, const char* expected) { return rty::fail(origin + ": " + key + " " + expected); };
  auto files = report.if_contains("files");
  if (!files || !files->is_object()) return fail("files", "missing or not an object");
  auto output = files->as_object().if_contains("output");
  if (!output || !output->is_array() || output->as_array().empty())
    return fail("files.output", "missing or not a non-empty array");
  auto& out0 = output->as_array()[0];
  if (!out0.is_object()) return fail("files.output[0]", "not an object");
  auto sub = out0.as_object().if_contains("subFiles");
  if (!sub || !sub->is_array() || sub->as_array().empty())
    return fail("files.output[0].subFiles", "missing or not a non-empty array");
  auto& sub0 = sub->as_array()[0];
  if (!sub0.is_object()) return fail("files.output[0].subFiles[0]", "not an object");
  return &sub0.as_object();
}

std::string base_name(const std::string& name) {
  auto slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

void rename_entry(bj::object& subfile, const std::map<std::string, std::string>& renamed) {
  auto name = subfile.if_contains("name");
  if (!name || !name->is_string()) return;
  std::string current(name->as_string());
  auto it = renamed.find(current);
  if (it == renamed.end()) it = renamed.find(base_name(current));
  if (it != renamed.end()) subfile["name"] = it->second;
}

bj::array* array_at(bj::object& o, std::string_view key) {
  auto v = o.if_contains(key);
  return v && v->is_array() ? &v->as_array() : nullptr;
}
}  // namespace

rty::result<bj::object> read_report(const std::string& path) {
  auto value = rty::json::read_file(path);
  if (!value) return value.error();
  if (!value->is_object()) return rty::fail(path + ": top level is not a JSON object");
  auto sub = first_output_subfile(value->as_object(), path);
  if (!sub) return sub.error();
  auto name = (*sub)->if_contains("name");
  if (!name || !name->is_string())
    return rty::fail(path + ": files.output[0].subFiles[0].name missing or not a string");
  return std::move(value->as_object());
}

rty::result<std::string> merge_guid(const bj::object& report, const std::string& origin) {
  auto sub = first_output_subfile(report, origin);
  if (!sub) return sub.error();
  auto guid = (*sub)->if_contains("file_guid");
  if (!guid || !guid->is_string() || guid->as_string().empty())
    return rty::fail(origin + ": files.output[0].subFiles[0].file_guid missing or not a non-empty string");
  return {boost::system::in_place_value, std::string(guid->as_string())};
}

rty::result<std::string> read_merge_guid(const std::string& report_path) {
  auto report = read_report(report_path);
  if (!report) return report.error();
  return merge_guid(*report, report_path);
}

bj::object build_final_report(const std::vector<bj::object>& reports,
                              const std::map<std::string, std::string>& renamed,
                              const std::vector<std::string>& failed_inputs) {
  bj::object final_report = reports.empty() ? bj::object{} : reports.front();
  // Normalise the skeleton so that appending below never has to guess.
  auto files_v = final_report.if_contains("files");
  if (!files_v || !files_v->is_object()) final_report["files"] = bj::object{};
  bj::object& files = final_report["files"].as_object();
  // Insertions may move an object's values, so all keys are created before references are taken.
  if (!array_at(files, "input")) files["input"] = bj::array{};
  bj::array* outputs = array_at(files, "output");
  if (!outputs || outputs->empty() || !(*outputs)[0].is_object())
    files["output"] = bj::array{bj::object{{"subFiles", bj::array{}}}};
  bj::object& out0 = files["output"].as_array()[0].as_object();
  if (!array_at(out0, "subFiles")) out0["subFiles"] = bj::array{};
  bj::array& inputs = files["input"].as_array();
  bj::array& subfiles = out0["subFiles"].as_array();
  for (auto& sf : subfiles)
    if (sf.is_object()) rename_entry(sf.as_object(), renamed);

  for (std::size_t i = 1; i < reports.size(); ++i) {
    const bj::object& report = reports[i];
    auto rf = report.if_contains("files");
    if (!rf || !rf->is_object()) continue;
    if (auto in = rf->as_object().if_contains("input"); in && in->is_array() && !in->as_array().empty())
      inputs.push_back(in->as_array()[0]);
    auto sub = first_output_subfile(report, "");
    if (!sub) continue;
    bj::object entry = **sub;
    rename_entry(entry, renamed);
    subfiles.push_back(std::move(entry));
  }

  if (failed_inputs.empty()) {
    final_report["exitCode"] = 0;
  } else {
    std::string msg = std::to_string(failed_inputs.size()) + " input file(s) not fully merged:";
    bj::array list;
    for (auto& f : failed_inputs) {
      msg += " " + f;
      list.emplace_back(f);
    }
    final_report["exitCode"] = final_report_incomplete_exit_code;
    final_report["exitMsg"] = msg;
    final_report["failedInputs"] = std::move(list);
  }
  return final_report;
}

}  // namespace rty::merge
