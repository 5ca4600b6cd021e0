# test: cpython-only (starts the simulation: MicroPython meter, slaves process, ptys)
# `tools/sim.py` with the simulated wired M-Bus meters: scheduled reads of the four
# devices and their events reach events.jsonl and the summary, and the meter's ring
# holds the data sets as the slaves sent them.
import json
import os
import subprocess
import sys

import store
import support
from mbus.schedule import unpack_record, SCHEDULED

SIM = os.path.join(support.REPO, "tools", "sim.py")


def _tail(path, lines=30):
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:])
    except OSError as exc:
        return str(exc)


def test_sim_reads_the_four_simulated_meters_and_shows_their_events():
    out = support.tmpdir("mbus-sim")
    try:
        done = subprocess.run([sys.executable, SIM, "--seconds", "12", "--speed", "1440", "--out", out,
                               "--no-mep-device"], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stdout + done.stderr
        with open(os.path.join(out, "events.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        reads = [e for e in events if e.get("kind") == "mbus_read"]
        assert {r["name"] for r in reads} == {"gas", "water", "heat", "water2"}, reads
        failed = [r for r in reads if r["result"] != "ok"]
        assert not failed, "failed reads %r\nslaves: %s" % (failed, _tail(os.path.join(out, "mbus_slaves.log")))
        scheduled = [r["name"] for r in reads if r["read"] == "scheduled"]
        # 12 s at x1440 is about 4.8 calendar hours: gas and heat are read every hour.
        assert scheduled.count("gas") >= 3 and scheduled.count("heat") >= 3, scheduled
        raised = {(e["name"], e["event"]) for e in events if e.get("kind") == "mbus_event" and e["state"] == "raised"}
        assert {("heat", "temporary_error"), ("heat", "error_records"), ("water2", "temporary_error")} <= raised
        summary = json.load(open(os.path.join(out, "summary.json")))
        assert summary["mbus"]["reads"] == len(reads) and summary["devices"]["meter"]["starts"] == 1
        assert "mbus gas" in done.stdout  # the view (not a terminal here: one line per read)
        ring = store.Ring(os.path.join(out, "meter", "data", "mbus"), 4096, 8)
        stored = [unpack_record(data) for _, data in ring.records()]
        ring.close()
        assert len(stored) == len(scheduled) and all(r[1] == SCHEDULED for r in stored)
        heat = [r for r in stored if r[0] == 2]
        assert heat and all(len(r[4]) == 2 and r[4][0][-3] == 0x1F for r in heat)
        assert os.path.getsize(os.path.join(out, "mbus_slaves.log")) > 0
    finally:
        support.rmtree(out)
