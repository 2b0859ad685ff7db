#pragma once
#include <boost/test/unit_test.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bookkeeping/bookkeeper.hpp"
#include "rty_test/support.hpp"

namespace rty::bookkeeping::test {

using rty::test::temp_dir;
using rty::test::write_file;

inline std::string in_name(int i) { return rty::test::numbered_file("EVNT.01234", i); }
inline std::string out_name(int j, const char* tag = "HITS.05678") { return rty::test::numbered_file(tag, j); }

// A job with `inputs` input files of E events merged into outputs of H events (spec §3.1 geometry).
inline rty::job_spec make_job(int inputs, int e, int h, const char* out_tag = "HITS.05678") {
  rty::test::job_names names;
  names.output_tag = out_tag;
  return rty::test::make_job(inputs, e, h, names);
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
