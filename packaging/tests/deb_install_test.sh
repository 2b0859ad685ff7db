#!/usr/bin/env bash
# The Debian package, used as installed: `cpack -G DEB` from this build tree, `dpkg-deb -x` into a
# temporary root, then
#   - the package holds the binaries (no RPATH), the man page, conf/, slurm/, the systemd unit (pointing
#     at /usr/bin), the sysusers file, the README, copyright and changelog, and declares its library
#     dependencies;
#   - the installed conf examples validate with the installed raythenad (tests/config/conf_examples_test.sh
#     run against the installed tree);
#   - the demo job runs with the installed raythenad and the installed conf/demo.yaml: raythenad starts
#     the raythena-stub beside itself (the extracted usr/bin), and every event ends up merged once.
#   - lintian reports no error (warnings are printed).
# Exit 77 (skipped) without dpkg-deb or dpkg-shlibdeps (package dpkg-dev); without lintian (package
# lintian) its check is left out with a note. In CI as root (env CI set, uid 0), where bootstrap.sh test
# installs all of them, a missing one is a failure instead (as in tests/cluster/lib.sh). Runs in seconds.
set -euo pipefail
build=${RTY_BUILD_DIR:?} src=${RTY_SOURCE_DIR:?}
in_ci_as_root() { [ -n "${CI:-}" ] && [ "$EUID" -eq 0 ]; }
for tool in dpkg-deb dpkg-shlibdeps cpack readelf; do
  command -v "$tool" >/dev/null && continue
  if in_ci_as_root; then
    echo "FAILED: no $tool (Debian package dpkg-dev / binutils); CI as root must run this test" >&2
    exit 1
  fi
  echo "SKIPPED: no $tool (Debian package dpkg-dev / binutils)" >&2
  exit 77
done
if ! command -v lintian >/dev/null && in_ci_as_root; then
  echo "FAILED: lintian is missing (Debian package lintian; bootstrap.sh test installs it); CI as root must run this test" >&2
  exit 1
fi
tmp=$(mktemp -d)
raythenad_pid=
cleanup() {
  if [ -n "$raythenad_pid" ]; then kill "$raythenad_pid" 2>/dev/null || true; wait "$raythenad_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }

# --- the package
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1 ||
  { cat "$tmp/cpack.log" >&2; echo "FAILED: cpack -G DEB" >&2; exit 1; }
debs=("$tmp"/pkg/raythenad_*_*.deb)
[ -f "${debs[0]}" ] || { ls -l "$tmp/pkg" >&2; echo "FAILED: no raythenad_<version>_<arch>.deb" >&2; exit 1; }
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version) arch=$(dpkg-deb -f "$deb" Architecture)
[ "$(basename "$deb")" = "raythenad_${version}_${arch}.deb" ] || fail "file name $(basename "$deb") for version $version, $arch"
echo "package: $(basename "$deb")"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libboost-json libboost-program-options libyaml-cpp libssh2 zlib1g libstdc++6; do
  [[ $depends == *"$lib"* ]] || fail "Depends does not name $lib"
done

root=$tmp/root
dpkg-deb -x "$deb" "$root"
for f in usr/bin/raythenad usr/bin/raythena-stub usr/share/man/man1/raythenad.1.gz \
  usr/share/raythenad/conf/demo.yaml usr/share/raythenad/conf/slurm-site.yaml \
  usr/share/raythenad/conf/ssh-debug.yaml usr/share/raythenad/slurm/raythenad.sbatch \
  usr/lib/systemd/system/raythenad@.service usr/lib/sysusers.d/raythenad.conf \
  usr/share/doc/raythenad/README.md usr/share/doc/raythenad/docs/install.md usr/share/doc/raythenad/copyright usr/share/doc/raythenad/changelog.gz; do
  [ -e "$root/$f" ] || fail "the package has no /$f"
done
for b in raythenad raythena-stub; do
  [ -x "$root/usr/bin/$b" ] || continue
  if readelf -d "$root/usr/bin/$b" | grep -qE 'R(UN)?PATH'; then fail "/usr/bin/$b has an RPATH"; fi
