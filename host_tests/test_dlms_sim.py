# test: cpython-only (starts the simulation and reads its meter with both DLMS clients)
# `tools/sim.py` serves DLMS/COSEM from the whole meter (app.py's dlms and dlms_profile
# tasks): the printed ports work with dlms-cosem (TCP wrapper) and Gurux (HDLC on the
# printed pty), the management keys it hands out in admin-keys.json open the management
# association, and the load profile fills at the quarter hours of the simulated clock.
import json
import os
import re
import signal
import subprocess
import sys
import time

import support
from dlms_gurux import GuruxReader
import datetime
from gurux_dlms import GXDateTime
from gurux_dlms.objects import GXDLMSRegister, GXDLMSProfileGeneric, GXDLMSClock
from test_dlms_clients import cosem_client, attr, parse, E

SIM = os.path.join(support.REPO, "tools", "sim.py")


class _Port:
    def __init__(self, port):
        self.tcp_port = port


def test_the_simulation_serves_dlms_and_prints_how_to_connect():
    out = support.tmpdir("dlmssim")
    sim = subprocess.Popen([sys.executable, SIM, "--seconds", "120", "--speed", "600", "--out", out,
                            "--no-mep-device"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in sim.stdout:
            lines.append(line)
            found = re.search(r"DLMS/COSEM: HDLC on (\S+) .*TCP wrapper on 127\.0\.0\.1:(\d+)", line)
            if found:
                break
        assert found, "the simulation printed no DLMS line: %s" % "".join(lines)
        pty, port = found.group(1), int(found.group(2))
        deadline = time.monotonic() + 90
        while True:  # until the meter process listens (a condition: it is starting up)
            try:
                c = cosem_client(cosem_tcp_port(port))
                with c.session():
                    import_wh = parse(c.get(attr(E.CosemInterface.REGISTER, "1.0.1.8.0.255", 2)))
                break
            except Exception as exc:
                assert time.monotonic() < deadline, "no DLMS answer from the simulated meter: %r" % exc
                time.sleep(0.2)
        assert isinstance(import_wh, int) and import_wh >= 0
        with open(os.path.join(out, "keys", "admin-keys.json")) as f:
            entry = json.load(f)["12345678"]
        keys = (bytes.fromhex(entry["dlms_ek"]), bytes.fromhex(entry["dlms_ak"]))
        r = GuruxReader(pty=pty, physical=17, client=1, keys=keys, invocation_counter=1)
        r.connect()
        try:
            reg = GXDLMSRegister("1.0.1.8.0.255")
            r.read(reg, 3)
            assert r.read(reg, 2) >= import_wh
            pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
            r.read(pg, 3)
            deadline = time.monotonic() + 60
            while True:  # at speed 600 a quarter hour passes every 1.5 s
                rows = r.rows_by_entry(pg, 1, 0)
                if len(rows) >= 3:
                    break
                assert time.monotonic() < deadline, "the load profile did not fill: %r" % rows
                time.sleep(0.5)
            imports = [row[2] for row in rows]
            assert imports == sorted(imports), "the import register never goes back: %r" % imports
            stamps = [row[0].value.timestamp() for row in rows]
            assert all(int(t) % 900 == 0 for t in stamps), "captured at quarter hours: %r" % stamps
            # The clock set by the management client goes through the admin time rules, which
            # log it: the standard event log shows "clock adjusted" (5).
            clock = GXDLMSClock("0.0.1.0.0.255")
            now = r.read(clock, 2).value
            clock.time = GXDateTime(now + datetime.timedelta(seconds=30))
            r.write(clock, 2)
            events = GXDLMSProfileGeneric("0.0.99.98.0.255")
            r.read(events, 3)
            codes = [row[1] for row in r.rows_by_entry(events, 1, 0)]
            assert 5 in codes, "time_set in the event log: %r" % codes
        finally:
            r.close()
    finally:
        sim.send_signal(signal.SIGINT)
        rest, _ = sim.communicate(timeout=90)
        support.rmtree(out)
    assert sim.returncode == 0, "".join(lines) + rest


def cosem_tcp_port(port):
    from test_dlms_clients import cosem_tcp

    return cosem_tcp(_Port(port))
