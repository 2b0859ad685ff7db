#pragma once
// Parses and validates Harvester's job spec file (docs/harvester-files.md, docs/architecture.md
// step 5 and §3.1): {"<PandaID>": {job params}} with exactly one job.
#include "common/job_spec.hpp"

#include <boost/json/value.hpp>
#include "common/error.hpp"

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace rty::harvester {

// `origin` (the file name) starts every error message. On success every rty::job_spec field is filled
// and `raw` carries the event-service patch (eventService="true", jobPars prefixed
// "--eventService=True ") that pilot must see.
rty::result<rty::job_spec> parse_job_spec(const boost::json::value& spec_file_content,
                                                                 std::string_view origin);

// Parses the text first; a JSON error names the origin too.
rty::result<rty::job_spec> parse_job_spec_text(std::string_view text, std::string_view origin);

// The cgi form Harvester writes when the queue's messenger has jobSpecFileFormat "cgi"
// (shared_file_messenger.py feed_jobs: urlencode(jobParams), no PandaID key around it): k=v pairs
// joined by '&', '+' for a space, %XX for other bytes. Turned into {"<PandaID>": {k: "v", ...}} for
// parse_job_spec: every value a string, as Python's str() made it, except "None", which was a null,
// and a dict or list (esmergeSpec), which str() wrote as its Python repr and is read back as JSON.
// Errors name the origin and the pair: a bad %-escape, a pair without '=', a key given twice, no PandaID.
rty::result<boost::json::value> cgi_job_spec_to_json(std::string_view text,
                                                                            std::string_view origin);

// cgi_job_spec_to_json, then parse_job_spec.
rty::result<rty::job_spec> parse_job_spec_cgi_text(std::string_view text,
                                                                          std::string_view origin);

// "Atlas-23.0.1" -> "23.0.1": leading all-letter tokens followed by '-' are dropped.
std::string release_from_sw_release(std::string_view sw_release);

inline constexpr std::string_view default_platform = "x86_64-el9-gcc13-opt";

}  // namespace rty::harvester
