// raythena-stub: the node program. Placeholder entry point.
#include <cstring>
#include <iostream>

#include "rty/version.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--version")) {
      std::cout << "raythena-stub " << rty::version << "\n";
      return 0;
    }
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "Usage: raythena-stub (started by raythenad's launcher)\n";
      return 0;
    }
  }
  std::cerr << "raythena-stub: nothing to do yet (see --help)\n";
  return 2;
}
