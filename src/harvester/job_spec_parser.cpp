#include "harvester/job_spec_parser.hpp"

#include "common/json_util.hpp"

#include "common/error.hpp"
#include "common/safe_name.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

namespace rty::harvester {
namespace {

using rty::fail;

std::vector<std::string> split_commas(std::string_view s) {
  std::vector<std::string> out;
  if (s.empty()) return out;
  std::size_t start = 0;
  while (true) {
    auto c = s.find(',', start);
    std::string item(s.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start));
    // trim
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    out.push_back(b == std::string::npos ? std::string{} : item.substr(b, e - b + 1));
    if (c == std::string_view::npos) break;
    start = c + 1;
  }
  return out;
}

struct field_reader {
  const boost::json::object& o;
  std::string prefix;  // "<origin>: job <PandaID>: "
  std::string error;

  std::optional<std::string> str(std::string_view key, bool required = true) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) {
      if (required) fail(std::string("required field '") + std::string(key) + "' is missing");
      return std::nullopt;
    }
    if (auto v = rty::json::get_string(o, key)) return v;
    fail(std::string("field '") + std::string(key) + "' must be a string or an integer, found " +
         boost::json::serialize(it->value()));
    return std::nullopt;
  }
  std::optional<std::int64_t> integer(std::string_view key, bool required = true) {
    auto it = o.find(key);
    if (it == o.end() || it->value().is_null()) {
      if (required) fail(std::string("required field '") + std::string(key) + "' is missing");
      return std::nullopt;
    }
    if (auto v = rty::json::get_int(o, key)) return v;
    fail(std::string("field '") + std::string(key) + "' must be an integer or a numeric string, found " +
         boost::json::serialize(it->value()));
    return std::nullopt;
  }
  void fail(std::string message) {
    if (error.empty()) error = prefix + message;
  }
};

}  // namespace

