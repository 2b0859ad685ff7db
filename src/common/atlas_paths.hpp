#pragma once
// Where ATLAS software lives on a site, as the merge command and `--validate` both need it.
namespace rty {

// ALRB, which starts a merge in a container (setupATLAS): <root>/user/atlasLocalSetup.sh.
inline constexpr const char* default_alrb_root = "/cvmfs/atlas.cern.ch/repo/ATLASLocalRootBase";

}  // namespace rty
