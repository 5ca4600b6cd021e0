# test: cpython-only (a pty pair and the tools/mbus_slaves.py process)
# The M-Bus master on the host board's port (HostUART over a pty) against the simulated
# slaves process answering at real byte timing: primary and secondary reads, the full
# scan, multi-telegram reads, and the result code of every injected fault.
import json
import os
import subprocess
import sys
import time
import tty
import support
from hostuart import HostUART
from mbus import master as M
from mbus.master import Master, Device, secondary_from_text, secondary_to_text
from mbus_slaves import DEFAULT_DEVICES

SLAVES = os.path.join(support.REPO, "tools", "mbus_slaves.py")


class Bus:
    """A slaves process on one end of a pty pair, a HostUART on the other."""

    def __init__(self, *args, baud=9600, specs=None):
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)
        argv = [sys.executable, SLAVES, "--fd", str(self.master_fd), "--baud", str(baud)] + list(args)
        self.config = None
        if specs is not None:
            self.config = support.tmpdir("mbus") + "/devices.json"
            with open(self.config, "w") as f:
                json.dump(specs, f)
            argv += ["--config", self.config]
        self.proc = subprocess.Popen(argv, pass_fds=[self.master_fd], stderr=subprocess.PIPE, text=True)
        os.close(self.master_fd)
        while True:  # the slaves say when they listen
            line = self.proc.stderr.readline()
            assert line, "slaves process ended before it was ready"
            if line.startswith("ready"):
                break
        self.uart = HostUART("pty:" + os.ttyname(self.slave_fd), baudrate=baud, parity=0)
        self.master = Master(self.uart, baud)

    def close(self):
        self.proc.terminate()
        self.proc.wait(5)
        self.proc.stderr.close()
        self.uart.deinit()
        os.close(self.slave_fd)
        if self.config:
            support.rmtree(self.config.rsplit("/", 1)[0])


def with_bus(coro_fn, *args, **kwargs):
    bus = Bus(*args, **kwargs)
    try:
        return support.run(coro_fn(bus.master)), bus
    finally:
        bus.close()


def test_primary_reads_at_real_byte_timing():
    async def main(m):
        results = []
        for addr in (1, 2, 3, 4):
            t0 = time.monotonic()
            r = await m.read(Device(addr))
            results.append((r, time.monotonic() - t0))
        return results

    results, bus = with_bus(main, baud=2400)
    byte_s = 11 / 2400
    for (r, took), spec in zip(results, DEFAULT_DEVICES):
        assert r.code == M.OK, (spec["name"], r)
        # SND_NKE + E5, then each REQ_UD2 and its answer, at 4.58 ms a byte, plus the delays.
        wire_bytes = 6 + sum(5 + len(t) for t in r.telegrams)
        minimum = wire_bytes * byte_s + (1 + len(r.telegrams)) * spec["delay_ms"] / 1000
        # A lower bound only: it proves the bytes are paced at the line rate; how much longer
        # a loaded machine takes is no defect (the polling figures are in bench/mbus_poll.py).
        assert took > minimum * 0.97, "%s read in %.3f s, faster than its %d bytes and delays take on the wire (%.3f s)" % (
            spec["name"], took, wire_bytes, minimum)
    assert [len(r.telegrams) for r, _ in results] == [1, 1, 2, 1]


def test_secondary_select_and_read():
    async def main(m):
        gas = Device(secondary=secondary_from_text("1208205830E24003"))
        heat = Device(secondary=secondary_from_text("212650954CAE0E04"))
        absent = Device(secondary=secondary_from_text("55555555FFFFFFFF"))
        return await m.read(gas), await m.read(heat), await m.read(gas), await m.read(absent)

    (gas, heat, gas2, absent), bus = with_bus(main)
    assert gas.code == M.OK and gas.telegrams[0][7:11] == bytes.fromhex("58200812")
    assert heat.code == M.OK and len(heat.telegrams) == 2
    assert gas2.code == M.OK and gas2.telegrams[0][15] == (gas.telegrams[0][15] + 1) & 0xFF
    assert absent.code == M.NO_ANSWER


def test_full_scan_finds_four_devices_and_a_collision():
    probes = []

    async def main(m):
        return await m.scan(on_probe=lambda mask, code: probes.append((secondary_to_text(mask), code)))

    (found, collisions), bus = with_bus(main)
    assert sorted(secondary_to_text(s) for s in found) == [
        "0901152304771407", "1200007104771407", "1208205830E24003", "212650954CAE0E04"]
    assert collisions == []
    assert ("120FFFFFFFFFFFFF", M.COLLISION) in probes


def test_scan_reports_an_unresolvable_collision():
    specs = [dict(d) for d in DEFAULT_DEVICES[:2]]
    specs[1]["id"] = "12082058"

    async def main(m):
        return await m.scan(secondary_from_text("1208205FFFFFFFFF"))

    (found, collisions), bus = with_bus(main, specs=specs)
    assert found == [] and [secondary_to_text(c) for c in collisions] == ["12082058FFFFFFFF"]


def test_multi_telegram_read_over_the_pty():
    async def main(m):
        heat = Device(3)
        return await m.read(heat), await m.read(heat)

    (one, two), bus = with_bus(main)
    assert one.code == M.OK and len(one.telegrams) == 2 and one.telegrams[0][-3] == 0x1F
    assert two.code == M.OK and len(two.telegrams) == 2


def read_one(address, *args, retries=2, specs=None):
    async def main(m):
        m.retries = retries
        return await m.read(Device(address))

    return with_bus(main, *args, specs=specs)


def test_fault_no_answer():
    r, _ = read_one(1, "--fault", "gas:no_answer", retries=1)
    assert r.code == M.NO_ANSWER


def test_fault_bad_checksum():
    r, bus = read_one(2, "--fault", "water:bad_checksum")
    assert r.code == M.BAD and bus.master.rx.bad_frames == 3


def test_fault_bad_checksum_once_recovers_by_repeating():
    r, bus = read_one(2, "--fault", "water:bad_checksum::1")
    assert r.code == M.OK and bus.master.rx.bad_frames == 1


def test_fault_echo():
    r, bus = read_one(3, "--echo")
    assert r.code == M.OK and len(r.telegrams) == 2, r
    # SND_NKE and two REQ_UD2, each echoed; a busy machine may add a repeated request
    # (real-time answer window), whose echo is skipped as well.
    echoes = bus.master.rx.echoes
    assert echoes >= 3, "%d echoes skipped, expected one per request (3 or more)" % echoes


def test_fault_two_devices_answering_at_once():
    specs = [dict(d) for d in DEFAULT_DEVICES]
    specs[3]["primary"] = 2
    r, _ = read_one(2, retries=0, specs=specs)
    assert r.code == M.COLLISION


def test_fault_slow_answer():
    r, _ = read_one(1, "--fault", "gas:slow:120")  # inside the 9600 baud window (186 ms)
    assert r.code == M.OK
    r, _ = read_one(1, "--fault", "gas:slow:600", retries=0)
    assert r.code == M.NO_ANSWER


def test_fault_application_error():
    r, _ = read_one(4, "--fault", "water2:app_error:9")
    assert r.code == M.APP_ERROR and r.app_error == 9


def test_bad_arguments_are_refused():
    for args in (["--fault", "gas:melt"], ["--fault", "nobody:no_answer"], ["--baud", "1200"]):
        proc = subprocess.run([sys.executable, SLAVES, "--fd", "0"] + args, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=10)
        assert proc.returncode == 2 and "error" in proc.stderr
