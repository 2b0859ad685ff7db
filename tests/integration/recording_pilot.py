#!/usr/bin/env python3
"""The fake pilot (tests/fakes/fake_pilot.py) as payload.pilotwrapper, with two test-only additions:

- every range it starts to simulate is appended to $E2E_RECORD as "<eventRangeID> <node>" (one
  O_APPEND write per line, so lines from concurrent pilots never interleave); the end-to-end tests
  use it to prove that no recorded event is simulated again after a resume;
- $E2E_NODE_ENV_<node> ("KEY=VALUE;KEY=VALUE", node id with '-' as '_') sets fake-pilot knobs on one
  node only (the node is the name of pilot's working directory, the stub's actor dir, or of its parent
  for a restarted pilot's attempt-<k> directory).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

# A restarted pilot runs in <node dir>/attempt-<k> (payload.pilotrestarts).
_cwd = os.getcwd()
NODE = os.path.basename(os.path.dirname(_cwd) if os.path.basename(_cwd).startswith("attempt-") else _cwd)
for item in filter(None, os.environ.get("E2E_NODE_ENV_" + NODE.replace("-", "_"), "").split(";")):
    key, _, value = item.partition("=")
    os.environ[key] = value

import fake_pilot  # noqa: E402  (after the per-node environment is in place)

RECORD = os.environ.get("E2E_RECORD", "")
_process = fake_pilot.FakePilot.process


def recording_process(self, r):
    if RECORD and isinstance(r, dict) and "eventRangeID" in r:
        fd = os.open(RECORD, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, ("%s %s\n" % (r["eventRangeID"], NODE)).encode())
        finally:
            os.close(fd)
    return _process(self, r)


fake_pilot.FakePilot.process = recording_process

if __name__ == "__main__":
    sys.exit(fake_pilot.main())