std::string release_from_sw_release(std::string_view sw_release) {
  std::string_view rest = sw_release;
  while (true) {
    auto dash = rest.find('-');
    if (dash == std::string_view::npos || dash == 0) break;
    bool letters = true;
    for (char c : rest.substr(0, dash)) letters = letters && std::isalpha(static_cast<unsigned char>(c));
    if (!letters) break;
    rest.remove_prefix(dash + 1);
  }
  return std::string(rest);
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// unquote_plus, strict: Harvester's urlencode never writes a bare '%'.
std::optional<std::string> unquote_plus(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int hi = i + 1 < s.size() ? hex_digit(s[i + 1]) : -1;
      int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Python's repr() of a dict or list (what str() wrote for esmergeSpec): {'k': 'v', 'n': 4, 'x': None,
// 'b': True, 'l': [1.5, "it's"]}. Only what repr of JSON-born values produces; anything else → nullopt.
class py_literal {
 public:
  explicit py_literal(std::string_view s) : s_(s) {}
  std::optional<boost::json::value> parse_all() {
    auto v = value(0);
    skip();
    if (!v || i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void skip() {
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  bool eat(char c) {
    skip();
    if (i_ < s_.size() && s_[i_] == c) return ++i_, true;
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  std::optional<boost::json::value> value(int depth) {
    if (depth > 32) return std::nullopt;
    skip();
    if (i_ >= s_.size()) return std::nullopt;
    char c = s_[i_];
    if (c == '{') {
      ++i_;
      boost::json::object o;
      if (eat('}')) return boost::json::value(std::move(o));
      do {
        skip();
        auto k = string();
        if (!k || !eat(':')) return std::nullopt;
        auto v = value(depth + 1);
        if (!v) return std::nullopt;
        o[*k] = std::move(*v);
      } while (eat(','));
      if (!eat('}')) return std::nullopt;
      return boost::json::value(std::move(o));
    }
    if (c == '[') {
      ++i_;
      boost::json::array a;
      if (eat(']')) return boost::json::value(std::move(a));
      do {
        auto v = value(depth + 1);
        if (!v) return std::nullopt;
        a.push_back(std::move(*v));
      } while (eat(','));
      if (!eat(']')) return std::nullopt;
      return boost::json::value(std::move(a));
    }
    if (c == '\'' || c == '"') {
      auto str = string();
      if (!str) return std::nullopt;
      return boost::json::value(*str);
    }
    if (word("None")) return boost::json::value(nullptr);
    if (word("True")) return boost::json::value(true);
    if (word("False")) return boost::json::value(false);
    std::size_t start = i_;
    while (i_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[i_])) || std::string_view("+-.eE").find(s_[i_]) != std::string_view::npos)) ++i_;
    if (start == i_) return std::nullopt;
    auto num = rty::json::parse(s_.substr(start, i_ - start), "number");
    if (!num || !num->is_number()) return std::nullopt;
    return std::move(*num);
  }
  std::optional<std::string> string() {
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return std::nullopt;
    char quote = s_[i_++];
    std::string out;
    while (i_ < s_.size() && s_[i_] != quote) {
      char c = s_[i_++];
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return std::nullopt;
      char e = s_[i_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': case '\'': case '"': out.push_back(e); break;
        case 'x': {
          if (i_ + 2 > s_.size() || hex_digit(s_[i_]) < 0 || hex_digit(s_[i_ + 1]) < 0) return std::nullopt;
          out.push_back(static_cast<char>(hex_digit(s_[i_]) * 16 + hex_digit(s_[i_ + 1])));
          i_ += 2;
          break;
        }
        default: return std::nullopt;  // \u and friends: not produced for the fields we read
      }
    }
    if (i_ >= s_.size()) return std::nullopt;
    ++i_;
    return out;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace

rty::result<boost::json::value> cgi_job_spec_to_json(std::string_view text,
                                                                            std::string_view origin) {
  const std::string o(origin);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.empty()) return fail(o + ": cgi job spec is empty");
  boost::json::object params;
  std::size_t start = 0, index = 0;
  while (start <= text.size()) {
    auto amp = text.find('&', start);
    if (amp == std::string_view::npos) amp = text.size();
    std::string_view pair = text.substr(start, amp - start);
    ++index;
    start = amp + 1;
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto shown = [&] { return std::string(pair.substr(0, 80)) + (pair.size() > 80 ? "..." : ""); };
    if (eq == std::string_view::npos)
      return fail(o + ": cgi job spec: pair " + std::to_string(index) + " '" + shown() + "' has no '='");
    auto key = unquote_plus(pair.substr(0, eq));
    auto value = unquote_plus(pair.substr(eq + 1));
    if (!key || !value)
      return fail(o + ": cgi job spec: pair " + std::to_string(index) + " '" + shown() + "' has a bad %-escape");
    if (params.contains(*key)) return fail(o + ": cgi job spec: key '" + *key + "' is given twice");
    if (*value == "None") {
      params[*key] = nullptr;
    } else if (!value->empty() && (value->front() == '{' || value->front() == '[')) {
      // A dict or list value (esmergeSpec) was written as its Python repr; kept as text if it is not one.
      if (auto literal = py_literal(*value).parse_all())
        params[*key] = std::move(*literal);
      else
        params[*key] = *value;
    } else {
      params[*key] = *value;
    }
  }
  auto id = params.find("PandaID");
  if (id == params.end() || !id->value().is_string() || id->value().as_string().empty())
    return fail(o + ": cgi job spec has no PandaID");
  boost::json::object wrapped;
  wrapped[std::string(id->value().as_string())] = std::move(params);
  return boost::json::value(std::move(wrapped));
}

rty::result<rty::job_spec> parse_job_spec_cgi_text(std::string_view text,
                                                                          std::string_view origin) {
  auto v = cgi_job_spec_to_json(text, origin);
  if (!v) return v.error();
  return parse_job_spec(*v, origin);
}

rty::result<rty::job_spec> parse_job_spec_text(std::string_view text, std::string_view origin) {
  auto v = rty::json::parse(text, origin);
  if (!v) return v.error();
  return parse_job_spec(*v, origin);
}

namespace {
using job_result = rty::result<void>;

// esmergeSpec: an object, or the same object serialised as a string (both occur).
job_result read_merge_spec(rty::job_spec& job, const field_reader& r, const std::string& where) {
  const auto& j = job.raw;
  auto ms = j.find("esmergeSpec");
  if (ms == j.end() || ms->value().is_null()) return fail(r.prefix + "required field 'esmergeSpec' is missing");
  boost::json::value merge_value = ms->value();
  if (merge_value.is_string()) {
    auto parsed = rty::json::parse(merge_value.get_string(), where + ": esmergeSpec");
    if (!parsed) return parsed.error();
    merge_value = std::move(*parsed);
  }
  if (!merge_value.is_object()) return fail(r.prefix + "esmergeSpec must be an object");
  field_reader m{merge_value.as_object(), r.prefix + "esmergeSpec: ", {}};
  if (auto v = m.str("transPath")) job.merge_trans_path = *v;
  if (auto v = m.str("jobParameters")) job.merge_job_parameters = *v;
  if (auto v = m.integer("nEventsPerOutputFile")) job.events_per_output = *v;
  if (!m.error.empty()) return fail(m.error);
  return {};
}

// inFiles, GUID and outFiles: as many GUIDs as inputs, every name safe to become a path.
job_result read_file_lists(rty::job_spec& job, const std::string& prefix, const std::string& in_files,
                           const std::string& guids, const std::string& out_files) {
  job.in_files = split_commas(in_files);
  job.guids = split_commas(guids);
  if (job.in_files.empty() || std::any_of(job.in_files.begin(), job.in_files.end(), [](auto& s) { return s.empty(); }))
    return fail(prefix + "inFiles '" + rty::names::escaped(in_files) + "' must be a comma list of input LFNs");
  if (job.guids.size() != job.in_files.size())
    return fail(prefix + "GUID has " + std::to_string(job.guids.size()) + " entries but inFiles has " +
           std::to_string(job.in_files.size()));
  // Every name that becomes a path is checked before anything is joined to a directory (issue 13):
  // input LFNs (node directories, merge inputs), GUIDs, and every outFiles entry (HITS ones are the
  // merged outputs in final/). An empty outFiles entry (a trailing comma) names nothing and is skipped.
  for (std::size_t i = 0; i < job.in_files.size(); ++i)
    if (auto bad = rty::names::check("inFiles entry", job.in_files[i])) return fail(prefix + *bad);
  for (auto& g : job.guids)
    if (auto bad = rty::names::check("GUID entry", g)) return fail(prefix + *bad);
  for (auto& name : split_commas(out_files)) {
    if (name.empty()) continue;
    if (auto bad = rty::names::check("outFiles entry", name)) return fail(prefix + *bad);
    if (name.rfind("HITS", 0) == 0) job.output_files.push_back(name);
  }
  return {};
}

// The event counts: positive, dividing one another, and enough HITS outputs for the inputs.
job_result check_event_counts(const rty::job_spec& job, const std::string& prefix) {
  const auto e = job.events_per_input, h = job.events_per_output;
  if (e <= 0) return fail(prefix + "nEventsPerInputFile must be positive, found " + std::to_string(e));
  if (h <= 0) return fail(prefix + "esmergeSpec.nEventsPerOutputFile must be positive, found " + std::to_string(h));
  if (e % h != 0 && h % e != 0)
    return fail(prefix + "nEventsPerInputFile " + std::to_string(e) + " and nEventsPerOutputFile " + std::to_string(h) +
           " must divide one another");
  const auto n_in = static_cast<std::int64_t>(job.in_files.size());
  std::int64_t needed = 0;
  if (h >= e) {  // N→1: k = H/E inputs per output
    const auto k = h / e;
    needed = (n_in + k - 1) / k;
  } else {  // 1→N: k = E/H outputs per input
    needed = n_in * (e / h);
  }
  if (static_cast<std::int64_t>(job.output_files.size()) < needed)
    return fail(prefix + "outFiles has " + std::to_string(job.output_files.size()) + " HITS outputs but " +
           std::to_string(n_in) + " inputs with " + std::to_string(e) + " events each and " + std::to_string(h) +
           " events per output need " + std::to_string(needed));
  return {};
}

// The release from swRelease; the platform from container_name, else cmtConfig, else the default.
void set_release_and_platform(rty::job_spec& job, field_reader& r) {
  job.release = release_from_sw_release(job.sw_release);
  auto container = r.str("container_name", false).value_or("");
  auto cmt = r.str("cmtConfig", false).value_or("");
  if (!container.empty()) {
    job.platform = container;
  } else if (!cmt.empty()) {
    job.platform = cmt;
  } else {
    job.platform = std::string(default_platform);
    job.raw["cmtConfig"] = job.platform;
  }
}

void patch_event_service(rty::job_spec& job) {
  // The event-service patch (docs/architecture.md); idempotent so a resumed .read spec is not
  // prefixed twice.
  job.raw["eventService"] = "true";
  constexpr std::string_view es_flag = "--eventService=True";
  if (job.job_pars.rfind(es_flag, 0) != 0) job.job_pars = std::string(es_flag) + " " + job.job_pars;
  job.raw["jobPars"] = job.job_pars;
}

}  // namespace

rty::result<rty::job_spec> parse_job_spec(const boost::json::value& content,
                                                                 std::string_view origin) {
  const std::string o(origin);
  if (!content.is_object()) return fail(o + ": job spec must be a JSON object {PandaID: job}, found " + std::string(boost::json::to_string(content.kind())));
  const auto& map = content.as_object();
  if (map.size() != 1)
    return fail(o + ": job spec must hold exactly one job, found " + std::to_string(map.size()) +
           (map.empty() ? "" : " (raythenad handles one job per run)"));
  const auto& [key, job_value] = *map.begin();
  if (!job_value.is_object()) return fail(o + ": job " + std::string(key) + " is not a JSON object");
  rty::job_spec job;
  job.raw = job_value.as_object();
  const auto& j = job.raw;
  field_reader r{j, o + ": job " + std::string(key) + ": ", {}};

  if (auto id = r.integer("PandaID")) {
    job.panda_id = std::to_string(*id);
    if (job.panda_id != key) r.fail("key '" + std::string(key) + "' differs from PandaID " + job.panda_id);
  }
  if (auto v = r.integer("taskID")) job.task_id = std::to_string(*v);
  if (auto v = r.integer("jobsetID")) job.jobset_id = std::to_string(*v);
  if (auto v = r.integer("attemptNr")) job.attempt_nr = static_cast<int>(*v);
  auto in_files = r.str("inFiles");
  auto guids = r.str("GUID");
  job.scope_in = r.str("scopeIn", false).value_or("");
  if (auto v = r.integer("nEventsPerInputFile")) job.events_per_input = *v;
  auto out_files = r.str("outFiles");
  if (auto v = r.str("jobPars")) job.job_pars = *v;
  if (auto v = r.str("swRelease")) job.sw_release = *v;
  job.prod_source_label = r.str("prodSourceLabel", false).value_or("");
  job.core_count = static_cast<int>(r.integer("coreCount", false).value_or(1));
  if (!r.error.empty()) return fail(r.error);

  if (auto m = read_merge_spec(job, r, o + ": job " + std::string(key)); !m) return m.error();
  if (auto f = read_file_lists(job, r.prefix, *in_files, *guids, *out_files); !f) return f.error();
  if (auto c = check_event_counts(job, r.prefix); !c) return c.error();
  set_release_and_platform(job, r);
  patch_event_service(job);
  return job;
}

}  // namespace rty::harvester
