#!/usr/bin/env bash
# raythenad bootstrap: install what is missing (Debian 12, as root), build, then
#   demo  - run the demo job on this machine with the local launcher (default)
#   test  - run the whole test suite (what CI runs)
#   build - only build
#   packages [MODE] - print the Debian packages MODE needs (default demo), one a line, and exit
# Environment: BUILD_DIR (default ./build), JOBS (default: number of cores). RTY_NO_APT=1 (or a system
# without dpkg) skips the package check: the dependencies then come from CMAKE_PREFIX_PATH (Spack,
# modules; docs/install.md).
# test also builds <BUILD_DIR>-asan (preset asan: the tests labelled RTY_ASAN_LABELS, default
# "unit|integration", under ASan+UBSan) and <BUILD_DIR>-fuzz (preset fuzz: each libFuzzer target for
# RTY_FUZZ_SECONDS, default 10); RTY_CI_SANITIZE=0 skips both. After each ctest phase: its skipped and
# failed tests and "N passed, N failed, N skipped"; a phase that selects no test fails; with CI set, as
# root, a skipped test fails the phase. test configures BUILD_DIR with the preset ci (warnings are
# errors) and builds <BUILD_DIR>-reloc: the unit tests using each library, built against a copy of the
# libraries in a private prefix with the system copies hidden (packaging/tests/relocated_build.sh; needs
# root, else skipped, which fails with CI set; RTY_CI_RELOCATED=0 skips it).
set -euo pipefail
mode=${1:-demo}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}
jobs=${JOBS:-$(nproc)}

# What each mode needs. build: the compiler and the libraries. demo adds the fakes' python3 and bc
# (tests/fakes/run_demo.sh); it runs everything on this machine with the local launcher, so no Slurm,
# munge or sshd. test adds what the test suite drives: procps and iproute2 (process and network
# namespace helpers), openssh-client/-server, slurm* and munge for tests/cluster, groff-base (the
# man page is rendered), systemd (systemd-analyze for ops_systemd_unit), dpkg-dev (dpkg-shlibdeps for
# packaging_deb_install), lintian (packaging_deb_install checks the .deb has no lintian error),
# prometheus (promtool checks a live /metrics in e2e_metrics_dashboard), and
# for the sanitizer and fuzz builds clang's runtimes. With CI set, as root, a test that skips because
# something is missing fails (tests/cluster/lib.sh, run_e2e.py, verify_unit.sh, seclib.py,
# packaging/tests). `./bootstrap.sh packages MODE` prints a mode's list.
packages=(g++ cmake make pkg-config ccache
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-test1.81-dev
  libyaml-cpp-dev libssh2-1-dev zlib1g-dev)
list_mode=$mode
if [ "$mode" = packages ]; then
  list_mode=${2:-demo}
  case $list_mode in build | demo | test) ;; *) echo "usage: $0 packages [build|demo|test]" >&2; exit 2 ;; esac
fi
case $list_mode in
  demo) packages+=(python3 bc) ;;
  test)
    packages+=(python3 bc procps iproute2 openssh-client openssh-server slurmctld slurmd slurm-client munge
      groff-base systemd dpkg-dev lintian prometheus)
    if [ "${RTY_CI_SANITIZE:-1}" != 0 ]; then
      packages+=(clang libclang-rt-14-dev)  # libFuzzer and the clang sanitizer runtimes (gcc's come with g++)
    fi ;;
