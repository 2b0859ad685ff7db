#include "bookkeeping/bookkeeper.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <stdexcept>
#include <unordered_set>

#include "common/file_util.hpp"
#include "common/log.hpp"

namespace rty::bookkeeping {

namespace {
constexpr std::int64_t max_events = std::int64_t(1) << 31;
}

std::optional<std::string> bookkeeper::check_job(const rty::job_spec& job) {
  const std::int64_t e = job.events_per_input, h = job.events_per_output;
  if (e <= 0 || e >= max_events)
    return "job " + job.panda_id + ": nEventsPerInputFile must be a positive number, got " + std::to_string(e);
  if (h <= 0 || h >= max_events)
    return "job " + job.panda_id + ": esmergeSpec.nEventsPerOutputFile must be a positive number, got " +
           std::to_string(h);
  if (e % h != 0 && h % e != 0)
    return "job " + job.panda_id + ": nEventsPerInputFile (" + std::to_string(e) +
           ") and nEventsPerOutputFile (" + std::to_string(h) + ") must divide one another";
  if (job.guids.size() != job.in_files.size())
    return "job " + job.panda_id + ": GUID lists " + std::to_string(job.guids.size()) + " entries for " +
           std::to_string(job.in_files.size()) + " inFiles";
  std::unordered_set<std::string_view> seen;
  for (const auto& f : job.in_files) {
    if (f.empty()) return "job " + job.panda_id + ": empty name in inFiles";
    if (!seen.insert(f).second) return "job " + job.panda_id + ": input file " + f + " is listed twice in inFiles";
  }
  seen.clear();
  for (const auto& f : job.output_files)
    if (!seen.insert(f).second) return "job " + job.panda_id + ": output file " + f + " is listed twice in outFiles";
  const std::size_t inputs = job.in_files.size(), outputs = job.output_files.size();
  const bool n_to_one = h >= e;
  const std::size_t k = n_to_one ? std::size_t(h / e) : std::size_t(e / h);
  const std::size_t expected = n_to_one ? inputs / k : inputs * k;
  if ((n_to_one && inputs % k != 0) || outputs != expected)
    return "job " + job.panda_id + ": " + std::to_string(inputs) + " input files with " + std::to_string(e) +
           " events each and " + std::to_string(h) + " events per output need " +
           (n_to_one && inputs % k != 0 ? std::string("a multiple of ") + std::to_string(k) + " inputs"
                                        : std::to_string(expected) + " HITS outFiles") +
           ", got " + std::to_string(outputs) + " outputs";
  return std::nullopt;
}

bookkeeper::bookkeeper(const rty::job_spec& job, options opts) : job_(job), opts_(std::move(opts)) {
  if (auto problem = check_job(job)) throw std::invalid_argument(*problem);
  opts_.max_attempts = std::clamp(opts_.max_attempts, 1, 255);
  events_per_input_ = static_cast<std::uint32_t>(job.events_per_input);
  group_size_ = static_cast<std::uint32_t>(job.events_per_output);
  n_to_one_ = group_size_ >= events_per_input_;
  if (n_to_one_)
    inputs_per_output_ = group_size_ / events_per_input_;
  else
    outputs_per_input_ = events_per_input_ / group_size_;
  job_.raw = {};  // not needed here; the coordinator keeps the job
  files_.resize(job_.in_files.size());
  for (std::size_t i = 0; i < files_.size(); ++i) {
    files_[i].lfn = job_.in_files[i];
    files_[i].guid = job_.guids[i];
  }
  for (std::uint32_t i = 0; i < files_.size(); ++i) file_by_lfn_.emplace(files_[i].lfn, i);
  files_by_lfn_.resize(files_.size());
  for (std::uint32_t i = 0; i < files_.size(); ++i) files_by_lfn_[i] = i;
  std::sort(files_by_lfn_.begin(), files_by_lfn_.end(),
            [&](std::uint32_t a, std::uint32_t b) { return files_[a].lfn < files_[b].lfn; });
  for (std::uint32_t i = 0; i < job_.output_files.size(); ++i) output_by_name_.emplace(job_.output_files[i], i);
  reset();
}

void bookkeeper::reset() {
  for (std::uint32_t f = 0; f < files_.size(); ++f) {
    auto& fs = files_[f];
    fs.state.assign(events_per_input_, ready);
    fs.attempts.assign(events_per_input_, 0);
    fs.owner.assign(events_per_input_, no_node);
    if (opts_.external_ranges)
      fs.supplied.assign(events_per_input_, 0);
    else
      fs.supplied.clear();
    fs.ready = events_per_input_;
    fs.first_ready = 0;
    fs.open_outputs = outputs_per_input_;
  }
  outputs_.clear();
  outputs_.resize(job_.output_files.size());
  merged_meta_.clear();
  leases_.clear();
  merge_queue_.clear();
  first_ready_file_ = 0;
  counts_ = {};
  counts_.total = std::uint64_t(files_.size()) * events_per_input_;
  counts_.ready = counts_.total;
  unsupplied_ready_ = opts_.external_ranges ? counts_.total : 0;
  source_done_ = false;
  external_key_.clear();
  external_id_.clear();
}

// --- geometry ---

std::uint32_t bookkeeper::output_of(range_ref r) const {
  return n_to_one_ ? r.file / inputs_per_output_ : r.file * outputs_per_input_ + r.index / group_size_;
}

std::uint32_t bookkeeper::position_in_output(range_ref r) const {
  return n_to_one_ ? (r.file % inputs_per_output_) * events_per_input_ + r.index : r.index % group_size_;
}

template <class F>
void bookkeeper::for_each_range(std::uint32_t output, F&& fn) const {
  if (n_to_one_) {
    for (std::uint32_t j = 0; j < inputs_per_output_; ++j)
      for (std::uint32_t i = 0; i < events_per_input_; ++i)
        fn(range_ref{output * inputs_per_output_ + j, i}, j * events_per_input_ + i);
  } else {
    const std::uint32_t file = output / outputs_per_input_, base = (output % outputs_per_input_) * group_size_;
    for (std::uint32_t p = 0; p < group_size_; ++p) fn(range_ref{file, base + p}, p);
  }
}

std::vector<std::uint32_t> bookkeeper::files_of(std::uint32_t output) const {
  std::vector<std::uint32_t> out;
  if (n_to_one_)
    for (std::uint32_t j = 0; j < inputs_per_output_; ++j) out.push_back(output * inputs_per_output_ + j);
  else
    out.push_back(output / outputs_per_input_);
  return out;
}

std::vector<std::uint32_t> bookkeeper::outputs_of(std::uint32_t file) const {
  std::vector<std::uint32_t> out;
  if (n_to_one_)
    out.push_back(file / inputs_per_output_);
  else
    for (std::uint32_t j = 0; j < outputs_per_input_; ++j) out.push_back(file * outputs_per_input_ + j);
  return out;
}

std::optional<bookkeeper::range_ref> bookkeeper::parse_id(std::string_view id) const {
  if (!external_key_.empty()) {
    if (auto it = external_key_.find(std::string(id)); it != external_key_.end())
      return range_ref{static_cast<std::uint32_t>(it->second / events_per_input_),
                       static_cast<std::uint32_t>(it->second % events_per_input_)};
  }
  auto dash = id.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  auto it = file_by_lfn_.find(id.substr(0, dash));
  if (it == file_by_lfn_.end()) return std::nullopt;
  std::uint64_t n = 0;
  const char* first = id.data() + dash + 1;
  const char* last = id.data() + id.size();
  auto [p, ec] = std::from_chars(first, last, n);
  if (ec != std::errc() || p != last || first == last || n < 1 || n > events_per_input_) return std::nullopt;
  return range_ref{it->second, static_cast<std::uint32_t>(n - 1)};
}

std::string bookkeeper::make_id(range_ref r) const {
  std::string id;
  make_id(r, id);
  return id;
}

void bookkeeper::make_id(range_ref r, std::string& out) const {
  if (!external_id_.empty()) {
    if (auto it = external_id_.find(key(r)); it != external_id_.end()) {
      out.assign(it->second);
      return;
    }
  }
  const auto& lfn = files_[r.file].lfn;
  char digits[16];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, r.index + 1);
  (void)ec;
  out.reserve(lfn.size() + 1 + static_cast<std::size_t>(end - digits));
  out.assign(lfn).append(1, '-').append(digits, end);
}

