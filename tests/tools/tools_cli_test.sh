#!/usr/bin/env bash
# The built raythenad dispatches `report` and `status --all/--jobid`: exit codes and first lines.
set -uo pipefail
bin=${RTY_BUILD_DIR:?}/src/coordinator/raythenad
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() {  # expected description command...
  local want=$1 what=$2; shift 2
  "$@" >"$tree/out" 2>"$tree/err"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "$what: exit $rc, expected $want; stderr: $(cat "$tree/err")"
}
expect_rc 0 "report --help" "$bin" report --help
grep -q "^Usage: raythenad report DIR" "$tree/out" || fail "report --help: $(head -1 "$tree/out")"
expect_rc 1 "report on an empty directory" "$bin" report "$tree"
grep -q "is neither a task directory" "$tree/err" || fail "report error: $(cat "$tree/err")"
expect_rc 2 "report without DIR" "$bin" report
mkdir -p "$tree/task"
printf '{"simulated":{},"merging":{},"merged":{"IN":{"OUT":{"path":"/x/OUT","guid":"G"}}},"failed":{}}' >"$tree/task/state.json"
expect_rc 0 "report on a task directory" "$bin" report "$tree/task"
grep -q ": finished$" "$tree/out" || fail "report: $(head -1 "$tree/out")"
expect_rc 0 "status --all" "$bin" status --all "$tree"
grep -q "finished" "$tree/out" || fail "status --all: $(cat "$tree/out")"
expect_rc 2 "status --jobid with a bad id" "$bin" status --jobid '1;true'
# Into files first: `grep -q` stops reading at the first match, and under pipefail the writer's
# SIGPIPE would fail the check whenever the text is longer than the pipe buffer.
"$bin" --help >"$tree/help"
grep -q "raythenad report DIR" "$tree/help" || fail "--help does not mention raythenad report"
"$bin" --help-man >"$tree/man"
grep -q "Usage: raythenad report DIR" "$tree/man" || fail "the man page lacks the report command"
echo "tools CLI ok"
