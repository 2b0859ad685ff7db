#!/usr/bin/env python3
"""Stand-in for HITSMerge_tf.py (tests only; Python 3 standard library).

Accepts the arguments the real transform gets from an esmergeSpec:
  --inputHitsFile=@file_list | --inputHitsFile @file_list | --inputHitsFile a b c | --inputHitsFile=a,b
  (also --inputHITSFile), --outputHitsFile=X | --outputHitsFile X (also --outputHITSFile),
  --AMITag, --maxEvents, --skipEvents; any other --key=value (or --key value) is ignored.
A word "@path" is replaced by the lines of that file, as argparse's fromfile_prefix_chars does.

Checks that every input exists and is non-empty (exit 1 with a message otherwise), writes the output
as the concatenation of the inputs in the order given, and writes jobReport.json in the current
directory in the real shape: files.input[0].subFiles[{name}], files.output[0].subFiles[{name,
file_guid (fresh upper-case uuid4), nentries}], exitCode 0. nentries = number of input files (the fakes
write one event per per-range file).

Fault knobs (environment):
  FAKE_MERGE_FAIL_ONCE_DIR=<dir>     first attempt for each output fails; remembered as <dir>/<output>.failed
  FAKE_MERGE_FAIL_ALWAYS=<substring> every attempt fails for outputs whose name contains it
  FAKE_MERGE_SLOW=<seconds>          a slow merge: waits that long before writing its output (after
                                     printing "fake_merge_tf: pid <pid> merging slowly")
  FAKE_MERGE_DURATION=<base>:<per_input>  a merge-duration model: the merge takes base + per_input x
                                     (number of inputs) seconds (HITSMerge_tf: a fixed set-up cost, then
                                     reading and writing every event), times FAKE_MERGE_TIME_SCALE (default
                                     1); added to FAKE_MERGE_SLOW
  FAKE_MERGE_DETACH=1                the work is done by a forked child, the started process only waits
                                     for it and passes its exit status on, as a container runtime
                                     does: a parent-death signal reaches the waiting process, not the
                                     worker (printed as "fake_merge_tf: worker pid <pid>")
"""
import json
import os
import sys
import time
import uuid

INPUT_OPTS = ("--inputHitsFile", "--inputHITSFile")
OUTPUT_OPTS = ("--outputHitsFile", "--outputHITSFile")
VALUE_OPTS = ("--AMITag", "--maxEvents", "--skipEvents")


def fail(message):
    print("fake_merge_tf: " + message, file=sys.stderr, flush=True)
    sys.exit(1)


def read_lines(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except OSError as e:
        fail("cannot read argument file %s: %s" % (path, e))


def expand_at_files(words):
    out = []
    for w in words:
        if w.startswith("@") and len(w) > 1:
            out.extend(read_lines(w[1:]))
        else:
            out.append(w)
    return out


def split_value(value):
    if value.startswith("@"):
        return read_lines(value[1:])
    return [v for v in value.split(",") if v]


def parse(argv):
    words = expand_at_files(argv)
    inputs, output, options = [], None, {}
    i = 0
    while i < len(words):
        w = words[i]
        key, eq, value = w.partition("=")
        if key in INPUT_OPTS:
            if eq:
                inputs.extend(split_value(value))
            else:
                i += 1
                while i < len(words) and not words[i].startswith("--"):
                    inputs.extend(split_value(words[i]))
                    i += 1
                continue
        elif key in OUTPUT_OPTS or key in VALUE_OPTS or key.startswith("--"):
            if not eq and i + 1 < len(words) and not words[i + 1].startswith("--"):
                i += 1
                value = words[i]
            if key in OUTPUT_OPTS:
                output = value
            elif key in VALUE_OPTS:
                options[key] = value
        else:
            fail("unexpected argument %r" % w)
        i += 1
    return inputs, output, options


def detach():
    """FAKE_MERGE_DETACH: returns in the worker child; the parent waits for it and exits with its status."""
    pid = os.fork()
    if pid == 0:
        return
    print("fake_merge_tf: worker pid %d" % pid, flush=True)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main():
    print("fake_merge_tf: started with " + " ".join(sys.argv[1:]), flush=True)
    if os.environ.get("FAKE_MERGE_DETACH") == "1":
        detach()
    inputs, output, options = parse(sys.argv[1:])
    if not output:
        fail("no --outputHitsFile given")
    if not inputs:
        fail("no --inputHitsFile given")
    for key in ("--maxEvents", "--skipEvents"):
        if key in options:
            try:
                int(options[key])
            except ValueError:
                fail("%s=%r is not an integer" % (key, options[key]))
    name = os.path.basename(output)

    always = os.environ.get("FAKE_MERGE_FAIL_ALWAYS")
    if always and always in name:
        fail("failing on purpose for %s (FAKE_MERGE_FAIL_ALWAYS=%s)" % (name, always))
    once_dir = os.environ.get("FAKE_MERGE_FAIL_ONCE_DIR")
    if once_dir:
        marker = os.path.join(once_dir, name + ".failed")
        if not os.path.exists(marker):
            os.makedirs(once_dir, exist_ok=True)
            with open(marker, "w") as f:
                f.write("failed once\n")
            fail("failing the first attempt for %s on purpose (FAKE_MERGE_FAIL_ONCE_DIR)" % name)

    for path in inputs:
        if not os.path.isfile(path):
            fail("input file %s does not exist" % path)
        if os.path.getsize(path) == 0:
            fail("input file %s is empty" % path)

    slow = float(os.environ.get("FAKE_MERGE_SLOW") or 0)
    duration = os.environ.get("FAKE_MERGE_DURATION", "")
    if duration:
        try:
            base, per_input = (float(x) for x in duration.split(":"))
            scale = float(os.environ.get("FAKE_MERGE_TIME_SCALE") or 1)
            if min(base, per_input, scale) < 0:
                raise ValueError
        except ValueError:
            fail("FAKE_MERGE_DURATION=%s: expected <base seconds>:<seconds per input>, not negative "
                 "(FAKE_MERGE_TIME_SCALE a non-negative number)" % duration)
        slow += (base + per_input * len(inputs)) * scale
    if slow > 0:
        print("fake_merge_tf: pid %d merging slowly (%g s)" % (os.getpid(), slow), flush=True)
        time.sleep(slow)

    tmp = output + ".fake-merge-tmp"
    with open(tmp, "wb") as out:
        for path in inputs:
            with open(path, "rb") as f:
                out.write(f.read())
    os.replace(tmp, output)

    report = {
        "exitCode": 0,
        "exitMsg": "OK",
        "files": {
            "input": [{"type": "HITS", "subFiles": [{"name": os.path.basename(p)} for p in inputs]}],
            "output": [{"type": "HITS", "subFiles": [{
                "name": name,
                "file_guid": str(uuid.uuid4()).upper(),
                "nentries": len(inputs),
            }]}],
        },
    }
    with open("jobReport.json.tmp", "w") as f:
        json.dump(report, f)
    os.replace("jobReport.json.tmp", "jobReport.json")
    print("fake_merge_tf: merged %d file(s) into %s" % (len(inputs), output), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
