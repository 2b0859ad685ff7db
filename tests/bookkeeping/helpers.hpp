#pragma once
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bookkeeping/bookkeeper.hpp"

namespace rty::bookkeeping::test {

inline std::string in_name(int i) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "EVNT.01234._%06d.pool.root.1", i);
  return buf;
}
inline std::string out_name(int j, const char* tag = "HITS.05678") {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s._%06d.pool.root.1", tag, j);
  return buf;
}

// A job with `inputs` input files of E events merged into outputs of H events (spec §3.1 geometry).
inline rty::job_spec make_job(int inputs, int e, int h, const char* out_tag = "HITS.05678") {
  rty::job_spec job;
  job.panda_id = "6000000001";
  job.task_id = "5678";
  job.events_per_input = e;
  job.events_per_output = h;
  for (int i = 1; i <= inputs; ++i) {
    job.in_files.push_back(in_name(i));
    job.guids.push_back("GUID-" + std::to_string(i));
  }
  const int outputs = h >= e ? inputs / (h / e) : inputs * (e / h);
  for (int j = 1; j <= outputs; ++j) job.output_files.push_back(out_name(j, out_tag));
  return job;
}

inline options make_options(int max_attempts = 3) {
  options o;
  o.endpoint = "/ep";
  o.max_attempts = max_attempts;
  o.task_dir = "/task";
  return o;
}

inline rty::range_update fin(const std::string& id, std::string path = {}) {
  rty::range_update u;
  u.range_id = id;
  u.status = rty::range_status::finished;
  u.path = path.empty() ? "/task/" + id + ".HITS" : path;
  u.type = "es_output";
  return u;
}
inline rty::range_update fail(const std::string& id, rty::range_status s = rty::range_status::failed) {
  rty::range_update u;
  u.range_id = id;
  u.status = s;
  u.error_code = 1220;
  return u;
}
inline std::string rid(int input, int n) { return in_name(input) + "-" + std::to_string(n); }

inline std::vector<rty::range_update> finish_all(const std::vector<rty::event_range>& rs) {
  std::vector<rty::range_update> out;
  for (const auto& r : rs) out.push_back(fin(r.id));
  return out;
}

inline void check_invariant(const bookkeeper& bk) {
  auto c = bk.get_counts();
  BOOST_TEST(c.ready + c.leased + c.finished + c.failed == c.total);
}

}  // namespace rty::bookkeeping::test