std::string bookkeeper::path_of(std::uint32_t output, range_ref r, std::uint32_t pos) const {
  const auto& paths = outputs_[output].paths;
  if (!paths) return {};
  make_id(r, id_buf_);
  return paths->get(pos, id_buf_, path_dirs_);
}

int bookkeeper::output_by_name(const std::string& name) const {
  auto it = output_by_name_.find(name);
  return it == output_by_name_.end() ? -1 : static_cast<int>(it->second);
}

// --- leasing ---

void bookkeeper::scan(node_id node, std::size_t n, bool skip_own_failures, std::vector<rty::event_range>& out,
                      bool& skipped) {
  auto& held = leases_[node];
  for (std::uint32_t f = first_ready_file_; f < files_.size() && out.size() < n; ++f) {
    auto& fs = files_[f];
    if (fs.ready == 0) {
      if (f == first_ready_file_) ++first_ready_file_;
      continue;
    }
    while (fs.first_ready < events_per_input_ && fs.state[fs.first_ready] != ready) ++fs.first_ready;
    const std::uint32_t ready_in_file = fs.ready;
    std::uint32_t seen = 0;
    for (std::uint32_t i = fs.first_ready; i < events_per_input_ && seen < ready_in_file && out.size() < n; ++i) {
      if (fs.state[i] != ready) continue;
      ++seen;
      if (!fs.supplied.empty() && !fs.supplied[i]) continue;  // Harvester has not given us this one yet
      if (skip_own_failures && fs.attempts[i] > 0 && fs.owner[i] == node) {
        skipped = true;
        continue;
      }
      fs.state[i] = leased;
      fs.owner[i] = node;
      --fs.ready;
      --counts_.ready;
      ++counts_.leased;
      held.insert(key({f, i}));
      rty::event_range er;
      er.id = make_id({f, i});
      er.pfn = opts_.endpoint.empty() ? fs.lfn : opts_.endpoint + "/" + fs.lfn;
      er.guid = fs.guid;
      er.start_event = er.last_event = std::int64_t(i) + 1;
      out.push_back(std::move(er));
    }
  }
}

std::vector<rty::event_range> bookkeeper::lease(node_id node, std::size_t n) {
  std::vector<rty::event_range> out;
  if (n == 0 || leasable() == 0) return out;
  out.reserve(std::min<std::uint64_t>(n, leasable()));
  bool skipped = false;
  scan(node, n, true, out, skipped);
  // Ranges that failed on this node are its last resort, so a lone node still drains the task.
  if (out.size() < n && skipped) scan(node, n, false, out, skipped);
  if (auto it = leases_.find(node); it != leases_.end() && it->second.empty()) leases_.erase(it);
  return out;
}

std::size_t bookkeeper::leased_to(node_id node) const {
  auto it = leases_.find(node);
  return it == leases_.end() ? 0 : it->second.size();
}

void bookkeeper::drop_lease(range_ref r) {
  auto& fs = files_[r.file];
  if (auto it = leases_.find(fs.owner[r.index]); it != leases_.end()) {
    it->second.erase(key(r));
    if (it->second.empty()) leases_.erase(it);
  }
  --counts_.leased;
}

void bookkeeper::make_ready(range_ref r, node_id failed_on) {
  auto& fs = files_[r.file];
  fs.state[r.index] = ready;
  fs.owner[r.index] = failed_on;
  ++fs.ready;
  ++counts_.ready;
  fs.first_ready = std::min(fs.first_ready, r.index);
  first_ready_file_ = std::min(first_ready_file_, r.file);
}

std::size_t bookkeeper::release_node(node_id node) {
  auto it = leases_.find(node);
  if (it == leases_.end()) return 0;
  auto held = std::move(it->second);
  leases_.erase(it);
  for (std::uint64_t k : held) {
    range_ref r{static_cast<std::uint32_t>(k / events_per_input_), static_cast<std::uint32_t>(k % events_per_input_)};
    --counts_.leased;
    make_ready(r, no_node);
  }
  return held.size();
}

std::size_t bookkeeper::return_ranges(node_id node, const std::vector<std::string>& range_ids) {
  std::size_t returned = 0;
  for (auto& id : range_ids) {
    auto r = parse_id(id);
    if (!r) continue;
    auto& fs = files_[r->file];
    if (fs.state.empty() || fs.state[r->index] != leased || fs.owner[r->index] != node) continue;
    drop_lease(*r);
    make_ready(*r, no_node);
    ++returned;
  }
  return returned;
}

