#!/usr/bin/env bash
# Runs the built raythenad: --help, --version, --help-keys, and --validate on a generated site tree, checking
# exit codes 0 (clean), 1 (a check failed), 2 (config not loadable) and that --json output parses.
set -uo pipefail
build=${RTY_BUILD_DIR:?} src=${RTY_SOURCE_DIR:?}
bin=$build/src/coordinator/raythenad
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
failures=0
fail() { echo "FAILED: $*" >&2; failures=$((failures + 1)); }
expect_rc() {  # expect_rc <rc> <description> <command...>
  local want=$1 what=$2; shift 2
  "$@" >"$tree/out" 2>"$tree/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, expected $want"; cat "$tree/out" "$tree/err" >&2; }
}

expect_rc 0 "--help" "$bin" --help
grep -q -- "--ray-workdir" "$tree/out" || fail "--help does not list --ray-workdir"
expect_rc 0 "--version" "$bin" --version
grep -q "^raythenad [0-9]" "$tree/out" || fail "--version output: $(cat "$tree/out")"
expect_rc 0 "--help-keys" "$bin" --help-keys
grep -q "ray.stubgrace" "$tree/out" || fail "--help-keys lacks ray.stubgrace"
# The man page the build generated is what the built program prints, and roff renders it cleanly.
expect_rc 0 "--help-man" "$bin" --help-man
cmp -s "$tree/out" "$build/man/raythenad.1" || fail "$build/man/raythenad.1 differs from raythenad --help-man"
if command -v groff >/dev/null; then
  groff -man -ww -z "$build/man/raythenad.1" 2>"$tree/groff" || fail "groff failed on raythenad.1"
  [ ! -s "$tree/groff" ] || fail "groff warnings on raythenad.1: $(cat "$tree/groff")"
  groff -man -Tutf8 "$build/man/raythenad.1" 2>/dev/null | grep -q "ray.statusaddress" || fail "rendered man page lacks ray.statusaddress"
else
  echo "groff not installed: raythenad.1 not rendered"
fi

python3 "$src/tests/fakes/rtysite.py" make "$tree/site" >/dev/null || fail "rtysite.py make"
printf '12:00:00\n02:00:00\n' >"$tree/site/workdir/jobtimeout.txt"
printf '#!/bin/sh\nexit 0\n' >"$tree/site/bin/raythena-stub" && chmod +x "$tree/site/bin/raythena-stub"
export RTY_DEMO_DIR=$tree/site HARVESTER_PILOT_CONFIG=$tree/site/pilot/default.cfg
unset SLURM_JOB_ID
# The stub stand-in of the tree, so the check does not depend on raythena-stub being built.
stub_conf=$tree/demo.yaml
sed "s|^  # ray.stubexecutable defaults.*|  stubexecutable: \${RTY_DEMO_DIR}/bin/raythena-stub|" "$src/conf/demo.yaml" >"$stub_conf"

expect_rc 0 "validate demo tree" "$bin" --validate --config "$stub_conf"
grep -q "^OK pilotconfig: " "$tree/out" || fail "no OK pilotconfig line"
! grep -q "^FAIL\|^WARN" "$tree/out" || fail "demo tree not clean: $(cat "$tree/out")"

expect_rc 0 "validate --json" "$bin" --validate --json --config "$stub_conf"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert isinstance(d["checks"], list) and d["checks"], "no checks"
assert all(set(c) == {"name", "status", "detail"} for c in d["checks"]), "check shape"
assert d["config"]["ray"]["launcher"] == "local", d["config"]["ray"]["launcher"]
assert d["config"]["ray"]["workdir"] == sys.argv[2] + "/workdir", d["config"]["ray"]["workdir"]
' "$tree/out" "$RTY_DEMO_DIR" || fail "--json output does not parse or lacks fields"

# Environment variables are flags too (RAYTHENA_VALIDATE, RAYTHENA_CONFIG, RAYTHENA_NODES).
RAYTHENA_VALIDATE=1 RAYTHENA_CONFIG=$stub_conf RAYTHENA_NODES=3 expect_rc 0 "validate via RAYTHENA_*" "$bin"
grep -q "3 stub(s)" "$tree/out" || fail "RAYTHENA_NODES not applied: $(grep launcher "$tree/out")"

rm "$tree/site/pilot/runpilot2-wrapper.sh"
expect_rc 1 "validate broken tree" "$bin" --validate --config "$stub_conf"
grep -q "^FAIL pilotwrapper: " "$tree/out" || fail "no FAIL pilotwrapper line"
expect_rc 1 "validate broken tree --json" "$bin" --validate --json --config "$stub_conf"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(c["status"]=="FAIL" for c in d["checks"])' \
  "$tree/out" || fail "--json of a broken tree"

expect_rc 2 "missing config" "$bin" --validate --config "$tree/nonexistent.yaml"
grep -q "Could not find config file" "$tree/err" || fail "missing config message: $(cat "$tree/err")"
printf 'payload:\n  pandaqueue: [oops\n' >"$tree/bad.yaml"
expect_rc 2 "malformed config" "$bin" --validate --config "$tree/bad.yaml"
grep -q "bad.yaml:[0-9]*:[0-9]*: malformed YAML" "$tree/err" || fail "malformed message: $(cat "$tree/err")"
expect_rc 2 "unknown flag" "$bin" --no-such-flag

[ "$failures" -eq 0 ] && echo "raythenad CLI: all checks passed"
exit $((failures > 0))
