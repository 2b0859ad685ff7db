#pragma once
// Shared helpers for the merge tests.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/job_spec.hpp"
#include "common/merge_task.hpp"
#include "rty_test/support.hpp"

namespace merge_test {

using rty::test::read_file;
using rty::test::write_file;
struct temp_dir : rty::test::temp_dir {
  temp_dir() : rty::test::temp_dir("rty-merge-test") {}
};

// The job of the harvester-late-binding-merged fixture (HPCJobs.json.read), as src/harvester parses it.
inline rty::job_spec fixture_job() {
  rty::job_spec job;
  job.panda_id = "6000000001";
  job.task_id = "40000001";
  job.in_files = {"EVNT.40000000._000001.pool.root.1", "EVNT.40000000._000002.pool.root.1"};
  job.events_per_input = 8;
  job.events_per_output = 8;
  job.merge_trans_path = "HITSMerge_tf.py";
  job.merge_job_parameters =
      "--AMITag s4006 --DBRelease=current --autoConfiguration=everything --inputHitsFile=@inputFor_${OUTPUT0} "
      "--outputHitsFile=${OUTPUT0} --maxEvents=-1 --skipEvents=0";
  job.output_files = {"HITS.40000001._000001.pool.root.1", "HITS.40000001._000002.pool.root.1"};
  job.sw_release = "Atlas-23.0.1";
  job.release = "23.0.1";
  job.platform = "x86_64-el9-gcc13-opt";
  job.raw = {{"cmtConfig", "x86_64-el9-gcc13-opt"}, {"container_name", ""}};
  return job;
}

inline rty::merge_task make_task(const std::string& output, std::vector<std::string> input_files,
                                 const std::string& dir, int n) {
  rty::merge_task t;
  t.output_name = output;
  t.input_files = std::move(input_files);
  for (int i = 1; i <= n; ++i) {
    std::string id = t.input_files.front() + "-" + std::to_string(i);
    t.inputs.push_back({id, dir + "/" + id + ".HITS.pool.root"});
  }
  return t;
}

}  // namespace merge_test
