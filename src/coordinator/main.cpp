// raythenad: the coordinator. Placeholder entry point until the configuration layer lands.
#include <cstring>
#include <iostream>

#include "rty/version.hpp"

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--version")) {
      std::cout << "raythenad " << rty::version << "\n";
      return 0;
    }
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::cout << "Usage: raythenad --config FILE [options]\n";
      return 0;
    }
  }
  std::cerr << "raythenad: nothing to do yet (see --help)\n";
  return 2;
}
