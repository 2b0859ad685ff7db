// The Raythena YAML configuration as raythenad loads it (load_config_text: YAML → keys → checks →
// defaults → $VAR expansion). Properties: never throws (yaml-cpp exceptions included); an error is a
// non-empty message.
#include "config/loader.hpp"
#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const rty::config::load_request request = [] {
    rty::config::load_request r;
    r.config_path = "raythenad.yaml";
    r.env = {{"SLURM_JOB_ID", "42"}};
    r.executable_path = "/nonexistent/bin/raythenad";
    return r;
  }();
  auto loaded = rty::config::load_config_text(rty::fuzz::as_text(data, size), request);
  if (!loaded) RTY_FUZZ_CHECK(!loaded.error().message().empty(), "config error without a message");
  return 0;
}
