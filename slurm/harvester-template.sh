#!/bin/bash
# harvester-template.sh: a Harvester submit template (SlurmSubmitter's templateFile) for raythenad.
# Harvester fills the words in single braces (nNode, accessPoint, workerID: SlurmSubmitter's
# placeholder map) with Python's str.format_map and submits the result with
# `sbatch -D <accessPoint> <file>`. Other words in braces are left as they are, but braces around a
# colon are a format error for Harvester: write plain $VAR here, never the shell's default-value form
# (dollar, brace, VAR, colon, dash), not even in a comment.
#
# The job: export what Harvester knows, then run raythenad.sbatch (installed with raythenad in
# <prefix>/share/raythenad/slurm), which writes the time-monitor file, runs `raythenad --validate` on
# the batch node (a FAIL ends the job with exit 2 before any stub starts) and execs raythenad. See
# docs/migrating.md for how each line of a Raythena template maps to this one.
#
# Site admin: edit the #SBATCH lines and the "site" block.
#SBATCH --job-name=raythenad
#SBATCH -N {nNode}
#SBATCH -o {accessPoint}/{workerID}.out
#SBATCH -e {accessPoint}/{workerID}.err
#SBATCH --time=02:00:00
# A lost node must not end the allocation: raythenad gives its ranges to the others.
#SBATCH --no-kill
# SIGTERM to raythenad (exec'd, so the batch shell is raythenad) 120 s before the time limit.
#SBATCH --signal=B:TERM@120
# Site extras, for example (NERSC):
##SBATCH -A m2616
##SBATCH -q regular
##SBATCH -C cpu
# Shifter sites: the payload container image, as in Raythena's templates (kept unchanged).
##SBATCH --image=docker:atlas/athena:21.0.15_31.8.1
##SBATCH --module=cvmfs

# --- filled in by Harvester
export HARVESTER_WORKER_ID={workerID}
export HARVESTER_ACCESS_POINT={accessPoint}
export HARVESTER_NNODE={nNode}

# --- site
# raythenad's install prefix, on a filesystem every node sees.
export RAYTHENAD_PREFIX=/global/common/software/atlas/raythenad
# pilot3's config: its [Pilot] pandaserver must be http://127.0.0.1:<payload.serverport>.
export HARVESTER_PILOT_CONFIG=/global/common/software/atlas/raythena-pilot/default.cfg
# The site's Raythena YAML (Raythena's configs load unchanged).
export RAYTHENA_CONFIG=/global/common/software/atlas/raythenad/etc/site.yaml
# Optional overrides, as with Raythena (command line > RAYTHENA_* > YAML):
# export RAYTHENA_PANDA_QUEUE=NERSC_Perlmutter_ES
# export RAYTHENA_CORE_PER_NODE=128
# One address of the batch node that the compute nodes reach (unset: its first non-loopback IPv4
# address). Not $(hostname -i) where it prints several: --validate fails on a value with two.
# export RAYTHENA_RAY_HEAD_IP=10.128.0.1
# After fixing what made merge groups fail: simulate them again on resume.
# export RAYTHENA_RETRY_FAILED=1

# raythenad.sbatch maps HARVESTER_ACCESS_POINT to harvester.endpoint and ray.workdir, reads the
# time-monitor file name from the config, validates, and execs raythenad: its exit code is the job's.
exec bash "$RAYTHENAD_PREFIX/share/raythenad/slurm/raythenad.sbatch" "$RAYTHENA_CONFIG"
