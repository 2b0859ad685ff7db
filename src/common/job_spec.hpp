#pragma once
// The one PanDA job a run processes, as parsed from Harvester's job spec (docs/harvester-files.md,
// docs/architecture.md). Parsing and validation live in src/harvester (parse_job_spec).
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace rty {

struct job_spec {
  std::string panda_id;   // decimal string, as Harvester keys it
  std::string task_id;
  std::string jobset_id;
  int attempt_nr = 1;
  std::vector<std::string> in_files;  // input LFNs, in inFiles order
  std::vector<std::string> guids;     // parallel to in_files
  std::string scope_in;
  std::int64_t events_per_input = 0;   // E = nEventsPerInputFile
  std::int64_t events_per_output = 0;  // H = esmergeSpec.nEventsPerOutputFile
  std::string merge_trans_path;        // esmergeSpec.transPath
  std::string merge_job_parameters;    // esmergeSpec.jobParameters
  std::vector<std::string> output_files;  // outFiles entries starting with "HITS", in order
  std::string sw_release;                 // e.g. "Atlas-23.0.1"
  std::string release;                    // sw_release minus leading "letters-" tokens: "23.0.1"
  std::string platform;                   // container_name, else cmtConfig, else x86_64-el9-gcc13-opt
  std::string prod_source_label;
  std::string job_pars;                   // after the event-service patch
  int core_count = 1;
  boost::json::object raw;                // the job dict as pilot receives it (patched)
};

}  // namespace rty