// --- updates ---

void bookkeeper::record_finish(range_ref r, std::string_view path) {
  auto& fs = files_[r.file];
  if (fs.state[r.index] == leased) {
    drop_lease(r);
  } else {  // ready: a finish from a node whose lease was released
    settle_unsupplied(r);
    --fs.ready;
    --counts_.ready;
  }
  fs.state[r.index] = finished;
  fs.owner[r.index] = no_node;
  ++counts_.finished;
  const std::uint32_t o = output_of(r);
  auto& slot = outputs_[o];
  if (!slot.paths) slot.paths = std::make_unique<group_paths>(group_size_);
  make_id(r, id_buf_);
  slot.paths->set(position_in_output(r), path, id_buf_, path_dirs_);
  ++slot.finished;
  maybe_queue_merge(o);
}

void bookkeeper::maybe_queue_merge(std::uint32_t o) {
  auto& slot = outputs_[o];
  if (slot.state != output_state::open || slot.finished != group_size_) return;
  slot.state = output_state::ready;
  merge_queue_.push_back(o);
  ++counts_.merges_pending;
}

void bookkeeper::fail_group(std::uint32_t o) {
  for_each_range(o, [&](range_ref r, std::uint32_t) {
    auto& fs = files_[r.file];
    switch (fs.state[r.index]) {
      case ready:
        settle_unsupplied(r);
        --fs.ready;
        --counts_.ready;
        break;
      case leased:
        drop_lease(r);
        break;
      case finished:
        --counts_.finished;
        break;
      default:
        break;
    }
    fs.state[r.index] = closed;
  });
  counts_.failed += group_size_;
  counts_.failed_events += group_size_;
  ++counts_.groups_failed;
  close_output(o, output_state::failed);
}

void bookkeeper::close_output(std::uint32_t o, output_state final_state) {
  outputs_[o].state = final_state;
  if (final_state == output_state::failed) outputs_[o].paths.reset();
  for (std::uint32_t f : files_of(o)) {
    auto& fs = files_[f];
    if (--fs.open_outputs != 0) continue;
    // Every output holding this file's events is closed: its per-range arrays are no longer needed.
    std::vector<std::uint8_t>().swap(fs.state);
    std::vector<std::uint8_t>().swap(fs.attempts);
    std::vector<node_id>().swap(fs.owner);
    std::vector<std::uint8_t>().swap(fs.supplied);
    fs.ready = 0;
    const auto outs = outputs_of(f);
    // Paths of merged outputs stay while the input is only partly merged (`merging` lists them).
    if (std::all_of(outs.begin(), outs.end(), [&](auto x) { return outputs_[x].state == output_state::merged; }))
      for (auto x : outs) outputs_[x].paths.reset();
  }
}

