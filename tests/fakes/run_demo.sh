#!/usr/bin/env bash
# The demo job (README's first command): a Harvester access point with a job of 4 input files x 50
# events merged 25 events per output (1->N), processed by raythenad with the shipped conf/demo.yaml:
# the local launcher, 2 stubs, the fake pilot in place of pilot3+AthenaMP, the fake HITS merge.
# Usage: run_demo.sh BUILD_DIR      (RTY_DEMO_DIR: where the demo tree goes, default BUILD_DIR/demo-run)
set -euo pipefail
build=${1:?usage: run_demo.sh BUILD_DIR}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export RTY_DEMO_DIR=${RTY_DEMO_DIR:-$build/demo-run}
rm -rf "$RTY_DEMO_DIR"
# The site's bin/HITSMerge_tf.py is this build's fake_merge_tf (tests/fakes/fake_merge_tf.cpp).
RTY_BUILD_DIR=$build python3 "$src/tests/fakes/rtysite.py" make "$RTY_DEMO_DIR" --inputs 4 --events 50 --events-per-output 25 >/dev/null
export HARVESTER_PILOT_CONFIG=$RTY_DEMO_DIR/pilot/default.cfg
# The fake pilot runs pilot3's threads at 5x pilot3's pace (report timer 1 s, communicator loop 0.2 s):
# the same order of calls, a demo of seconds rather than a minute. Unset both for pilot3's own pace.
export FAKE_PILOT_REPORT_INTERVAL=${FAKE_PILOT_REPORT_INTERVAL:-1} FAKE_PILOT_COMM_SLEEP=${FAKE_PILOT_COMM_SLEEP:-0.2}
raythenad=$build/src/coordinator/raythenad

echo "== checking the demo site with: raythenad --validate --config conf/demo.yaml"
"$raythenad" --validate --config "$src/conf/demo.yaml" --ray-head-ip 127.0.0.1 | sed 's/^/   /' || true
echo "== running the demo job (log: $RTY_DEMO_DIR/raythenad.log)"
start=$(date +%s.%N)
set +e
"$raythenad" --config "$src/conf/demo.yaml" 2>"$RTY_DEMO_DIR/raythenad.log"
rc=$?
set -e
end=$(date +%s.%N)
grep -E '\| (Driver) \| (status|job )' "$RTY_DEMO_DIR/raythenad.log" | sed 's/^/   /' || true
echo "== raythenad exited with $rc after $(printf '%.1f' "$(echo "$end - $start" | bc)") s"
python3 "$src/tests/fakes/rtysite.py" verify "$RTY_DEMO_DIR" >"$RTY_DEMO_DIR/verify.json" || {
  cat "$RTY_DEMO_DIR/verify.json"; echo "== demo FAILED verification"; exit 1; }
python3 - "$RTY_DEMO_DIR" <<'PY'
import json, os, sys
root = sys.argv[1]
v = json.load(open(os.path.join(root, "verify.json")))
final = os.path.join(root, "taskprogress", "40000001", "final")
print("== demo OK: %d events of %d input files, each in exactly one of %d merged outputs in %s"
      % (v["events_merged"], v["inputs"], len(os.listdir(final)), final))
print("   final job report for Harvester: %s" % os.path.join(root, "workdir", "jobReport.json"))
PY
exit "$rc"
