#!/usr/bin/env bash
# raythenad bootstrap: install what is missing (Debian 12, as root), build, then
#   demo  - run the demo job on this machine with the local launcher (default)
#   test  - run the whole test suite (what CI runs)
#   build - only build
# Environment: BUILD_DIR (default ./build), JOBS (default: number of cores).
# test also builds <BUILD_DIR>-asan (preset asan: the tests labelled RTY_ASAN_LABELS, default
# "unit|integration", under ASan+UBSan) and <BUILD_DIR>-fuzz (preset fuzz: each libFuzzer target for
# RTY_FUZZ_SECONDS, default 10); RTY_CI_SANITIZE=0 skips both.
set -euo pipefail
mode=${1:-demo}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}
jobs=${JOBS:-$(nproc)}

packages=(g++ cmake make pkg-config ccache python3 procps iproute2 openssh-client openssh-server
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-test1.81-dev
  libyaml-cpp-dev libssh2-1-dev zlib1g-dev slurmctld slurmd slurm-client munge)
if [ "$mode" = test ] && [ "${RTY_CI_SANITIZE:-1}" != 0 ]; then
  packages+=(clang libclang-rt-14-dev)  # libFuzzer and the clang sanitizer runtimes (gcc's come with g++)
fi
[ "$mode" = test ] && packages+=(groff-base)  # the tests render the generated man page

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: packages are missing and this is not root; run as root or install: ${missing[*]}" >&2
    exit 1
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) reuses what an earlier
# build compiled; with -g it would otherwise hash the directory too and miss everything.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$here} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  demo) exec "$here/tests/fakes/run_demo.sh" "$build" ;;
  test)
    if [ "${RTY_CI_SANITIZE:-1}" = 0 ]; then
      cd "$build"
      exec ctest --output-on-failure -j "$jobs" --timeout 600
    fi
    failed=()
    phase() {  # <name> <command...>: runs it, prints its wall/CPU time; false (and recorded) on failure
      local TIMEFORMAT="bootstrap: $1: %0R s wall, %0U+%0S s cpu" name=$1 rc=0
      shift
      time { "$@" || rc=1; }
      ((rc == 0)) || { failed+=("$name"); return 1; }
    }
    preset_build() {  # <preset> <dir> <target or ""> [cmake -D...]
      (cd "$here" && cmake --preset "$1" -B "$2" "${@:4}" >/dev/null) &&
        cmake --build "$2" -j "$jobs" ${3:+--target "$3"}
    }
    phase "tests" ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 600 || true
    # ASan+UBSan build: integration tests start raythenad/raythena-stub from the build dir they are
    # registered in, so the daemons and stubs run sanitized too. Leak checking stays on (ASan default).
    if phase "asan build" preset_build asan "$build-asan" ""; then
      phase "asan tests" ctest --test-dir "$build-asan" --output-on-failure -j "$jobs" --timeout 600 \
        -L "${RTY_ASAN_LABELS:-unit|integration}" || true
    fi
    # libFuzzer targets (clang), each for a fixed time from its seed corpus.
    if phase "fuzz build" preset_build fuzz "$build-fuzz" rty_fuzz_all -DRTY_FUZZ_SECONDS="${RTY_FUZZ_SECONDS:-10}"; then
      phase "fuzz tests" ctest --test-dir "$build-fuzz" --output-on-failure -j "$jobs" -L fuzz || true
    fi
    if ((${#failed[@]})); then
      echo "bootstrap: failed: ${failed[*]}" >&2
      exit 1
    fi ;;
  *) echo "usage: $0 [demo|test|build]" >&2; exit 2 ;;
esac
