#!/usr/bin/env python3
"""slurm/harvester-template.sh as Harvester's SlurmSubmitter renders it: str.format_map with a dict
whose missing keys render as themselves ({key}), with the placeholders nNode, accessPoint and workerID
filled. The rendered script must parse (bash -n), carry the values into its #SBATCH lines and exports,
and, run with stand-ins for squeue and raythenad (the real slurm/raythenad.sbatch behind it), call
`raythenad --validate` before raythenad itself, and not start the run when the check fails."""
import os
import stat
import subprocess
import sys
import tempfile

SRC = os.environ.get("RTY_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TEMPLATE = os.path.join(SRC, "slurm", "harvester-template.sh")
failures = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what, file=sys.stderr)
    if not cond:
        failures.append(what)


class MissingAsItself(dict):  # what Harvester's format_map dict does with keys it does not know
    def __missing__(self, key):
        return "{" + key + "}"


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


FAKE_RAYTHENAD = r"""#!/bin/bash
echo "$*" >>"$FAKE_LOG"
if [ "$1" = --validate ]; then
  wd=$RAYTHENA_RAY_WORKDIR
  if [ "$2" = --json ]; then
    printf '{"checks":[],"config":{"payload":{"timemonitorfile":"jobtimeout.txt"},"ray":{"workdir":"%s"}}}\n' "$wd"
    exit 0
  fi
  echo "OK workdir: ray.workdir=$wd"
  [ -n "$FAKE_FAIL" ] && { echo "FAIL pilotconfig: $FAKE_FAIL"; exit 1; }
  exit 0
fi
exit 0
"""


def main():
    with open(TEMPLATE) as f:
        template = f.read()
    values = {"nNode": 3, "accessPoint": "/scratch/harvester/workdir/panda/1234", "workerID": 1234,
              "nCorePerNode": 128}
    try:
        rendered = template.format_map(MissingAsItself(values))
    except (ValueError, KeyError, IndexError) as e:
        check(False, "Harvester cannot render the template: %s" % e)
        return
    check("{nNode}" not in rendered and "{accessPoint}" not in rendered and "{workerID}" not in rendered,
          "every placeholder filled")
    for line in ("#SBATCH -N 3", "#SBATCH -o /scratch/harvester/workdir/panda/1234/1234.out",
                 "#SBATCH -e /scratch/harvester/workdir/panda/1234/1234.err",
                 "export HARVESTER_ACCESS_POINT=/scratch/harvester/workdir/panda/1234",
                 "export HARVESTER_WORKER_ID=1234", "export HARVESTER_NNODE=3"):
        check(line in rendered.splitlines(), "rendered line: " + line)
    with tempfile.TemporaryDirectory(prefix="rty-harvester-template.") as work:
        script = os.path.join(work, "submit.sh")
        write(script, rendered, 0o755)
        r = subprocess.run(["bash", "-n", script], capture_output=True, text=True)
        check(r.returncode == 0, "bash -n: %s" % r.stderr.strip())

        # Run it: a fake install prefix whose share/ holds the real raythenad.sbatch.
        prefix = os.path.join(work, "prefix")
        os.makedirs(os.path.join(prefix, "bin"))
        os.makedirs(os.path.join(prefix, "share", "raythenad", "slurm"))
        os.symlink(os.path.join(SRC, "slurm", "raythenad.sbatch"),
                   os.path.join(prefix, "share", "raythenad", "slurm", "raythenad.sbatch"))
        write(os.path.join(prefix, "bin", "raythenad"), FAKE_RAYTHENAD, 0o755)
        fakebin = os.path.join(work, "fakebin")
        os.makedirs(fakebin)
        write(os.path.join(fakebin, "squeue"), "#!/bin/bash\necho 2:00:00\n", 0o755)
        access = os.path.join(work, "access")
        conf = os.path.join(work, "site.yaml")
        write(conf, "payload: {}\n")
        text = rendered.replace("/scratch/harvester/workdir/panda/1234", access)
        lines = []
        for line in text.splitlines():
            if line.startswith("export RAYTHENAD_PREFIX="):
                line = "export RAYTHENAD_PREFIX=" + prefix
            elif line.startswith("export RAYTHENA_CONFIG="):
                line = "export RAYTHENA_CONFIG=" + conf
            lines.append(line)
        write(script, "\n".join(lines) + "\n", 0o755)
        log = os.path.join(work, "calls")
        base = {"PATH": fakebin + ":/usr/bin:/bin", "HOME": work, "SLURM_JOB_ID": "77", "FAKE_LOG": log}

        def run(extra):
            if os.path.exists(log):
                os.unlink(log)
            env = dict(base, **extra)
            p = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=60, cwd=work)
            calls = open(log).read().splitlines() if os.path.exists(log) else []
            return p, calls

        p, calls = run({})
        check(p.returncode == 0, "the job ran raythenad (exit %s): %s" % (p.returncode, p.stderr[-400:]))
        run_call = "--config %s --launcher srun" % conf
        check(calls == ["--validate --json " + run_call, "--validate " + run_call, run_call],
              "raythenad --validate (--json, then the check), then raythenad itself: %s" % calls)
        check(os.path.exists(os.path.join(access, "jobtimeout.txt")), "time-monitor file in the access point")
        check("OK workdir: ray.workdir=" + access in p.stderr + p.stdout, "the check's lines in the job output")
        p, calls = run({"FAKE_FAIL": "missing.cfg does not exist"})
        check(p.returncode == 2, "a failing check ends the job with exit 2 (got %s)" % p.returncode)
        check(run_call not in calls, "a failing check: raythenad itself not started: %s" % calls)
        check("FAIL pilotconfig" in p.stdout + p.stderr, "a failing check: its FAIL line in the job output")
    if failures:
        sys.exit(1)
    print("PASS: harvester template", file=sys.stderr)


if __name__ == "__main__":
    main()