done
grep -q '^ExecStart=/usr/bin/raythenad ' "$root/usr/lib/systemd/system/raythenad@.service" ||
  fail "the unit does not start /usr/bin/raythenad"
if grep -n '/usr/local' "$root/usr/lib/systemd/system/raythenad@.service"; then fail "the unit names /usr/local"; fi
[ -x "$root/usr/share/raythenad/slurm/raythenad.sbatch" ] || fail "raythenad.sbatch is not executable"
"$root/usr/bin/raythenad" --version >/dev/null || fail "the installed raythenad --version"

# --- the installed conf examples validate with the installed raythenad (the check of
# tests/config, pointed at a build and source tree made of the installed files).
mkdir -p "$tmp/ibuild/src/coordinator" "$tmp/isrc"
ln -s "$root/usr/bin/raythenad" "$tmp/ibuild/src/coordinator/raythenad"
ln -s "$root/usr/share/raythenad/conf" "$tmp/isrc/conf"
ln -s "$src/tests" "$tmp/isrc/tests"
RTY_BUILD_DIR=$tmp/ibuild RTY_SOURCE_DIR=$tmp/isrc "$src/tests/config/conf_examples_test.sh" >"$tmp/conf.log" 2>&1 ||
  { cat "$tmp/conf.log" >&2; fail "the installed conf examples do not validate"; }
grep -q 'conf examples: all validate' "$tmp/conf.log" || fail "conf_examples_test.sh did not finish"

# --- the demo job with the installed tree (the steps of tests/fakes/run_demo.sh).
export RTY_DEMO_DIR=$tmp/demo
python3 "$src/tests/fakes/rtysite.py" make "$RTY_DEMO_DIR" --inputs 2 --events 20 --events-per-output 10 >/dev/null
export HARVESTER_PILOT_CONFIG=$RTY_DEMO_DIR/pilot/default.cfg
export FAKE_PILOT_REPORT_INTERVAL=1 FAKE_PILOT_COMM_SLEEP=0.2
unset RAYTHENA_CONFIG RAYTHENA_LAUNCHER RAYTHENA_SSH_HOSTS RAYTHENA_NODES SLURM_JOB_ID
conf=$root/usr/share/raythenad/conf/demo.yaml
"$root/usr/bin/raythenad" --validate --config "$conf" --ray-head-ip 127.0.0.1 >"$tmp/validate.out" 2>&1 ||
  { cat "$tmp/validate.out" >&2; fail "--validate of the installed demo.yaml"; }
# The stub raythenad starts is the one beside it in the extracted tree (ray.stubexecutable unset).
grep -q "^OK stub: ray.stubexecutable=$root/usr/bin/raythena-stub " "$tmp/validate.out" ||
  { cat "$tmp/validate.out" >&2; fail "the installed raythenad does not pick $root/usr/bin/raythena-stub"; }
"$root/usr/bin/raythenad" --config "$conf" 2>"$RTY_DEMO_DIR/raythenad.log" &
raythenad_pid=$!
rc=0
wait "$raythenad_pid" || rc=$?
raythenad_pid=
if [ "$rc" -ne 0 ]; then tail -n 40 "$RTY_DEMO_DIR/raythenad.log" >&2; fail "the installed raythenad exited $rc"; fi
python3 "$src/tests/fakes/rtysite.py" verify "$RTY_DEMO_DIR" >"$tmp/verify.json" 2>&1 ||
  { cat "$tmp/verify.json" >&2; fail "the demo's outputs do not verify"; }

# lintian (bootstrap.sh test installs it): no error may be reported; warnings are shown.
if command -v lintian >/dev/null; then
  lintian --fail-on error "$deb" >"$tmp/lintian.out" 2>&1 || { cat "$tmp/lintian.out" >&2; fail "lintian reports errors"; }
  sed 's/^/lintian: /' "$tmp/lintian.out" | grep -v 'running with root privileges' || true
else
  echo "lintian: not installed, not run (apt-get install lintian; lintian $(basename "$deb"))"
fi

[ "$failures" -eq 0 ] || { echo "$failures failure(s)" >&2; exit 1; }
echo "deb install test: $(basename "$deb") installs, validates and runs the demo"
