# test: cpython-only (runs the meter under the MicroPython unix port, and the three readers)
# The meter's SML push, from the firmware under the MicroPython unix port over a pty, read
# by the unmodified readers people run: smllib (SML2MQTT; its stream reader), pysml (Home
# Assistant's EDL21; its asyncio protocol on a pty) and libsml (vzlogger; a C reader
# compiled here against Debian's libsml-dev). Every reader must parse every file it gets
# and give the values of the meter's registers (seeded, with no load, so they hold still).
# The same meter answers a gateway's GetList on its wired LMN pty.

import json
import os
import shutil
import subprocess
import sys
import threading
import tty

import support
from meter.registers import EnergyRegisters

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
MAIN = os.path.join(support.REPO, "boards", "host", "main.py")
READER_C = os.path.join(support.REPO, "host_tests", "data", "sml", "libsml_reader.c")
TIMEOUT_S = 60  # the bound of every wait for a condition (a loaded machine is slow, never this slow)

# Seeded registers: the import total above 2**32 Wh, so the 64-bit encoding is exercised.
IMPORT_WH = 5_000_000_123
EXPORT_WH = 4321
TARIFF_WH = [4_998_000_000, 2_000_123]
SERVER_ID_HEX = "0a015151510100bc614e"  # 1 QQQ01 1234 5678
V_RMS = 230.0
FREQ_HZ = 50.0

OBIS_1_8_0 = "1-0:1.8.0*255"


def _seed(data_dir):
    regs = EnergyRegisters(data_dir, 2)
    regs.regs[0] = IMPORT_WH
    regs.regs[1] = EXPORT_WH
    regs.tariff_import_wh[:] = TARIFF_WH
    regs.tariff_export_wh[:] = [EXPORT_WH, 0]
    regs.checkpoint()


