#!/usr/bin/env bash
# Proves the build assumes no Debian path: the development files of Boost, yaml-cpp, libssh2 and zlib
# are copied from their Debian packages into a private prefix, the system copies are hidden (an
# overlay with whiteouts on /usr/include and the multiarch library directory, in a private mount
# namespace, so nothing outside this script sees it), and the project is configured with only
# CMAKE_PREFIX_PATH=<prefix> and built. Afterwards the test binaries must resolve their libraries
# from the prefix (ldd), which shows the link took them from there.
#
# Usage: relocated_build.sh SOURCE_DIR BUILD_DIR [TARGET...]
#   BUILD_DIR/prefix is the prefix, BUILD_DIR the build tree (reused: with ccache and a stable path the
#   second run compiles nothing). Default targets: the unit tests that use each dependency.
# Exit 0 built, 1 failed, 77 cannot run here (not root, no unshare, no overlayfs): the caller decides
# whether a skip is acceptable (bootstrap.sh test counts it as a failure with CI set).
set -euo pipefail
src=${1:?usage: relocated_build.sh SOURCE_DIR BUILD_DIR [TARGET...]}
build=${2:?usage: relocated_build.sh SOURCE_DIR BUILD_DIR [TARGET...]}
shift 2
targets=("$@")
((${#targets[@]})) || targets=(test_common test_config test_launch test_pilot_http)
say() { echo "relocated_build: [${SECONDS}s] $*" >&2; }
skip() { say "SKIPPED: $*"; exit 77; }

# The Debian packages whose files make up the prefix (bootstrap.sh installs them).
# Boost.JSON's CMake config needs those of Boost.Container and Boost.System.
dev_packages=(libboost1.81-dev libboost-json1.81-dev libboost-container1.81-dev libboost-system1.81-dev
  libboost-program-options1.81-dev libboost-test1.81-dev libyaml-cpp-dev libssh2-1-dev zlib1g-dev)

if [ -z "${RTY_RELOCATED_INSIDE:-}" ]; then
  [ "$(id -u)" -eq 0 ] || skip "needs root (a private mount namespace with tmpfs and overlay mounts)"
  command -v unshare >/dev/null || skip "no unshare (util-linux)"
  command -v dpkg-query >/dev/null || skip "no dpkg: the prefix is made from the Debian packages"
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || true
  grep -qw overlay /proc/filesystems || skip "the kernel has no overlayfs"
  for p in "${dev_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      { say "package $p is not installed (bootstrap.sh test installs it)"; exit 1; }
  done
  unshare -m true 2>/dev/null || skip "unshare -m is not permitted here"
fi

multiarch=$(gcc -print-multiarch 2>/dev/null || true)
[ -n "$multiarch" ] || multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || true)
[ -n "$multiarch" ] || { say "cannot tell the multiarch directory (gcc -print-multiarch)"; exit 1; }
libdir=/usr/lib/$multiarch
prefix=$build/prefix

# --- 1. the prefix: each package's files below /usr/include and /usr/lib, /usr stripped, so that the
# packages' own CMake configs (relative to their location) and .pc files (prefix= rewritten) work.
make_prefix() {
  say "copying ${dev_packages[*]} into $prefix"
  rm -rf "$prefix"
  mkdir -p "$build" "$prefix"
  dpkg-query -L "${dev_packages[@]}" | grep -E "^(/usr/include|$libdir)/" | sort -u |
    while IFS= read -r f; do [ -d "$f" ] && [ ! -L "$f" ] || echo "${f#/usr/}"; done >"$build/files.txt"
  tar -C /usr --no-recursion -cf - -T "$build/files.txt" | tar -C "$prefix" -xf -
  # A linker name (lib*.so) points to the shared library of the runtime package: that is copied too,
  # under its file name and its SONAME, so the programs built here run with the prefix's copy (found
  # through the build tree's RPATH), and the link name is made relative to it.
  while IFS= read -r rel; do
    [[ $rel == *.so ]] && [ -L "/usr/$rel" ] || continue
    real=$(readlink -f "/usr/$rel")
    dir=$prefix/$(dirname "$rel")
    cp "$real" "$dir/"
    ln -sfn "$(basename "$real")" "$prefix/$rel"
    soname=$(objdump -p "$real" | awk '$1 == "SONAME" { print $2 }')
    [ -z "$soname" ] || [ -e "$dir/$soname" ] || ln -s "$(basename "$real")" "$dir/$soname"
  done <"$build/files.txt"
  # What to hide: the entry directly below /usr/include or the library directory, or below its cmake/
  # and pkgconfig/ (those directories themselves are shared with other packages).
  awk -F/ -v ma="lib/$multiarch" '
    $1 == "include" { print "/usr/include/" $2; next }
    index($0, ma "/cmake/") == 1 || index($0, ma "/pkgconfig/") == 1 { print "/usr/" ma "/" $3 "/" $4; next }
    { print "/usr/" ma "/" $3 }' "$build/files.txt" | sort -u >"$build/hidden.txt"
  for pc in "$prefix/lib/$multiarch/pkgconfig"/*.pc; do
    sed -i "s|^prefix=.*|prefix=$prefix|" "$pc"
  done
}

if [ -z "${RTY_RELOCATED_INSIDE:-}" ]; then
  # The prefix is made once per set of package versions: later runs reuse it (and ccache their compiles).
  stamp="$(dpkg-query -W -f='${Package}=${Version}\n' "${dev_packages[@]}") $multiarch"
  if [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$stamp" ] && [ -s "$build/hidden.txt" ]; then
    say "reusing the prefix $prefix"
  else
    make_prefix
    echo "$stamp" >"$prefix/.stamp"
  fi
  say "hiding $(wc -l <"$build/hidden.txt") system entries ($build/hidden.txt)"
  export RTY_RELOCATED_INSIDE=1
  exec unshare -m --propagation private "$0" "$src" "$build" "${targets[@]}"
fi

# --- 2. inside the private mount namespace: whiteouts over the system copies.
wh=$build/whiteouts
mkdir -p "$wh"
mount -t tmpfs -o mode=0755 rty-whiteouts "$wh"
mkdir -p "$wh/include" "$wh/lib"
while IFS= read -r path; do
  case $path in
    /usr/include/*) w=$wh/include/${path#/usr/include/} ;;
    "$libdir"/*) w=$wh/lib/${path#"$libdir"/} ;;
    *) say "unexpected path to hide: $path"; exit 1 ;;
  esac
  mkdir -p "$(dirname "$w")"
  mknod "$w" c 0 0  # an overlayfs whiteout: the entry below is gone
done <"$build/hidden.txt"
# whiteouts/lib/cmake/ and pkgconfig/ are plain directories: overlayfs merges them with the system's.
mount -t overlay rty-include -o "lowerdir=$wh/include:/usr/include" /usr/include
mount -t overlay rty-lib -o "lowerdir=$wh/lib:$libdir" "$libdir"
while IFS= read -r path; do
  if [ -e "$path" ] || [ -L "$path" ]; then say "still visible after hiding: $path"; exit 1; fi
done <"$build/hidden.txt"
if pkg-config --exists libssh2 2>/dev/null; then say "pkg-config still finds the system libssh2"; exit 1; fi
echo '#include <boost/version.hpp>' | g++ -x c++ -fsyntax-only - 2>/dev/null &&
  { say "the compiler still finds the system Boost headers"; exit 1; }
say "system copies hidden; configuring with CMAKE_PREFIX_PATH=$prefix only"

# --- 3. configure and build with only the prefix.
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$prefix" \
  -DRTY_WERROR=ON >"$build/configure.log" 2>&1 || { cat "$build/configure.log" >&2; exit 1; }
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "${targets[@]}"

# --- 4. the binaries use the prefix's libraries.
rc=0
check_lib() {  # <binary> <library name>
  local bin line
  bin=$(find "$build" -path "$build/prefix" -prune -o -type f -name "$1" -perm -u+x -print -quit)
  [ -n "$bin" ] || { say "built no $1"; rc=1; return; }
  line=$(ldd "$bin" | grep "$2" || true)
  case $line in
    *"$prefix/"*) say "$1: $2 from the prefix" ;;
    *) say "$1 does not load $2 from $prefix: ${line:-not linked}"; rc=1 ;;
  esac
}
for t in "${targets[@]}"; do
  case $t in
    test_config) check_lib test_config libyaml-cpp ;;
    test_launch) check_lib test_launch libssh2 ;;
    test_pilot_http) check_lib test_pilot_http libz.so ;;
    test_common) check_lib test_common libboost_json ;;
  esac
done
exit $rc
