# Spack recipe for raythenad (docs/install.md, section "Spack"). Use it from a local repository:
#   spack repo create ~/spack-raythenad && mkdir -p ~/spack-raythenad/packages/raythenad
#   cp packaging/spack/package.py ~/spack-raythenad/packages/raythenad/
#   spack repo add ~/spack-raythenad && spack install raythenad@main
# or build a checkout against Spack's dependencies: spack dev-build raythenad@main (in the checkout).
from spack.package import *


class Raythenad(CMakePackage):
    """raythenad runs ATLAS Event Service jumbo jobs across an HPC allocation: a coordinator that
    takes a job from Harvester and one raythena-stub per node that serves pilot3's HTTP API and
    forwards it over an authenticated TCP channel (a C++ replacement for Raythena)."""

    homepage = "https://github.com/PanDAWMS/ray"  # Raythena, which raythenad replaces
    # There is no release tarball and no public repository address yet: set git to the repository
    # your checkout comes from, or use `spack develop` / `spack dev-build` in a checkout (no fetch).
    git = "https://git.example.org/raythenad.git"

    version("main", branch="main")

    variant("werror", default=False, description="Treat compiler warnings in raythenad's code as errors")

    depends_on("cxx", type="build")  # language virtuals: Spack 0.22 or newer
    depends_on("c", type="build")
    depends_on("cmake@3.25:", type="build")
    depends_on("pkgconfig", type="build")  # libssh2 is found through pkg-config

    # Asio, Beast (headers), JSON, program_options; Boost.Test is required at configure time.
    depends_on("boost@1.81: +json +program_options +test +system +container")
    depends_on("yaml-cpp@0.7:")
    depends_on("libssh2@1.9:")
    depends_on("zlib-api")  # zlib or zlib-ng in compatibility mode

    # The test suite's fakes (pilot, Harvester, merge transform) are Python scripts.
    depends_on("python@3.9:", type="test")

    conflicts("%gcc@:10", msg="raythenad needs C++20 (GCC 11 or newer)")
    conflicts("%clang@:13", msg="raythenad needs C++20 (Clang 14 or newer)")

    def cmake_args(self):
        return [
            self.define("BUILD_TESTING", self.run_tests),
            self.define_from_variant("RTY_WERROR", "werror"),
            # The installed programs find Spack's libraries through their RPATH (Spack sets it too).
            self.define("CMAKE_INSTALL_RPATH_USE_LINK_PATH", True),
        ]

    def check(self):
        # Unit tests only: the integration tests start daemons and bind loopback ports.
        with working_dir(self.build_directory):
            ctest("-L", "unit", "--output-on-failure")
