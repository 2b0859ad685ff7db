// Harvester's panda_harvester.cfg (configparser dialect with BasicInterpolation): parse, then read every
// key of every section as the coordinator would, and resolve the messenger files and queuedata path.
// Property: a key listed by keys() can be read with get().
#include "fuzz_support.hpp"
#include "harvester/harvester_config.hpp"
#include "harvester/ini.hpp"

#include <cstddef>
#include <cstdint>

namespace hv = rty::harvester;

RTY_FUZZ_QUIET_INIT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto ini = hv::ini_file::parse(rty::fuzz::as_text(data, size), "panda_harvester.cfg");
  if (!ini) {
    RTY_FUZZ_CHECK(!ini.error().message.empty(), "ini error without a message");
    (void)ini.error().to_string();
    return 0;
  }
  auto sections = ini->sections();
  sections.push_back("DEFAULT");
  for (const auto& s : sections) {
    RTY_FUZZ_CHECK(s == "DEFAULT" || ini->has_section(s), "listed section not found: " + s);
    for (const auto& k : ini->keys(s)) RTY_FUZZ_CHECK(ini->get(s, k).has_value(), "listed key unreadable: " + s + "." + k);
  }
  (void)hv::resolve_messenger_files(*ini, "/ap");
  (void)hv::queuedata_path(*ini, "CERN-EXAMPLE");
  return 0;
}
