#pragma once
// Shared by the libFuzzer targets: quiet logging (millions of runs) and property checks that abort, so
// libFuzzer saves the input as a crash artifact.
#include "common/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define RTY_FUZZ_CHECK(cond, what)                                                        \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "fuzz property violated at %s:%d: %s\n", __FILE__, __LINE__, \
                   std::string(what).c_str());                                            \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace rty::fuzz {

inline void quiet() { rty::log::set_level(rty::log::level::off); }

inline std::string_view as_text(const unsigned char* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace rty::fuzz

#define RTY_FUZZ_QUIET_INIT                                   \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {        \
    rty::fuzz::quiet();                                       \
    return 0;                                                 \
  }
