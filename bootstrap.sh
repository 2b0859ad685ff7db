#!/usr/bin/env bash
# raythenad bootstrap: install what is missing (Debian 12, as root), build, then
#   demo  - run the demo job on this machine with the local launcher (default)
#   test  - run the whole test suite (what CI runs)
#   build - only build
# Environment: BUILD_DIR (default ./build), JOBS (default: number of cores).
set -euo pipefail
mode=${1:-demo}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${BUILD_DIR:-$here/build}
jobs=${JOBS:-$(nproc)}

packages=(g++ cmake make pkg-config ccache python3 procps iproute2 openssh-client openssh-server
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libboost-test1.81-dev
  libyaml-cpp-dev libssh2-1-dev zlib1g-dev slurmctld slurmd slurm-client munge)

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

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$jobs"

case "$mode" in
  build) ;;
  demo) exec "$here/tests/fakes/run_demo.sh" "$build" ;;
  test)
    cd "$build"
    exec ctest --output-on-failure -j "$jobs" --timeout 600 ;;
  *) echo "usage: $0 [demo|test|build]" >&2; exit 2 ;;
esac