class Relay:
    """The meter's optical pty: this side reads the master and hands every byte to the
    readers attached (a pty of its own for a reader that opens a path)."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.sinks = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            with self.lock:
                for sink in self.sinks:
                    sink(data)

    def attach(self, sink):
        with self.lock:
            self.sinks.append(sink)

    def detach(self, sink):
        with self.lock:
            self.sinks.remove(sink)

    def pty_for_reader(self):
        """A new pty whose slave path a reader opens; returns (path, sink, close)."""
        master, slave = os.openpty()
        tty.setraw(slave)

        def sink(data):
            try:
                os.write(master, data)
            except OSError:
                pass

        self.attach(sink)

        def close():
            self.detach(sink)
            os.close(master)
            os.close(slave)

        return os.ttyname(slave), close

    def stop(self):
        self.stopped = True
        os.close(self.slave)
        os.close(self.master)


def _lmn_request():
    """PublicOpen.Req, GetList.Req, PublicClose.Req in one file, as a gateway sends them."""
    from sml import messages as M
    from sml import transport as T
    from sml.codec import Writer

    w = Writer(512)
    w.reset(T.HEADER_BYTES)
    start = M.begin_message(w, b"\x01", 0, M.OPEN_REQ)
    w.list(7)
    for value in (None, b"gw", b"file1", None, None, None, None):
        w.octets(value)
    M.end_message(w, start)
    start = M.begin_message(w, b"\x02", 0, M.GET_LIST_REQ)
    w.list(5)
    for value in (b"gw", bytes.fromhex(SERVER_ID_HEX), None, None, None):
        w.octets(value)
    M.end_message(w, start)
    start = M.begin_message(w, b"\x03", 0, M.CLOSE_REQ)
    w.list(1)
    w.absent()
    M.end_message(w, start)
    return bytes(w.buf[:T.finish(w.buf, w.n)])


def _lmn_exchange(master):
    """Send the request on the meter's LMN pty; the answer's messages, parsed by lib/sml."""
    import select

    from sml import messages as M
    from sml import transport as T

    os.write(master, _lmn_request())
    answers = []
    d = T.Deframer(4096)
    deadline = TIMEOUT_S
    while not answers and deadline > 0:
        ready, _, _ = select.select([master], [], [], 1.0)
        deadline -= 1
        if ready:
            data = os.read(master, 4096)
            d.feed(data, len(data), lambda buf, n: answers.append(M.parse_file(buf, n)))
    assert answers, "no answer on the LMN within %d s (deframer errors %r)" % (TIMEOUT_S, d.errors)
    return answers[0]


def _meter(folder, relay, lmn_path):
    data = folder + "/data"
    os.makedirs(data)
    _seed(data)
    config = {
        "app": "meter", "meter_id": "12345678",
        "metrology": {"tariffs": 2, "checkpoint_s": 86400},
        "report": {"interval_s": 1},
        "lmn": {"enabled": False},
        "mep": {"enabled": False},
        "sml": {"detail": "always", "push_s": 1},
        "board": {"storage_dir": data, "console": "json", "watchdog": False, "optical_uart": "pty:" + relay.path,
                  "lmn_uart": "pty:" + lmn_path,
                  "grid": {"v_rms": V_RMS, "i_rms": 0.0, "freq_hz": FREQ_HZ, "noise_counts": 0}},
    }
    path = folder + "/config.json"
    with open(path, "w") as f:
        json.dump(config, f)
    return subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", MAIN, "--config", path],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd="/")


def _check_entries(values, who):
    """values: obis -> (value, unit, scaler) as integers from one file."""
    expected = {
        OBIS_1_8_0: (IMPORT_WH, 30, 0),
        "1-0:2.8.0*255": (EXPORT_WH, 30, 0),
        "1-0:1.8.1*255": (TARIFF_WH[0], 30, 0),
        "1-0:1.8.2*255": (TARIFF_WH[1], 30, 0),
        "1-0:16.7.0*255": (0, 27, -1),
        "1-0:31.7.0*255": (0, 33, -2),
    }
    for name, want in expected.items():
        assert values.get(name) == want, "%s: %s is %r, the registers say %r" % (who, name, values.get(name), want)
    volts = values.get("1-0:32.7.0*255")
    assert volts is not None and volts[1:] == (35, -1) and abs(volts[0] - V_RMS * 10) <= 10, \
        "%s: voltage %r, the grid is %.1f V" % (who, volts, V_RMS)
    hertz = values.get("1-0:14.7.0*255")
    assert hertz is not None and hertz[1:] == (44, -2) and abs(hertz[0] - FREQ_HZ * 100) <= 5, \
        "%s: frequency %r, the grid is %.1f Hz" % (who, hertz, FREQ_HZ)


def _smllib(relay, files):
    from smllib import SmlStreamReader

    reader = SmlStreamReader()
    got = []
    done = threading.Event()

    def sink(data):
        reader.add(data)
        while len(got) < files:
            frame = reader.get_frame()  # raises CrcError on a bad file: the test fails with it
            if frame is None:
                return
            got.append(frame.parse_frame())
        done.set()

    relay.attach(sink)
    try:
        assert done.wait(TIMEOUT_S), "smllib got %d of %d files" % (len(got), files)
    finally:
        relay.detach(sink)
    for messages in got:
        bodies = [type(m.message_body).__name__ for m in messages]
        assert bodies == ["SmlOpenResponse", "SmlGetListResponse", "SmlCloseResponse"], bodies
        body = messages[1].message_body
        assert body.server_id == SERVER_ID_HEX, body.server_id
        values = {}
        for entry in body.val_list:
            values[str(entry.obis.obis_code)] = (entry.value, entry.unit, entry.scaler)
        _check_entries({k: v for k, v in values.items() if isinstance(v[0], int)}, "smllib")
        assert values["129-129:199.130.3*255"][0] == "QQQ"
        status = [e.status for e in body.val_list if str(e.obis.obis_code) == OBIS_1_8_0]
        assert status == [0], "no load: the status word has no load bit, got %r" % status
        # smllib's own scaled value equals register x 10**scaler.
        scaled = {str(e.obis.obis_code): e.get_value() for e in body.val_list}
        assert scaled[OBIS_1_8_0] == IMPORT_WH and scaled["1-0:32.7.0*255"] == values["1-0:32.7.0*255"][0] / 10
    return len(got)


def _pysml(relay, files):
    path, close = relay.pty_for_reader()
    script = os.path.join(support.REPO, "host_tests", "data", "sml", "pysml_reader.py")
    try:
        done = subprocess.run([sys.executable, "-I", script, path, str(files)], capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    finally:
        close()
    assert done.returncode == 0, done.stdout + done.stderr
    bodies = [json.loads(line) for line in done.stdout.splitlines()]
    lists = [b for b in bodies if "valList" in b]
    assert len(lists) >= files
    for body in lists:
        assert body["serverId"] == "1 QQQ01 1234 5678", body["serverId"]
        entries = {e["objName"]: e for e in body["valList"]}
        assert entries[OBIS_1_8_0]["value"] == IMPORT_WH and entries[OBIS_1_8_0]["unit"] == "Wh"
        assert entries["1-0:2.8.0*255"]["value"] == EXPORT_WH
        assert entries["1-0:1.8.1*255"]["value"] == TARIFF_WH[0]
        assert entries["1-0:1.8.2*255"]["value"] == TARIFF_WH[1]
        assert entries["1-0:16.7.0*255"]["unit"] == "W" and entries["1-0:16.7.0*255"]["value"] == 0
        assert abs(entries["1-0:32.7.0*255"]["value"] - V_RMS) <= 1.0 and entries["1-0:32.7.0*255"]["unit"] == "V"
        assert abs(entries["1-0:14.7.0*255"]["value"] - FREQ_HZ) <= 0.05
        assert entries["129-129:199.130.3*255"]["value"] == "QQQ"
        assert entries["1-0:0.0.9*255"]["value"] == "1 QQQ01 1234 5678"
    return len(lists)


def _libsml(relay, files, folder):
    exe = folder + "/libsml_reader"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "sml"], capture_output=True, text=True)
    assert flags.returncode == 0, "pkg-config sml: is libsml-dev installed? %s" % flags.stderr
    built = subprocess.run(["gcc", "-Wall", "-O1", "-o", exe, READER_C] + flags.stdout.split(),
                           capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    path, close = relay.pty_for_reader()
    try:
        done = subprocess.run([exe, path, str(files)], capture_output=True, text=True, timeout=TIMEOUT_S)
    finally:
        close()
    assert done.returncode == 0, done.stdout + done.stderr
    parsed = []
    values = None
    for line in done.stdout.splitlines():
        words = line.split()
        if words[0] == "file":
            values = {}
            parsed.append(values)
        elif words[0] == "entry" and words[2] == "int":
            unit = int(words[4])
            scaler = int(words[5])
            values[words[1]] = (int(words[3]), unit, scaler)
            if words[1] == OBIS_1_8_0:
                assert words[6] == "0", "status word: %s" % line
        elif words[0] == "entry" and words[2] == "octets":
            values[words[1]] = words[3]
    assert len(parsed) == files, done.stdout
    for values in parsed:
        _check_entries(values, "libsml")
        assert values["1-0:0.0.9*255"] == SERVER_ID_HEX and values["129-129:199.130.3*255"] == "515151"
    return len(parsed)


def test_three_readers_parse_the_meters_push():
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    if shutil.which("gcc") is None:
        support.skip("no gcc")
    folder = support.tmpdir("sml")
    relay = Relay()
    lmn_master, lmn_slave = os.openpty()
    tty.setraw(lmn_slave)
    child = _meter(folder, relay, os.ttyname(lmn_slave))
    lines = []
    measuring = threading.Event()

    def console():
        for line in child.stdout:
            lines.append(line)
            try:
                fields = json.loads(line)
            except ValueError:
                continue
            if fields.get("kind") == "reading" and fields.get("vrms", 0) > 200 and fields.get("freq_hz", 0) > 40:
                measuring.set()  # a voltage and a measured frequency: every later push has both

    threading.Thread(target=console, daemon=True).start()
    try:
        # Files from the first second carry no readings yet: read once the metrology reports.
        assert measuring.wait(TIMEOUT_S), "the meter never reported a reading: %s" % "".join(lines)[-2000:]
        assert _smllib(relay, 3) == 3
        assert _pysml(relay, 3) >= 3
        assert _libsml(relay, 3, folder) == 3
        # The wired LMN: a gateway's GetList, answered by the firmware's request server.
        from sml import messages as M

        answer = _lmn_exchange(lmn_master)
        assert [m.tag for m in answer] == [M.OPEN_RES, M.GET_LIST_RES, M.CLOSE_RES], [m.tag for m in answer]
        entries = {e[0]: e[5] for e in answer[1].body[4]}
        assert entries[M.obis(1, 0, 1, 8, 0)] == IMPORT_WH and entries[M.obis(1, 0, 1, 8, 2)] == TARIFF_WH[1]
    finally:
        child.terminate()
        child.wait(timeout=30)
        relay.stop()
        os.close(lmn_master)
        os.close(lmn_slave)
    out = "".join(lines)
    assert "Traceback" not in out, out[-3000:]
    support.rmtree(folder)
