# test: cpython-only
# The MEP between two real MicroPython processes over a socat pty pair: the meter
# firmware and a scripted MEP device (host_tests/mep_probe.py). Table reads, writes,
# procedures, an alert, an urgent transfer acknowledged end to end, and the non-urgent
# area read repeatedly without being cleared.

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import mep_sim
import repo_paths
import support

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


# The whole meter from .py sources (MEP, admin, metrology) needs more than 512K on the
# 64-bit unix port (docs/performance.md); the probe is small.
METER_HEAP = "1M"


def meter_config(root, pty):
    return {
        "app": "meter", "meter_id": "12345678", "log_level": "info", "watchdog_ms": 8000,
        "board": {"console": "json", "storage_dir": root + "/meter", "mep_uart": "pty:" + pty, "air": None,
                  "mbus_uart": None},
        "mep": {"inbox_dir": root + "/inbox", "alert_interval_ms": 300, "status_interval_s": 1},
        "metrology": {"tariffs": 3},
    }


class Rig:
    """socat, a meter process, the MEP key in both stores."""

    def __init__(self):
        if not shutil.which("socat"):
            support.skip("socat is not installed (apt-get install socat)")
        self.root = support.tmpdir("meplink")
        self.link = mep_sim.SocatLink(self.root)
        mep_sim.provision_mep_key([self.root + "/meter", self.root + "/probe"])
        cfg = self.root + "/meter.json"
        with open(cfg, "w") as f:
            json.dump(meter_config(self.root, self.link.a_path), f)
        self.meter_log = open(self.root + "/meter.log", "w")
        self.meter = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + METER_HEAP, "boards/host/main.py", "--config", cfg],
                                      cwd=support.REPO, stdout=self.meter_log, stderr=subprocess.STDOUT)

    def probe(self, *extra):
        return subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", "host_tests/mep_probe.py", self.link.b_path,
                                 self.root + "/probe"] + list(extra),
                                cwd=support.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=repo_paths.micropython_env())

    def inbox(self, message):
        mep_sim.write_inbox(self.root + "/inbox", message)

    def meter_lines(self):
        with open(self.root + "/meter.log") as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    def close(self):
        self.meter.send_signal(signal.SIGINT)
        try:
            self.meter.wait(5)
        except subprocess.TimeoutExpired:
            self.meter.kill()
            self.meter.wait()
        self.meter_log.close()
        self.link.close()
        support.rmtree(self.root)


def test_two_processes_reads_writes_procedures_alert_urgent_and_nonurgent():
    rig = Rig()
    try:
        probe = rig.probe()
        steps = {}
        other = []
        deadline = time.monotonic() + 60
        for line in probe.stdout:
            if not line.startswith("{"):
                other.append(line)
                continue
            fields = json.loads(line)
            steps[fields["step"]] = fields
            if fields["step"] == "ready":
                rig.inbox({"nonurgent": [{"app": 1, "text": "hello from the utility"}]})
                rig.inbox({"tariff": 2})
                rig.inbox({"urgent": {"app": 1, "text": "urgent notice"}})
            assert time.monotonic() < deadline
        assert probe.wait(10) == 0, "".join(other)
        assert steps["ident"]["meter_id"] == "12345678"
        assert 200 < steps["realtime"]["vrms"] < 260
        assert steps["partial"]["data"] == "12345678"
        assert steps["override"]["setpoint_c"] == 19.5
        assert steps["readonly"]["code"] == 0x03
        assert steps["procedure"]["result"] == 0
        assert steps["alert"]["alert"] is True and steps["alert"]["flags"] & 0x01 and steps["alert"]["queued"] == 1
        assert steps["urgent"] == {"step": "urgent", "text": "urgent notice", "ack": 0, "after": None}
        assert steps["nonurgent"]["reads"] == [["hello from the utility"]] * 3
        assert steps["tariff"]["active"] == 2
        time.sleep(1.5)
        acks = [x for x in rig.meter_lines() if x.get("kind") == "mep_urgent_ack"]
        assert acks and acks[0]["outcome"] == "success"
        mep_status = [x for x in rig.meter_lines() if x.get("kind") == "mep"][-1]
        assert mep_status["auth_failures"] == 0 and mep_status["requests"] >= 15
    finally:
        rig.close()