bool output_under_task_dir(std::string_view path, std::string_view task_dir) {
  while (task_dir.size() > 1 && task_dir.back() == '/') task_dir.remove_suffix(1);
  if (task_dir.empty() || path.size() <= task_dir.size() + 1 || path.substr(0, task_dir.size()) != task_dir ||
      path[task_dir.size()] != '/')
    return false;
  std::string_view rest = path.substr(task_dir.size() + 1);
  while (true) {
    const auto slash = rest.find('/');
    const auto part = rest.substr(0, slash);
    if (part.empty() || part == "." || part == "..") return false;
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

// A report from a node that does not hold the range: the rule in bookkeeper.hpp.
void bookkeeper::apply_unowned(node_id node, const rty::range_update& e, range_ref r, std::uint8_t st,
                               bool in_task_dir, update_outcome& res) {
  const auto status = e.status;
  const bool is_finish = status == rty::range_status::finished;
  ++res.not_owned;
  const std::string held = st == leased ? "leased to node " + std::to_string(files_[r.file].owner[r.index])
                                        : std::string(st == ready ? "not leased" : "already finished");
  if (!is_finish || e.path.empty()) {
    res.problems.push_back("range " + e.range_id + " reported " + std::string(to_string(status)) +
                           (is_finish ? " without output path" : "") + " by node " + std::to_string(node) +
                           " which does not hold it (" + held + "), ignored");
    return;
  }
  // The rule in bookkeeper.hpp: trusted only when no live node holds it and its file is there.
  const char* refused = st == leased        ? "another node holds it"
                        : !in_task_dir      ? "its output is not under the task directory"
                        : e.fsize < 0       ? "it reports no file size"
                        : !opts_.output_present || !opts_.output_present(e.path, e.fsize)
                                            ? "its output is not there with the reported size"
                                            : nullptr;
  if (refused) {
    res.problems.push_back("range " + e.range_id + " finished by node " + std::to_string(node) +
                           " which does not hold it (" + held + "), output " + e.path + ": not counted, " +
                           refused);
    return;
  }
  res.problems.push_back("range " + e.range_id + " finished by node " + std::to_string(node) +
                         " which does not hold it (" + held + "); its output " + e.path +
                         " is in the task directory with the reported size: recorded");
  record_finish(r, e.path);
  ++res.finished;
  ++res.trusted;
}

// A failed attempt by the lessee: retried, or its output fails after ray.maxrangeattempts.
void bookkeeper::apply_failed_attempt(node_id node, const rty::range_update& e, range_ref r, update_outcome& res) {
  const auto status = e.status;
  const std::uint32_t o = output_of(r);
  auto& fs = files_[r.file];
  ++res.failed;
  drop_lease(r);
  fs.attempts[r.index] = static_cast<std::uint8_t>(std::min(255, fs.attempts[r.index] + 1));
  if (fs.attempts[r.index] >= opts_.max_attempts) {
    fs.state[r.index] = closed;  // fail_group must not count it as leased again
    fs.owner[r.index] = no_node;
    // fail_group counts the group's ranges by state; this one is neither ready, leased nor finished.
    fail_group(o);
    res.problems.push_back("range " + e.range_id + " " + std::string(to_string(status)) + " " +
                           std::to_string(opts_.max_attempts) + " times (last on node " + std::to_string(node) +
                           ", error " + std::to_string(e.error_code) + "): output " + job_.output_files[o] +
                           " failed");
  } else {
    make_ready(r, node);
    ++res.retried;
  }
}

update_outcome bookkeeper::apply_update(node_id node, const std::vector<rty::range_update>& entries) {
  update_outcome res;
  for (const auto& e : entries) {
    const auto status = e.status;
    if (status == rty::range_status::running) {
      ++res.ignored;
      continue;
    }
    if (status != rty::range_status::finished && status != rty::range_status::failed &&
        status != rty::range_status::fatal) {
      ++res.unknown;
      res.problems.push_back("range " + e.range_id + " from node " + std::to_string(node) + ": unknown status " +
                             std::to_string(static_cast<int>(status)) + ", skipped");
      continue;
    }
    auto r = parse_id(e.range_id);
    if (!r) {
      ++res.unknown;
      res.problems.push_back("node " + std::to_string(node) + " reported unknown range id '" + e.range_id +
                             "' (" + std::string(to_string(status)) + "), skipped");
      continue;
    }
    const std::uint32_t o = output_of(*r);
    const auto ostate = outputs_[o].state;
    const bool is_finish = status == rty::range_status::finished;
    if (ostate == output_state::failed) {
      ++res.discarded;
      res.problems.push_back("range " + e.range_id + " from node " + std::to_string(node) + " (" +
                             std::string(to_string(status)) + ") belongs to failed output " +
                             job_.output_files[o] + ", ignored");
      continue;
    }
    auto& fs = files_[r->file];
    const std::uint8_t st = ostate == output_state::merged ? std::uint8_t(finished) : fs.state[r->index];
    const bool owned = st == leased && fs.owner[r->index] == node;
    if (is_finish && st == finished) {
      ++res.duplicates;
      res.problems.push_back("range " + e.range_id + " finished again by node " + std::to_string(node) +
                             ": first finish kept, output " + e.path + " will not be merged");
      continue;
    }
    const bool in_task_dir = is_finish && output_under_task_dir(e.path, opts_.task_dir);
    if (!owned) {
      apply_unowned(node, e, *r, st, in_task_dir, res);
      continue;
    }
    if (is_finish && !e.path.empty() && !in_task_dir)
      res.problems.push_back("range " + e.range_id + " reported finished by node " + std::to_string(node) +
                             " with output " + e.path + ", which is not under the task directory " +
                             opts_.task_dir + ": counted as a failed attempt");
    if (is_finish && in_task_dir) {
      record_finish(*r, e.path);
      ++res.finished;
      continue;
    }
    if (is_finish && e.path.empty())
      res.problems.push_back("range " + e.range_id + " reported finished by node " + std::to_string(node) +
                             " without output path: counted as a failed attempt");
    apply_failed_attempt(node, e, *r, res);
  }
  return res;
}

// --- merges ---

bool bookkeeper::exhausted() const { return counts_.ready == 0 && counts_.leased == 0; }

void bookkeeper::settle_unsupplied(range_ref r) {
  auto& fs = files_[r.file];
  if (fs.supplied.empty() || fs.supplied[r.index]) return;
  fs.supplied[r.index] = 1;
  --unsupplied_ready_;
}

void bookkeeper::recount_unsupplied() {
  unsupplied_ready_ = 0;
  if (!opts_.external_ranges) return;
  for (auto& fs : files_) {
    if (fs.supplied.empty()) continue;
    for (std::uint32_t i = 0; i < events_per_input_; ++i)
      if (fs.state[i] == ready && !fs.supplied[i]) ++unsupplied_ready_;
  }
}

std::size_t bookkeeper::supply(const std::vector<rty::event_range>& ranges, std::vector<std::string>* problems) {
  auto problem = [&](std::string text) {
    if (problems) problems->push_back(std::move(text));
  };
  if (!opts_.external_ranges) {
    problem("ranges supplied but this bookkeeper generates its own; ignored");
    return 0;
  }
  std::size_t added = 0;
  for (const auto& er : ranges) {
    std::string_view pfn = er.pfn;
    auto slash = pfn.rfind('/');
    std::string_view lfn = slash == std::string_view::npos ? pfn : pfn.substr(slash + 1);
    auto f = file_by_lfn_.find(lfn);
    if (f == file_by_lfn_.end()) {
      problem("range " + er.id + ": input file '" + std::string(lfn) + "' is not one of the job's; skipped");
      continue;
    }
    if (er.start_event != er.last_event || er.start_event < 1 || er.start_event > events_per_input_) {
      problem("range " + er.id + ": events " + std::to_string(er.start_event) + ".." + std::to_string(er.last_event) +
              " (only single events 1.." + std::to_string(events_per_input_) + " are supported); skipped");
      continue;
    }
    range_ref r{f->second, static_cast<std::uint32_t>(er.start_event - 1)};
    auto& fs = files_[r.file];
    if (fs.supplied.empty() || fs.state[r.index] != ready || fs.supplied[r.index]) {
      problem("range " + er.id + ": event " + std::to_string(er.start_event) + " of " + std::string(lfn) +
              " was already supplied or recorded; skipped");
      continue;
    }
    fs.supplied[r.index] = 1;
    --unsupplied_ready_;
    external_key_[er.id] = key(r);
    external_id_[key(r)] = er.id;
    fs.first_ready = std::min(fs.first_ready, r.index);
    first_ready_file_ = std::min(first_ready_file_, r.file);
    ++added;
  }
  return added;
}

std::size_t bookkeeper::source_exhausted() {
  source_done_ = true;
  if (unsupplied_ready_ == 0) return 0;
  std::size_t failed = 0;
  for (std::uint32_t o = 0; o < outputs_.size(); ++o) {
    if (outputs_[o].state != output_state::open) continue;
    bool missing = false;
    for_each_range(o, [&](range_ref r, std::uint32_t) {
      auto& fs = files_[r.file];
      if (!fs.supplied.empty() && fs.state[r.index] == ready && !fs.supplied[r.index]) missing = true;
    });
    if (missing) {
      fail_group(o);
      ++failed;
    }
  }
  return failed;
}

bool bookkeeper::complete() const { return exhausted() && counts_.merges_pending == 0; }

std::vector<rty::merge_task> bookkeeper::take_ready_merges() {
  std::vector<rty::merge_task> tasks;
  while (!merge_queue_.empty()) {
    const std::uint32_t o = merge_queue_.front();
    merge_queue_.pop_front();
    auto& slot = outputs_[o];
    if (slot.state != output_state::ready) continue;
    slot.state = output_state::running;
    rty::merge_task t;
    t.output_name = job_.output_files[o];
    for (auto f : files_of(o)) t.input_files.push_back(files_[f].lfn);
    t.inputs.resize(group_size_);
    for_each_range(o, [&](range_ref r, std::uint32_t pos) {
      auto id = make_id(r);
      auto path = slot.paths ? slot.paths->get(pos, id, path_dirs_) : std::string();
      t.inputs[pos] = rty::merge_input{std::move(id), std::move(path)};
    });
    tasks.push_back(std::move(t));
  }
  return tasks;
}

bool bookkeeper::merge_succeeded(const std::string& output_name, const std::string& final_path,
                                 const std::string& guid) {
  const int o = output_by_name(output_name);
  if (o < 0 || outputs_[o].state != output_state::running) return false;
  merged_meta_[o] = merged_meta{output_name, final_path, guid};
  --counts_.merges_pending;
  ++counts_.merges_done;
  counts_.merged_events += group_size_;
  close_output(o, output_state::merged);
  return true;
}

bool bookkeeper::merge_failed(const std::string& output_name) {
  const int o = output_by_name(output_name);
  if (o < 0 || outputs_[o].state != output_state::running) return false;
  for_each_range(o, [&](range_ref r, std::uint32_t) { files_[r.file].state[r.index] = closed; });
  --counts_.merges_pending;
  ++counts_.merges_failed;
  ++counts_.groups_failed;
  counts_.finished -= group_size_;
  counts_.failed += group_size_;
  counts_.failed_events += group_size_;
  close_output(o, output_state::failed);
  return true;
}

// --- introspection ---

std::optional<std::string> bookkeeper::state_of(std::string_view range_id) const {
  auto r = parse_id(range_id);
  if (!r) return std::nullopt;
  switch (outputs_[output_of(*r)].state) {
    case output_state::merged: return "merged";
    case output_state::failed: return "failed";
    default: break;
  }
  switch (files_[r->file].state[r->index]) {
    case ready: return "ready";
    case leased: return "leased";
    case finished: return "finished";
    default: return "failed";
  }
}

std::vector<output_info> bookkeeper::outputs() const {
  std::vector<output_info> out;
  out.reserve(outputs_.size());
  for (std::uint32_t o = 0; o < outputs_.size(); ++o) {
    output_info info;
    info.index = o;
    info.name = job_.output_files[o];
    info.recorded_name = info.name;
    info.state = outputs_[o].state;
    if (auto it = merged_meta_.find(o); it != merged_meta_.end()) {
      info.recorded_name = it->second.recorded_name;
      info.final_path = it->second.final_path;
      info.guid = it->second.guid;
    }
    for (auto f : files_of(o)) info.input_files.push_back(files_[f].lfn);
    out.push_back(std::move(info));
  }
  return out;
}

// --- checkpoint ---

checkpoint bookkeeper::snapshot() const {
  checkpoint cp;
  auto record = [&](range_ref r, std::string path) {
    range_record rec;
    rec.event_range_id = make_id(r);
    rec.start_event = rec.last_event = std::int64_t(r.index) + 1;
    rec.path = std::move(path);
    return rec;
  };
  auto meta_of = [&](std::uint32_t o) -> merged_meta {
    if (auto it = merged_meta_.find(o); it != merged_meta_.end()) return it->second;
    return {job_.output_files[o], "", ""};
  };
  for (std::uint32_t f = 0; f < files_.size(); ++f) {
    const auto& lfn = files_[f].lfn;
    const auto outs = outputs_of(f);
    if (std::all_of(outs.begin(), outs.end(), [&](auto x) { return outputs_[x].state == output_state::merged; })) {
      auto& entry = cp.merged[lfn];
      for (auto o : outs) {
        auto m = meta_of(o);
        entry[m.recorded_name] = merged_record{m.final_path, m.guid};
      }
      continue;
    }
    for (auto o : outs) {
      const auto& slot = outputs_[o];
      switch (slot.state) {
        case output_state::merged: {
          auto m = meta_of(o);
          auto& ranges = cp.merging[lfn][m.recorded_name];
          for_each_range(o, [&](range_ref r, std::uint32_t pos) {
            auto rec = record(r, path_of(o, r, pos));
            rec.output_guid = m.guid;
            ranges.emplace(rec.event_range_id, std::move(rec));
          });
          break;
        }
        case output_state::failed:
          for_each_range(o, [&](range_ref r, std::uint32_t) {
            if (r.file != f) return;
            auto rec = record(r, {});
            cp.failed[lfn].emplace(rec.event_range_id, std::move(rec));
          });
          break;
        default:
          if (slot.finished == 0) break;
          for_each_range(o, [&](range_ref r, std::uint32_t pos) {
            if (r.file != f || files_[f].state[r.index] != finished) return;
            auto rec = record(r, path_of(o, r, pos));
            cp.simulated[lfn].emplace(rec.event_range_id, std::move(rec));
          });
          break;
      }
    }
  }
  return cp;
}

bool bookkeeper::all_outputs_merged(std::uint32_t file) const {
  if (n_to_one_) return outputs_[file / inputs_per_output_].state == output_state::merged;
  for (std::uint32_t j = 0; j < outputs_per_input_; ++j)
    if (outputs_[file * outputs_per_input_ + j].state != output_state::merged) return false;
  return true;
}

template <class K, class F>
void bookkeeper::for_each_in_id_order(std::uint32_t file, std::uint32_t lo, std::uint32_t hi, K&& keep, F&& fn) const {
  if (lo >= hi) return;
  if (!external_id_.empty()) {  // Harvester's ids: any strings, sorted the slow way
    std::vector<std::pair<std::string, std::uint32_t>> ids;
    for (std::uint32_t i = lo; i < hi; ++i)
      if (keep(range_ref{file, i})) ids.emplace_back(make_id(range_ref{file, i}), i);
    std::sort(ids.begin(), ids.end());
    for (auto& [id, i] : ids) fn(range_ref{file, i}, std::string_view(id));
    return;
  }
  // Our ids are "<lfn>-<n>": their string order is the order of the numbers n as digit strings. The
  // numbers with d digits form one run in numeric order; merge the runs, comparing numbers padded to 10
  // digits (n < 2^31) and, when equal ("1" and "10"), putting the shorter first.
  struct run {
    std::uint64_t next, last, scaled, step;
    int digits;
  };
  run runs[10];
  int count = 0;
  std::uint64_t low = 1;
  for (int d = 1; d <= 10; ++d, low *= 10) {
    const std::uint64_t first = std::max<std::uint64_t>(low, std::uint64_t(lo) + 1);
    const std::uint64_t last = std::min<std::uint64_t>(low * 10 - 1, hi);
    if (first > last) continue;
    std::uint64_t step = 1;
    for (int k = d; k < 10; ++k) step *= 10;
    runs[count++] = run{first, last, first * step, step, d};
  }
  std::string& id = id_buf_;
  id.assign(files_[file].lfn).push_back('-');
  const std::size_t stem = id.size();
  while (count > 0) {
    int best = 0;
    for (int k = 1; k < count; ++k)
      if (runs[k].scaled < runs[best].scaled || (runs[k].scaled == runs[best].scaled && runs[k].digits < runs[best].digits))
        best = k;
    auto& b = runs[best];
    const auto n = static_cast<std::uint32_t>(b.next);
    if (b.next == b.last)
      b = runs[--count];
    else
      ++b.next, b.scaled += b.step;
    if (!keep(range_ref{file, n - 1})) continue;
    char digits[16];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
    (void)ec;
    id.resize(stem);
    id.append(digits, end);
    fn(range_ref{file, n - 1}, std::string_view(id));
  }
}

// --- write_snapshot: snapshot() + to_json(), merged into one pass per section; every branch mirrors
// one of snapshot()'s.

namespace {
bool is_open(output_state s) { return s == output_state::open || s == output_state::ready || s == output_state::running; }
}  // namespace

struct bookkeeper::path_scratch {
  std::string path;
  std::string_view view;
};

bookkeeper::merged_meta bookkeeper::meta_of(std::uint32_t o) const {
  if (auto it = merged_meta_.find(o); it != merged_meta_.end()) return it->second;
  return {job_.output_files[o], "", ""};
}

std::pair<std::uint32_t, std::uint32_t> bookkeeper::outputs_of_file(std::uint32_t f) const {
  return n_to_one_ ? std::pair<std::uint32_t, std::uint32_t>{f / inputs_per_output_, 1}
                   : std::pair<std::uint32_t, std::uint32_t>{f * outputs_per_input_, outputs_per_input_};
}

std::pair<std::uint32_t, std::uint32_t> bookkeeper::span_in_file(std::uint32_t o) const {
  return n_to_one_ ? std::pair<std::uint32_t, std::uint32_t>{0, events_per_input_}
                   : std::pair<std::uint32_t, std::uint32_t>{(o % outputs_per_input_) * group_size_,
                                                             (o % outputs_per_input_ + 1) * group_size_};
}

template <class P>
bool bookkeeper::any_output(std::uint32_t f, P pred) const {
  auto [first, n] = outputs_of_file(f);
  for (std::uint32_t o = first; o < first + n; ++o)
    if (pred(outputs_[o])) return true;
  return false;
}

const std::string_view* bookkeeper::range_path(range_ref r, std::string_view id, path_scratch& scratch) const {
  const std::uint32_t o = output_of(r);
  scratch.path.clear();
  if (outputs_[o].paths) outputs_[o].paths->append(scratch.path, position_in_output(r), id, path_dirs_);
  scratch.view = scratch.path;
  return &scratch.view;
}

template <class K, class E>
void bookkeeper::ranges_of_file(json_stream& out, std::uint32_t f, std::uint32_t lo, std::uint32_t hi, bool& keyed,
                                K keep, E emit) const {
  for_each_in_id_order(f, lo, hi, keep, [&](range_ref r, std::string_view id) {
    if (!keyed) {
      out.key(files_[f].lfn);
      out.begin_object();
      keyed = true;
    }
    emit(r, id);
  });
}

void bookkeeper::write_simulated(json_stream& out) const {
  path_scratch scratch;
  out.key("simulated");
  out.begin_object();
  for (std::uint32_t f : files_by_lfn_) {
    if (all_outputs_merged(f) ||
        !any_output(f, [&](const auto& slot) { return is_open(slot.state) && slot.finished > 0; }))
      continue;
    bool keyed = false;
    ranges_of_file(
        out, f, 0, events_per_input_, keyed,
        [&](range_ref r) {
          const auto& slot = outputs_[output_of(r)];
          return is_open(slot.state) && slot.finished > 0 && files_[f].state[r.index] == finished;
        },
        [&](range_ref r, std::string_view id) {
          out.range(id, std::int64_t(r.index) + 1, std::int64_t(r.index) + 1, range_path(r, id, scratch), {});
        });
    if (keyed) out.end_object();
  }
  out.end_object();
}

// One recorded name of file f's merged outputs: names[i, j) share it.
void bookkeeper::write_merging_name(json_stream& out, std::uint32_t f,
                                    const std::vector<std::pair<std::string, std::uint32_t>>& names, std::size_t i,
                                    std::size_t j) const {
  path_scratch scratch;
  out.key(names[i].first);
  out.begin_object();
  // Usually one output per name: its own span of the file; several (a resumed oddity) share one map.
  auto [lo, hi] = j == i + 1 ? span_in_file(names[i].second) : std::pair<std::uint32_t, std::uint32_t>{0, events_per_input_};
  bool keyed = true;  // the name's object is open already
  ranges_of_file(
      out, f, lo, hi, keyed,
      [&](range_ref r) {
        const std::uint32_t o = output_of(r);
        for (std::size_t k = i; k < j; ++k)
          if (names[k].second == o) return true;
        return false;
      },
      [&](range_ref r, std::string_view id) {
        const auto m = merged_meta_.find(output_of(r));
        out.range(id, std::int64_t(r.index) + 1, std::int64_t(r.index) + 1, range_path(r, id, scratch),
                  m == merged_meta_.end() ? std::string_view() : std::string_view(m->second.guid));
      });
  out.end_object();
}

void bookkeeper::write_merging(json_stream& out) const {
  out.key("merging");
  out.begin_object();
  for (std::uint32_t f : files_by_lfn_) {
    if (all_outputs_merged(f)) continue;
    auto [first, n] = outputs_of_file(f);
    std::vector<std::pair<std::string, std::uint32_t>> names;  // (recorded name, output), by name
    for (std::uint32_t o = first; o < first + n; ++o)
      if (outputs_[o].state == output_state::merged) names.emplace_back(meta_of(o).recorded_name, o);
    if (names.empty()) continue;
    std::stable_sort(names.begin(), names.end(), [](auto& a, auto& b) { return a.first < b.first; });
    out.key(files_[f].lfn);
    out.begin_object();
    for (std::size_t i = 0; i < names.size();) {
      std::size_t j = i + 1;
      while (j < names.size() && names[j].first == names[i].first) ++j;
      write_merging_name(out, f, names, i, j);
      i = j;
    }
    out.end_object();
  }
  out.end_object();
}

void bookkeeper::write_merged(json_stream& out, const std::map<std::string, std::string>& renamed,
                              const std::string& final_dir) const {
  out.key("merged");
  out.begin_object();
  for (std::uint32_t f : files_by_lfn_) {
    if (!all_outputs_merged(f)) continue;
    auto [first, n] = outputs_of_file(f);
    std::map<std::string, merged_record> entry;
    for (std::uint32_t o = first; o < first + n; ++o) {
      auto m = meta_of(o);
      entry[m.recorded_name] = merged_record{m.final_path, m.guid};
    }
    if (!renamed.empty()) {
      std::map<std::string, merged_record> next;
      for (auto& [name, rec] : entry) {
        auto it = renamed.find(name);
        if (it == renamed.end()) {
          next.emplace(name, rec);
          continue;
        }
        next.emplace(it->second, merged_record{rty::file::join(final_dir, it->second), rec.guid});
      }
      entry = std::move(next);
    }
    out.key(files_[f].lfn);
    out.begin_object();
    for (auto& [name, rec] : entry) {
      out.key(name);
      out.begin_object();
      out.key("path");
      out.value(rec.path);
      out.key("guid");
      out.value(rec.guid);
      out.end_object();
    }
    out.end_object();
  }
  out.end_object();
}

void bookkeeper::write_failed(json_stream& out) const {
  out.key("failed");
  out.begin_object();
  for (std::uint32_t f : files_by_lfn_) {
    if (all_outputs_merged(f) || !any_output(f, [](const auto& slot) { return slot.state == output_state::failed; }))
      continue;
    bool keyed = false;
    ranges_of_file(
        out, f, 0, events_per_input_, keyed,
        [&](range_ref r) { return outputs_[output_of(r)].state == output_state::failed; },
        [&](range_ref r, std::string_view id) {
          out.range(id, std::int64_t(r.index) + 1, std::int64_t(r.index) + 1, nullptr, {});
        });
    if (keyed) out.end_object();
  }
  out.end_object();
}

void bookkeeper::write_snapshot(json_stream& out, const std::map<std::string, std::string>& renamed,
                                const std::string& final_dir) const {
  out.begin_object();
  write_simulated(out);
  write_merging(out);
  write_merged(out, renamed, final_dir);
  write_failed(out);
  out.end_object();
}

// --- restore: the checkpoint's sections in the order their rules need (merged wins over failed,
// both over simulated).

struct bookkeeper::restore_state {
  enum class fate : std::uint8_t { open, merged, failed };
  const std::map<std::string, std::string>& renamed;
  std::vector<fate> fates;
  std::unordered_map<std::uint32_t, merged_meta> metas;
  std::unordered_map<std::uint32_t, const range_map*> merged_ranges;  // from `merging`, for their paths
};

void bookkeeper::restore_problem(std::string text) {
  RTY_LOG(warning, "Bookkeeper") << "checkpoint: " << text;
  restore_problems_.push_back(std::move(text));
}

std::string bookkeeper::current_name(std::string name, const std::map<std::string, std::string>& renamed) {
  for (int hops = 0; hops < 64; ++hops) {  // bounded: a cyclic log must not hang the restore
    auto it = renamed.find(name);
    if (it == renamed.end() || it->second == name) break;
    name = it->second;
  }
  return name;
}

int bookkeeper::file_index(const std::string& lfn) const {
  auto it = file_by_lfn_.find(lfn);
  return it == file_by_lfn_.end() ? -1 : static_cast<int>(it->second);
}

// A range named in the checkpoint: by its id, else by its input file and startEvent.
std::optional<bookkeeper::range_ref> bookkeeper::locate(const std::string& lfn, const range_record& rec) {
  if (auto r = parse_id(rec.event_range_id)) return r;
  const int f = file_index(lfn);
  if (f >= 0 && rec.start_event >= 1 && rec.start_event <= events_per_input_) {
    range_ref r{static_cast<std::uint32_t>(f), static_cast<std::uint32_t>(rec.start_event - 1)};
    // Harvester's id of a recorded range keeps naming it (pilot updates, later checkpoints).
    if (opts_.external_ranges && !rec.event_range_id.empty()) {
      external_key_[rec.event_range_id] = key(r);
      external_id_[key(r)] = rec.event_range_id;
    }
    return r;
  }
  return std::nullopt;
}

std::string bookkeeper::final_path(const std::string& name) const {
  return rty::file::join(opts_.task_dir, "final/" + name);
}

// Input `lfn`'s merged outputs: by their current names, else (names of an earlier job attempt) in order.
void bookkeeper::restore_merged_file(restore_state& st, const std::string& lfn,
                                     const std::map<std::string, merged_record>& outs) {
  const int f = file_index(lfn);
  if (f < 0) {
    restore_problem("merged input " + lfn + " is not an input of this job; ignored");
    return;
  }
  const auto mine = outputs_of(static_cast<std::uint32_t>(f));
  std::vector<bool> taken(mine.size(), false);
  std::vector<std::pair<std::string, const merged_record*>> leftovers;
  auto take = [&](std::size_t slot, const std::string& old_name, const std::string& name, const merged_record& rec) {
    taken[slot] = true;
    const std::uint32_t o = mine[slot];
    st.fates[o] = restore_state::fate::merged;
    std::string path = rec.path;
    if (old_name != name)
      if (auto pos = path.rfind(old_name); pos != std::string::npos) path.replace(pos, old_name.size(), name);
    if (path.empty()) path = final_path(name);
    st.metas[o] = merged_meta{name, path, rec.guid};
  };
  for (const auto& [old_name, rec] : outs) {
    const std::string name = current_name(old_name, st.renamed);
    const int current = output_by_name(name);
    auto it = current < 0 ? mine.end() : std::find(mine.begin(), mine.end(), static_cast<std::uint32_t>(current));
    if (it != mine.end() && !taken[it - mine.begin()])
      take(it - mine.begin(), old_name, name, rec);
    else
      leftovers.emplace_back(old_name, &rec);
  }
  // Names from an earlier job attempt: outputs of an input are taken in order.
  for (const auto& [old_name, rec] : leftovers) {
    auto free_slot = std::find(taken.begin(), taken.end(), false);
    if (free_slot == taken.end()) {
      restore_problem("input " + lfn + " lists more merged outputs than it has; " + old_name + " ignored");
      continue;
    }
    take(free_slot - taken.begin(), old_name, current_name(old_name, st.renamed), *rec);
  }
  if (std::find(taken.begin(), taken.end(), false) != taken.end())
    restore_problem("input " + lfn + " is listed as merged with only " + std::to_string(outs.size()) + " of its " +
                    std::to_string(mine.size()) + " outputs; the others are processed again");
}

// merging[lfn][name]: an output whose merge had succeeded (its ranges' paths kept for Harvester).
void bookkeeper::restore_merging_output(restore_state& st, const std::string& lfn, const std::string& old_name,
                                        const range_map& ranges) {
  const std::string name = current_name(old_name, st.renamed);
  // The output is identified by the events it holds, not by its name (spec §7 item 9).
  std::optional<std::uint32_t> o;
  for (const auto& [id, rec] : ranges) {
    auto r = locate(lfn, rec);
    if (!r) {
      restore_problem("merging[" + lfn + "][" + old_name + "]: unknown range " + id + "; ignored");
      continue;
    }
    if (!o)
      o = output_of(*r);
    else if (*o != output_of(*r))
      restore_problem("merging[" + lfn + "][" + old_name + "]: range " + id + " belongs to output " +
                      job_.output_files[output_of(*r)] + ", not " + job_.output_files[*o]);
  }
  if (!o && output_by_name(name) >= 0) o = static_cast<std::uint32_t>(output_by_name(name));
  if (!o) {
    restore_problem("merging[" + lfn + "][" + old_name + "]: cannot tell which output it is; ignored");
    return;
  }
  if (st.fates[*o] == restore_state::fate::merged && st.metas.count(*o)) return;  // also listed under merged
  st.fates[*o] = restore_state::fate::merged;
  std::string guid = ranges.empty() ? std::string() : ranges.begin()->second.output_guid;
  st.metas[*o] = merged_meta{name, final_path(name), guid};
  st.merged_ranges[*o] = &ranges;
}

void bookkeeper::restore_failed(restore_state& st, const checkpoint& cp) {
  for (const auto& [lfn, ranges] : cp.failed) {
    for (const auto& [id, rec] : ranges) {
      auto r = locate(lfn, rec);
      if (!r) {
        restore_problem("failed[" + lfn + "]: unknown range " + id + "; ignored");
        continue;
      }
      const std::uint32_t o = output_of(*r);
      if (st.fates[o] == restore_state::fate::merged) {
        restore_problem("range " + id + " is listed as failed but its output " + job_.output_files[o] +
                        " is merged; kept merged");
        continue;
      }
      st.fates[o] = restore_state::fate::failed;
    }
  }
}

void bookkeeper::apply_merged(restore_state& st, std::uint32_t o) {
  auto& slot = outputs_[o];
  for_each_range(o, [&](range_ref r, std::uint32_t) {
    auto& fs = files_[r.file];
    fs.state[r.index] = finished;
    --fs.ready;
  });
  counts_.ready -= group_size_;
  counts_.finished += group_size_;
  counts_.merged_events += group_size_;
  ++counts_.merges_done;
  slot.finished = group_size_;
  if (auto it = st.merged_ranges.find(o); it != st.merged_ranges.end()) {
    slot.paths = std::make_unique<group_paths>(group_size_);
    for (const auto& [id, rec] : *it->second)
      if (auto r = parse_id(rec.event_range_id); r && output_of(*r) == o) {
        make_id(*r, id_buf_);
        slot.paths->set(position_in_output(*r), rec.path, id_buf_, path_dirs_);
      }
  }
  merged_meta_[o] = st.metas[o];
  close_output(o, output_state::merged);
}

void bookkeeper::restore_simulated(const checkpoint& cp) {
  for (const auto& [lfn, ranges] : cp.simulated) {
    for (const auto& [id, rec] : ranges) {
      auto r = locate(lfn, rec);
      if (!r) {
        restore_problem("simulated[" + lfn + "]: unknown range " + id + "; processed again if needed");
        continue;
      }
      const std::uint32_t o = output_of(*r);
      if (outputs_[o].state != output_state::open) continue;  // merged or failed wins
      if (rec.path.empty()) {
        restore_problem("simulated[" + lfn + "]: range " + id + " has no output path; processed again");
        continue;
      }
      if (files_[r->file].state[r->index] != ready) continue;  // listed twice
      record_finish(*r, rec.path);
    }
  }
}

void bookkeeper::restore(const checkpoint& cp, const std::map<std::string, std::string>& renamed) {
  reset();
  restore_problems_.clear();
  restore_state st{renamed, std::vector<restore_state::fate>(outputs_.size(), restore_state::fate::open), {}, {}};
  for (const auto& [lfn, outs] : cp.merged) restore_merged_file(st, lfn, outs);
  for (const auto& [lfn, outs] : cp.merging)
    for (const auto& [old_name, ranges] : outs) restore_merging_output(st, lfn, old_name, ranges);
  restore_failed(st, cp);
  // Apply: merged outputs first, then failed groups, then finished ranges of open groups.
  for (std::uint32_t o = 0; o < outputs_.size(); ++o)
    if (st.fates[o] == restore_state::fate::merged) apply_merged(st, o);
  for (std::uint32_t o = 0; o < outputs_.size(); ++o)
    if (st.fates[o] == restore_state::fate::failed) fail_group(o);
  restore_simulated(cp);
  recount_unsupplied();
  RTY_LOG(info, "Bookkeeper") << "restored checkpoint: " << counts_.finished << " finished ranges ("
                              << counts_.merged_events << " events merged), " << counts_.failed
                              << " in failed groups, " << counts_.ready << " ready, " << counts_.merges_pending
                              << " merges ready";
}

std::vector<requeued_input> take_failed_for_retry(checkpoint& cp) {
  std::vector<requeued_input> out;
  for (const auto& [lfn, ranges] : cp.failed)
    if (!ranges.empty()) out.push_back({lfn, ranges.size()});
  cp.failed.clear();
  return out;
}

}  // namespace rty::bookkeeping