esac
if [ "$mode" = packages ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

missing=()
no_apt=
if [ -n "${RTY_NO_APT:-}" ]; then no_apt="RTY_NO_APT set"; elif ! command -v dpkg-query >/dev/null 2>&1; then no_apt="no dpkg-query"; fi
if [ -n "$no_apt" ]; then
  echo "bootstrap: not checking Debian packages ($no_apt): the dependencies must be on CMAKE_PREFIX_PATH" \
    "(docs/install.md)" >&2
else
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
fi
if ((${#missing[@]})); then
  # As root (a container, a fresh machine) apt runs directly; otherwise through sudo when there is one.
  # Without either, say what is missing: with every package present (or RTY_NO_APT=1 and the
  # dependencies from modules or Spack on CMAKE_PREFIX_PATH) nothing here needs root or apt.
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      as_root=(sudo)
    else
      echo "bootstrap: missing Debian packages: ${missing[*]}" >&2
      echo "bootstrap: install them as root (apt-get install ${missing[*]}), or run this script as root" >&2
      exit 1
    fi
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  "${as_root[@]}" apt-get update -q
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# ccache keys on paths relative to the checkout, so a fresh clone elsewhere (CI) reuses what an earlier
# build compiled; with -g it would otherwise hash the directory too and miss everything.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$here} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-true}
if [ "$mode" = test ]; then
  # The preset ci: RelWithDebInfo as below, and compiler warnings in this project's code are errors.
  (cd "$here" && cmake --preset ci -B "$build" >/dev/null)
else
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  demo) exec "$here/tests/fakes/run_demo.sh" "$build" ;;
  test)
    failed=()
    summaries=()
    # ctest_phase <name> <build dir> [ctest args...]: runs ctest with a JUnit report, then prints the
    # skipped tests and "N passed, N failed, N skipped". A phase that ran no test fails
    # (--no-tests=error, and the count below): a label that selects nothing must not pass.
    ctest_phase() {
      local name=$1 dir=$2 rc=0 junit
      shift 2
      junit="$dir/ctest-$(echo "$name" | tr ' ' '-').xml"
      rm -f "$junit"
      local TIMEFORMAT="bootstrap: $name: %0R s wall, %0U+%0S s cpu"
      time { ctest --test-dir "$dir" --output-on-failure --no-tests=error --output-junit "$junit" "$@" || rc=1; }
      local line
      line=$(python3 - "$junit" "$name" <<'PY'
import sys
import xml.etree.ElementTree as ET
path, name = sys.argv[1], sys.argv[2]
try:
    cases = ET.parse(path).getroot().iter("testcase")
except (OSError, ET.ParseError) as e:
    print("%s: no JUnit report (%s): 0 passed, 0 failed, 0 skipped" % (name, e)); sys.exit(1)
passed, failed, skipped = [], [], []
for c in cases:
    status = c.get("status", "")
    if c.find("skipped") is not None or status in ("notrun", "disabled"):
        skipped.append(c.get("name"))
    elif c.find("failure") is not None or c.find("error") is not None or status == "fail":
        failed.append(c.get("name"))
    else:
        passed.append(c.get("name"))
for n in skipped:
    print("bootstrap: %s: skipped: %s" % (name, n), file=sys.stderr)
for n in failed:
    print("bootstrap: %s: failed: %s" % (name, n), file=sys.stderr)
print("%s: %d passed, %d failed, %d skipped" % (name, len(passed), len(failed), len(skipped)))
import os
if skipped and os.environ.get("CI") and os.geteuid() == 0:  # the tests themselves fail then; in case one does not
    print("bootstrap: %s: CI as root runs every test: %d skipped" % (name, len(skipped)), file=sys.stderr)
    sys.exit(1)
sys.exit(1 if failed or not (passed or failed or skipped) else 0)
PY
      ) || rc=1
      echo "bootstrap: $line" >&2
      summaries+=("$line")
      ((rc == 0)) || { failed+=("$name"); return 1; }
    }
    phase() {  # <name> <command...>: runs it, prints its wall/CPU time; false (and recorded) on failure
      local TIMEFORMAT="bootstrap: $1: %0R s wall, %0U+%0S s cpu" name=$1 rc=0
      shift
      time { "$@" || rc=1; }
      ((rc == 0)) || { failed+=("$name"); return 1; }
    }
    # No Debian path assumed: the unit tests that use Boost, yaml-cpp, libssh2 and zlib, built against a
    # copy of them in a private prefix (CMAKE_PREFIX_PATH only) with the system copies hidden.
    relocated() {
      local rc=0 targets=(test_common test_config test_launch test_pilot_http)
      local TIMEFORMAT="bootstrap: relocated build: %0R s wall, %0U+%0S s cpu"
      time { JOBS=$jobs "$here/packaging/tests/relocated_build.sh" "$here" "$build-reloc" "${targets[@]}" || rc=$?; }
      if ((rc == 77)); then
        if [ -n "${CI:-}" ]; then
          echo "bootstrap: relocated build: could not run (see above), and CI is set: failed" >&2
          summaries+=("relocated build: could not run"); failed+=("relocated build")
        else
          echo "bootstrap: relocated build: SKIPPED (see above)" >&2
          summaries+=("relocated build: skipped")
        fi
        return 0
      fi
      ((rc == 0)) || { failed+=("relocated build"); summaries+=("relocated build: failed"); return 0; }
      summaries+=("relocated build: built against $build-reloc/prefix")
      ctest_phase "relocated tests" "$build-reloc" -j "$jobs" --timeout 600 \
        -R "^($(IFS='|'; echo "${targets[*]}"))\$" || true
    }
    if [ "${RTY_CI_SANITIZE:-1}" = 0 ]; then
      ctest_phase "tests" "$build" -j "$jobs" --timeout 600 || true
      [ "${RTY_CI_RELOCATED:-1}" = 0 ] || relocated
    else
      preset_build() {  # <preset> <dir> <target or ""> [cmake -D...]
        (cd "$here" && cmake --preset "$1" -B "$2" "${@:4}" >/dev/null) &&
          cmake --build "$2" -j "$jobs" ${3:+--target "$3"}
      }
      ctest_phase "tests" "$build" -j "$jobs" --timeout 600 || true
      [ "${RTY_CI_RELOCATED:-1}" = 0 ] || relocated
      # ASan+UBSan build: integration tests start raythenad/raythena-stub from the build dir they are
      # registered in, so the daemons and stubs run sanitized too. Leak checking stays on (ASan default).
      if phase "asan build" preset_build asan "$build-asan" ""; then
        ctest_phase "asan tests" "$build-asan" -j "$jobs" --timeout 600 -L "${RTY_ASAN_LABELS:-unit|integration}" || true
      fi
      # libFuzzer targets (clang), each for a fixed time from its seed corpus.
      if phase "fuzz build" preset_build fuzz "$build-fuzz" rty_fuzz_all -DRTY_FUZZ_SECONDS="${RTY_FUZZ_SECONDS:-10}"; then
        ctest_phase "fuzz tests" "$build-fuzz" -j "$jobs" -L fuzz || true
      fi
    fi
    echo "bootstrap: summary" >&2
    for line in "${summaries[@]}"; do echo "bootstrap:   $line" >&2; done
    if ((${#failed[@]})); then
      echo "bootstrap: failed: ${failed[*]}" >&2
      exit 1
    fi ;;
  *) echo "usage: $0 [demo|test|build|packages [MODE]]" >&2; exit 2 ;;
esac
