#!/usr/bin/env python3
"""Builds a complete fake site tree for conf/demo.yaml (and conf/ssh-debug.yaml) under DIR.

    make_site_tree.py DIR [--queue DEMO_QUEUE] [--port 8080]

Then:  RTY_DEMO_DIR=DIR HARVESTER_PILOT_CONFIG=DIR/pilot/default.cfg raythenad --validate --config conf/demo.yaml
Stand-ins only: the wrapper and pilot.py do nothing; they exist so the validation mode and tests have a tree.
"""
import argparse
import json
import os
import stat


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--queue", default="DEMO_QUEUE")
    p.add_argument("--port", type=int, default=8080)
    a = p.parse_args()
    d = os.path.abspath(a.dir)
    for sub in ("workdir", "taskprogress", "harvester", "pilot/pilot3", "bin"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    queuedata = os.path.join(d, "harvester", a.queue + "_queuedata.json")
    write(queuedata, json.dumps({"container_type": "none", "container_options": ""}) + "\n")
    write(os.path.join(d, "harvester", "panda_harvester.cfg"),
          "# fake Harvester configuration (configparser dialect)\n"
          "[payload_interaction]\n"
          "jobSpecFile = HPCJobs.json\n"
          "jobRequestFile = worker_requestjob.json\n"
          "eventRangesFile = JobsEventRanges.json\n"
          "eventRequestFile = worker_requestevents.json\n"
          "eventStatusDumpJsonFile = event_status.dump.json\n"
          "jobReportFile = jobReport.json\n"
          "xmlPoolCatalogFile = PoolFileCatalog_H.xml\n"
          "pandaIDsFile = worker_pandaids.json\n\n"
          "[cacher]\n"
          "data =\n"
          f"    {a.queue}|pandaQueues|http://127.0.0.1/none|{queuedata}\n")
    write(os.path.join(d, "pilot", "default.cfg"),
          "[Pilot]\n"
          f"pandaserver = http://127.0.0.1:{a.port}\n"
          "http_maxtime = 120\n")
    write(os.path.join(d, "workdir", "jobtimeout.txt"), "12:00:00\n02:00:00\n")
    write(os.path.join(d, "pilot", "runpilot2-wrapper.sh"), "#!/bin/sh\nexit 0\n", 0o755)
    write(os.path.join(d, "pilot", "pilot3", "pilot.py"), "# stand-in\n")
    write(os.path.join(d, "bin", "raythena-stub"), "#!/bin/sh\nexit 0\n", 0o755)
    print(d)


if __name__ == "__main__":
    main()
