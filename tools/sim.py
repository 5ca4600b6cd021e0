#!/usr/bin/env python3
"""Host simulation: the meter and the MEP device as MicroPython unix processes.

    python tools/sim.py [--seconds S] [--speed X] [--out DIR] [--fresh]

Starts each firmware on the host board under the MicroPython unix port with a heap
cap, connects them (a pty pair relayed by this process for the MEP link, a pty for
the wired M-Bus, a loopback TCP hub for the radio air), shows a live view of their
status lines and leaves its outputs in DIR:

    meter.log, mep_device.log    everything each process printed
    readings.jsonl               the meter's readings, one JSON object per line
    events.jsonl                 warnings and errors from both processes, restarts, wired M-Bus
                                 reads and events (mbus_read, mbus_event, mbus_discovery)
    telegrams.hex                every wireless telegram put on the air (hex, L-field first)
    headend-keys.json            the meters' LMN keys, as a head-end is given them
    headend.jsonl                what the head-end (tools/headend.py) accepted from the air
    summary.json                 counts at the end of the run
    mbus_slaves.log              the simulated wired M-Bus slaves (tools/mbus_slaves.py)
    meter/, mep_device/          each device's config.json and storage (kept across runs)

Runs until Ctrl-C, or for S wall-clock seconds and then exits 0. --speed X runs the
devices' calendar clocks X times faster (1440: a simulated day in a minute).
"""

import argparse
import asyncio
import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import time
import tty

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import provision  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mep_sim  # noqa: E402  (the MEP link, key, display port and utility side)
HOST_MAIN = os.path.join(REPO, "boards", "host", "main.py")

# Exit codes of the host board (boards/host/board.py): a reset asked for by the firmware,
# and a watchdog that was not fed. Any exit is followed by a restart, as on a board.
EXIT_RESET = 75
EXIT_WATCHDOG = 76
RESTART_DELAY_S = 1.0
STOP_GRACE_S = 3.0

METER_ID = "12345678"
MBUS_SLAVES = os.path.join(REPO, "tools", "mbus_slaves.py")
MBUS_BAUD = 2400
_PR_SET_PDEATHSIG = 1


def _detach_child():
    """In each firmware process before exec: a process group of its own, so a terminal's
    Ctrl-C reaches only the simulation (which then stops the devices one clean SIGINT
    each), and death with the simulation, so a killed simulation leaves no device running.
    Not a session of its own: MicroPython opens its pty without O_NOCTTY, so a session
    leader would take the pty as its controlling terminal and die of SIGHUP on a hang-up."""
    os.setpgid(0, 0)
    try:
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the devices outlive a killed simulation


def find_micropython():
    local = os.path.join(os.path.dirname(sys.executable), "micropython")
    found = local if os.path.exists(local) else shutil.which("micropython")
    if not found:
        sys.exit("sim: the MicroPython unix port is not installed (make setup installs it)")
    return found


class Outputs:
    """The files the simulation leaves in --out."""

    def __init__(self, out_dir):
        self.dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.readings = open(os.path.join(out_dir, "readings.jsonl"), "a")
        self.events = open(os.path.join(out_dir, "events.jsonl"), "a")
        self.telegrams = open(os.path.join(out_dir, "telegrams.hex"), "a")

    def event(self, source, fields):
        fields = dict(fields, source=source, wall=round(time.time(), 3))
        self.events.write(json.dumps(fields) + "\n")
        self.events.flush()

    def close(self):
        for f in (self.readings, self.events, self.telegrams):
            f.close()


def read_master(fd):
    """What a non-blocking pty master has: bytes, b"" when nothing is waiting, or None
    on EIO/EOF (no slave open), which polls readable forever and must not be spun on."""
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return b""
    except OSError:
        return None
    return data or None


class PtyLink:
    """Two pty pairs whose masters this process relays: a serial cable between two devices.

    The simulation keeps the slave ends open too, so a device that restarts finds its
    port as it left it and the relay never sees a hang-up.

    The masters are non-blocking: what a device does not read (it is restarting, or
    absent) waits in a buffer of at most MAX_BUFFERED_BYTES per direction, written out
    as the master takes it; beyond that the oldest bytes are dropped and counted
    (dropped_a_to_b, dropped_b_to_a), so the event loop never blocks on a full pty. A
    master that fails reads (EIO: no slave open) is left alone for RETRY_S at a time.
    """

    MAX_BUFFERED_BYTES = 64 * 1024
    RETRY_S = 0.5

    def __init__(self, name):
        self.name = name
        self.a_master, self.a_slave = os.openpty()
        self.b_master, self.b_slave = os.openpty()
        for fd in (self.a_slave, self.b_slave):
            tty.setraw(fd)
        for fd in (self.a_master, self.b_master):
            os.set_blocking(fd, False)
        self.a_path = os.ttyname(self.a_slave)
        self.b_path = os.ttyname(self.b_slave)
        self.bytes_a_to_b = 0
        self.bytes_b_to_a = 0
        self.dropped_a_to_b = 0
        self.dropped_b_to_a = 0
        self.read_errors = 0
        self._pending = {self.a_master: bytearray(), self.b_master: bytearray()}
        self._writing = set()
        self._timers = []
        self._loop = None
        self._closed = False

    def start(self, loop):
        self._loop = loop
        self._watch(self.a_master)
        self._watch(self.b_master)

    def _watch(self, src):
        if self._closed:
            return
        if src == self.a_master:
            self._loop.add_reader(src, self._relay, src, self.b_master, True)
        else:
            self._loop.add_reader(src, self._relay, src, self.a_master, False)

    def _later(self, callback, *args):
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(self._loop.call_later(self.RETRY_S, callback, *args))

    def _relay(self, src, dst, a_to_b):
        data = read_master(src)
        if data == b"":
            return
        if data is None:
            self.read_errors += 1
            self._loop.remove_reader(src)
            self._later(self._watch, src)
            return
        if a_to_b:
            self.bytes_a_to_b += len(data)
        else:
            self.bytes_b_to_a += len(data)
        pending = self._pending[dst]
        pending += data
        if dst not in self._writing:
            self._flush(dst, a_to_b)
        excess = len(pending) - self.MAX_BUFFERED_BYTES
        if excess > 0:
            del pending[:excess]  # the oldest go: a device reading late sees the latest
            if a_to_b:
                self.dropped_a_to_b += excess
            else:
                self.dropped_b_to_a += excess

    def _flush(self, dst, a_to_b):
        """Write what the master dst takes now; wait for it to be writable for the rest."""
        pending = self._pending[dst]
        try:
            n = os.write(dst, pending) if pending else 0
        except BlockingIOError:
            n = 0
        except OSError:
            # Not expected while the slaves are held open; keep buffering, retry later.
            self._stop_writing(dst)
            self._later(self._flush, dst, a_to_b)
            return
        del pending[:n]
        if pending and dst not in self._writing and not self._closed:
            self._loop.add_writer(dst, self._flush, dst, a_to_b)
            self._writing.add(dst)
        elif not pending:
            self._stop_writing(dst)

    def _stop_writing(self, dst):
        if dst in self._writing:
            self._loop.remove_writer(dst)
            self._writing.discard(dst)

    @property
    def buffered(self):
        """Bytes waiting for a device to read them (both directions)."""
        return sum(len(p) for p in self._pending.values())

    def close(self, loop):
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        for fd in (self.a_master, self.b_master):
            loop.remove_reader(fd)
            self._stop_writing(fd)
        for fd in (self.a_master, self.a_slave, self.b_master, self.b_slave):
            os.close(fd)


class PtyPort:
    """One pty pair: the device gets the slave, the simulation the master (a bus to attach).

    The master is non-blocking; one that fails reads (EIO: no slave open) is left alone
    for RETRY_S at a time instead of being polled in a busy loop.
    """

    RETRY_S = 0.5

    def __init__(self, name):
        self.name = name
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.bytes_in = 0
        self.read_errors = 0
        self._loop = None
        self._timer = None
        self._closed = False

    def start(self, loop):
        self._loop = loop
        self._watch()

    def _watch(self):
        if not self._closed:
            self._loop.add_reader(self.master, self._drain)

    def _drain(self):
        data = read_master(self.master)
        if data == b"":
            return
        if data is None:
            self.read_errors += 1
            self._loop.remove_reader(self.master)
            self._timer = self._loop.call_later(self.RETRY_S, self._watch)
            return
        self.bytes_in += len(data)

    def close(self, loop):
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)


class AirHub:
    """The radio air: a loopback TCP hub. Each frame is a 2-byte big-endian length + bytes.

    Every frame is written to telegrams.hex and passed on to every other client (the
    head-end, once there is one). A client that does not read (a meter's radio that
    only sends) gets frames dropped once its send buffer holds MAX_BUFFERED_BYTES,
    so the hub's memory stays bounded.
    """

    MAX_BUFFERED_BYTES = 64 * 1024

    def __init__(self, outputs, headend=None):
        self.outputs = outputs
        self.headend = headend  # a tools/headend.py HeadEnd that hears every frame, or None
        self.clients = set()
        self.frames = 0
        self.dropped = 0
        self.port = None
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader, writer):
        self.clients.add(writer)
        try:
            while True:
                header = await reader.readexactly(2)
                frame = await reader.readexactly(int.from_bytes(header, "big"))
                self.frames += 1
                self.outputs.telegrams.write(frame.hex().upper() + "\n")
                self.outputs.telegrams.flush()
                if self.headend is not None:
                    self.headend.hear(frame)
                for other in list(self.clients):
                    if other is writer:
                        continue
                    if other.transport.get_write_buffer_size() > self.MAX_BUFFERED_BYTES:
                        self.dropped += 1
                    else:
                        other.write(header + frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def close(self):
        if self.server:
            self.server.close()


class Device:
    """One firmware process on the host board, restarted whenever it exits."""

    MAX_LINE_BYTES = 64 * 1024  # a longer output line is skipped, with a note in the log

    def __init__(self, name, micropython, heap, config, outputs, on_status):
        self.name = name
        self.micropython = micropython
        self.heap = heap
        self.dir = os.path.join(outputs.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.config_path = os.path.join(self.dir, "config.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, indent=2)
        self.outputs = outputs
        self.on_status = on_status
        self.log = open(os.path.join(outputs.dir, name + ".log"), "a")
        self.proc = None
        self.starts = 0
        self.exits = []
        self.stopping = False

    def argv(self):
        return [self.micropython, "-X", "heapsize=" + self.heap, HOST_MAIN, "--config", self.config_path]

    async def run(self):
        while not self.stopping:
            self.starts += 1
            self.proc = await asyncio.create_subprocess_exec(
                *self.argv(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=REPO,
                preexec_fn=_detach_child,
            )
            await self._read_lines(self.proc.stdout)
            code = await self.proc.wait()
            self.exits.append(code)
            if self.stopping:
                break
            why = {EXIT_RESET: "reset", EXIT_WATCHDOG: "watchdog"}.get(code, "exit code %d" % code)
            self.on_status(self.name, {"kind": "restart", "why": why})
            await asyncio.sleep(RESTART_DELAY_S)

    async def _read_lines(self, stream):
        """Hand each line of stream to _line until EOF. A line longer than MAX_LINE_BYTES
        is skipped (a note in the log says so) and reading goes on: the pipe is always
        drained, so the device never blocks on print."""
        partial = bytearray()
        skipping = 0  # bytes of an over-long line dropped so far (0: not in one)
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                break
            start = 0
            while start < len(chunk):
                end = chunk.find(b"\n", start)
                if end < 0:
                    if skipping:
                        skipping += len(chunk) - start
                    else:
                        partial += chunk[start:]
                        if len(partial) > self.MAX_LINE_BYTES:
                            skipping = len(partial)
                            partial = bytearray()
                    break
                if skipping:
                    self._skipped(skipping + end - start)
                    skipping = 0
                else:
                    partial += chunk[start:end]
                    if len(partial) > self.MAX_LINE_BYTES:
                        self._skipped(len(partial))
                    else:
                        self._line(partial.decode("utf-8", "replace"))
                    partial = bytearray()
                start = end + 1
        if skipping:
            self._skipped(skipping)
        elif partial:
            self._line(partial.decode("utf-8", "replace"))

    def _skipped(self, size):
        self._line("[sim] skipped an over-long line of %d bytes (limit %d)" % (size, self.MAX_LINE_BYTES))

    def _line(self, text):
        self.log.write(text + "\n")
        self.log.flush()
        if text.startswith("{"):
            try:
                fields = json.loads(text)
            except ValueError:
                return
            if isinstance(fields, dict):
                self.on_status(self.name, fields)

    async def stop(self):
        """Ctrl-C for the firmware (it checkpoints and stops), then a kill if it lingers."""
        self.stopping = True
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()

    def close(self):
        self.log.close()


class LiveView:
    """What the devices are doing: the latest reading, device status, recent events."""

    def __init__(self, outputs, speed):
        self.outputs = outputs
        self.speed = speed
        self.reading = None
        self.device = None
        self.tasks = {}
        self.events = []
        self.readings = 0
        self.tty = sys.stdout.isatty()
        self.lines_drawn = 0
        self.mbus = {}  # wired M-Bus device name -> its last read
        self.mbus_reads = 0
        self.mbus_events = 0
        self.mep = {}

    def on_status(self, source, fields):
        kind = fields.get("kind")
        if kind == "reading":
            self.reading = fields
            self.readings += 1
            self.outputs.readings.write(json.dumps(fields) + "\n")
            self.outputs.readings.flush()
        elif kind == "device":
            self.device = fields
        elif kind in ("display", "thermostat", "urgent", "mep_urgent_ack", "display_message", "mep"):
            self.mep[kind] = fields
            if kind != "display" and kind != "mep":
                self.outputs.event(source, fields)
        elif kind == "tasks":
            self.tasks[source] = fields.get("tasks", {})
        elif kind in ("mbus_read", "mbus_event", "mbus_discovery"):
            self.on_mbus(source, kind, fields)
        elif kind == "log" or kind == "restart":
            level = fields.get("level", "warn")
            if kind == "restart" or level in ("warn", "error"):
                self.outputs.event(source, fields)
                self.events.append("%s %s %s" % (source, fields.get("tag", kind), fields.get("msg", fields.get("why"))))
                self.events = self.events[-4:]
            if not self.tty and kind == "log":
                print("[%s] %s %s %s" % (source, level, fields.get("tag", ""), fields.get("msg", "")), flush=True)

    def on_mbus(self, source, kind, fields):
        """Wired M-Bus reads and events: into events.jsonl and the live view."""
        self.outputs.event(source, fields)
        if kind == "mbus_read":
            self.mbus_reads += 1
            self.mbus[fields.get("name")] = fields
            text = "%s %s read %s" % (fields.get("name"), fields.get("read"), fields.get("result"))
        elif kind == "mbus_event":
            self.mbus_events += 1
            text = "%s %s %s" % (fields.get("name"), fields.get("event"), fields.get("state"))
        else:
            text = "scan found " + (", ".join(fields.get("found", [])) or "nothing")
        if kind != "mbus_read" or fields.get("result") != "ok":
            self.events.append("%s mbus %s" % (source, text))
            self.events = self.events[-4:]
        if not self.tty:
            print("[%s] mbus %s" % (source, text), flush=True)

    def mbus_line(self):
        if not self.mbus:
            return "mbus: waiting for the first read"
        parts = ["%s %s %s %s" % (name, r.get("read"), r.get("result"), iso(r.get("t", 0))[11:16])
                 for name, r in sorted(self.mbus.items())]
        return "mbus  " + "  |  ".join(parts)

    def lines(self, elapsed_s):
        r = self.reading
        if r:
            meter = "meter %s  %.1f V  %.3f A  %.1f W  PF %.3f  %.2f Hz  import %d Wh  export %d Wh" % (
                iso(r.get("t", 0)), r["vrms"], r["irms"], r["p_w"], r["pf"], r["freq_hz"],
                r["import_wh"], r["export_wh"],
            )
        else:
            meter = "meter: starting"
        d = self.device
        device = "mep_device uptime %ds" % d["uptime_s"] if d else "mep_device: starting"
        head = "sim %5.0fs wall  speed x%g  readings %d" % (elapsed_s, self.speed, self.readings)
        shown = [head, meter]
        if r and "q_var" in r:  # reactive power and energy, the tariff (metrology)
            shown.append("      Q %.1f var  S %.1f VA  Q1..Q4 %s varh  tariff %s" % (
                r["q_var"], r.get("s_va", 0.0), "/".join(str(r.get("q%d_varh" % k, 0)) for k in range(1, 5)),
                r.get("tariff", 0)))
        return shown + [device, self.mbus_line()] + mep_lines(self.mep) + ["  ! " + e for e in self.events]

    def draw(self, elapsed_s):
        lines = self.lines(elapsed_s)
        if self.tty:
            if self.lines_drawn:
                sys.stdout.write("\x1b[%dA" % self.lines_drawn)
            sys.stdout.write("".join("\x1b[2K" + line[:160] + "\n" for line in lines))
            self.lines_drawn = len(lines)
        else:
            print(" | ".join(lines[:3] + mep_lines(self.mep)[:2]), flush=True)


def mep_lines(seen):
    """The MEP device's view: what its display and thermostat last said."""
    lines = []
    d = seen.get("display")
    if d:
        lines.append("display  link %s  %s W  today %s Wh  tariff %s  messages %s  M-Bus %s" % (
            d.get("link"), d.get("p_w"), d.get("today_wh"), d.get("tariff"), d.get("messages"), d.get("mbus_meters")))
    t = seen.get("thermostat")
    if t:
        lines.append("thermostat  set point %s C  (tariff %s, %s)" % (t.get("setpoint_c"), t.get("tariff"), t.get("why")))
    m = seen.get("display_message")
    if m:
        lines.append("message  %s" % m.get("text"))
    return lines


def iso(epoch_s):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))


class SimHeadEnd:
    """The head-end on the air hub: accepted telegrams to headend.jsonl, rejections as events."""

    def __init__(self, outputs, keys_path):
        sys.path.insert(0, os.path.join(REPO, "tools"))
        from headend import HeadEnd, load_keys

        self.outputs = outputs
        self.headend = HeadEnd(load_keys(keys_path), os.path.join(outputs.dir, "headend-state.json"))
        self.file = open(os.path.join(outputs.dir, "headend.jsonl"), "a")

    def hear(self, frame):
        try:
            self.file.write(json.dumps(self.headend.receive(frame)) + "\n")
            self.file.flush()
        except ValueError as exc:  # WMBusError: counted by the head-end, shown as an event
            self.outputs.event("headend", {"kind": "log", "level": "warn", "tag": "headend",
                                           "msg": "telegram rejected: %s" % exc})

    def close(self):
        self.file.close()


def meter_config(args, storage_dir, air_port, mbus_path, mep_path):
    return {
        "app": "meter",
        "meter_id": METER_ID,
        "log_level": "info",
        "watchdog_ms": 8000,
        # Three tariffs (day, night, peak as the MEP names them): night 22:00-06:00,
        # peak 17:00-20:00, day otherwise; the utility demo also switches them by command.
        "metrology": {"period_ms": 1000, "checkpoint_s": 300, "tariffs": 3,
                      "tou": [[0, 1], [360, 0], [1020, 2], [1200, 0], [1320, 1]]},
        "report": {"interval_s": max(1, int(args.speed))},
        "board": {
            "speed": args.speed,
            "console": "json",
            "storage_dir": storage_dir,
            "air": "127.0.0.1:%d" % air_port,
            "mbus_uart": "pty:" + mbus_path,
            "mep_uart": "pty:" + mep_path,
            "unique_id": METER_ID,
        },
        "mbus": mbus_config(),
        "mep": mep_sim.meter_section(os.path.abspath(args.out), args.speed),
    }


def mbus_config():
    """The four simulated meters (tools/mbus_slaves.py DEFAULT_DEVICES), two by primary
    and two by secondary address, on hourly, daily and weekly schedules."""
    hourly = {"every": "hourly"}
    return {
        "baud": MBUS_BAUD,
        "devices": [
            {"address": 1, "name": "gas", "medium": "gas", "schedule": dict(hourly, minute=0),
             "status_interval_s": 6 * 3600},
            {"address": "0901152304771407", "name": "water", "medium": "water",
             "schedule": {"every": "daily", "hour": 6}, "status_interval_s": 6 * 3600},
            {"address": 3, "name": "heat", "medium": "heat", "schedule": dict(hourly, minute=30),
             "status_interval_s": 6 * 3600},
            {"address": "1200007104771407", "name": "water2", "medium": "water",
             "schedule": {"every": "weekly", "weekday": 0, "hour": 6}, "status_interval_s": 6 * 3600},
        ],
    }


class MBusSlaves:
    """tools/mbus_slaves.py on the far end of the meter's M-Bus pty (its master fd)."""

    def __init__(self, port, out_dir):
        self.port = port
        self.log_path = os.path.join(out_dir, "mbus_slaves.log")
        self.proc = None

    async def start(self, ready_timeout_s=60):
        log = open(self.log_path, "a")
        logged = log.tell()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, MBUS_SLAVES, "--fd", str(self.port.master), "--baud", str(MBUS_BAUD),
                pass_fds=[self.port.master], stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
                preexec_fn=_detach_child,
            )
        finally:
            log.close()
        # The meter starts once the slaves listen: a request written before would be
        # answered after the meter's answer window (a no_answer at start on a busy machine).
        deadline = time.monotonic() + ready_timeout_s
        while not self._ready(logged):
            if self.proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulated M-Bus slaves did not start (see %s)" % self.log_path)
            await asyncio.sleep(0.02)

    def _ready(self, offset):
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            return b"\nready: " in b"\n" + log.read()

    async def stop(self):
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()


def mep_device_config(args, storage_dir, mep_path, http_port=None):
    return dict(mep_sim.device_sections(http_port, args.speed), **{
        "app": "mep_device",
        "log_level": "info",
        "watchdog_ms": 8000,
        "report": {"interval_s": max(1, int(args.speed))},
        "board": {
            "speed": args.speed,
            "console": "json",
            "storage_dir": storage_dir,
            "air": None,
            "mbus_uart": None,
            "mep_uart": "pty:" + mep_path,
            "unique_id": "87654321",
        },
    })


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def admin_setup(args, outputs):
    """Provision both devices (tools/provision.py) and give the meter an admin listener;
    keys/admin.json tells tools/admin.py where it is and how the sim's calendar runs."""
    provision.provision_sim(args.out, os.path.join(args.out, "meter", "data"),
                            os.path.join(args.out, "mep_device", "data"), METER_ID)
    listen = "127.0.0.1:%d" % free_port()
    call_home = "127.0.0.1:%d" % free_port()
    info = {"meter_id": METER_ID, "address": listen, "call_home": call_home, "start_s": int(time.time()),
            "start_wall": time.time(), "speed": args.speed,
            "headend_keys": os.path.join(os.path.abspath(args.out), "headend-keys.json")}
    with open(os.path.join(args.out, "keys", "admin.json"), "w") as f:
        json.dump(info, f, indent=1)
    return {"listen": listen, "connect_to": call_home, "max_age_s": 300}
def ota_setup(args, storage_dir):
    """The meter's update port (docs/ota.md). Provisioning (provision_sim) made the signing
    key OUT/keys/ota-signing.pem and installed its public half as the meter's trust anchor,
    so `flash.py sign --key OUT/keys/ota-signing.pem` makes bundles this meter takes;
    --ota-anchor FILE installs another anchor instead."""
    if args.ota_anchor:
        sys.path[:0] = [os.path.join(REPO, "lib"), os.path.join(REPO, "host_tests", "shims")]
        import otatool

        with open(args.ota_anchor, "rb") as f:
            otatool.write_anchor(storage_dir, f.read())
    port = args.ota_port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    print("sim: meter update port 127.0.0.1:%d (python tools/flash.py ota --sim %s BUNDLE)" % (port, args.out))
    return {"port": port, "confirm_s": args.ota_confirm_s}


async def simulate(args):
    micropython = find_micropython()
    if args.fresh and os.path.isdir(args.out):
        shutil.rmtree(args.out)
    outputs = Outputs(args.out)
    loop = asyncio.get_running_loop()
    view = LiveView(outputs, args.speed)

    meter_storage = os.path.join(args.out, "meter", "data")
    admin = admin_setup(args, outputs)  # provisions both devices, writes headend-keys.json
    headend = SimHeadEnd(outputs, os.path.join(args.out, "headend-keys.json"))
    air = AirHub(outputs, headend)
    await air.start()
    mep_link = mep_sim.make_link(os.path.abspath(args.out), PtyLink, _detach_child)
    mep_link.start(loop)
    http_port = args.display_port or mep_sim.free_port()
    mbus = PtyPort("mbus")
    slaves = None
    if args.no_mbus_slaves:
        mbus.start(loop)  # nothing on the bus: drain what the meter sends
    else:
        slaves = MBusSlaves(mbus, args.out)
        await slaves.start()

    meter_cfg = meter_config(args, os.path.join(args.out, "meter", "data"), air.port, mbus.path, mep_link.a_path)
    meter_cfg["admin"] = admin
    meter_cfg["ota"] = ota_setup(args, os.path.join(args.out, "meter", "data"))
    import sim_sml  # the SML info port on a pty (tools/sim_sml.py)

    sml_link = sim_sml.attach(meter_cfg, PtyLink, loop)
    meter = Device("meter", micropython, args.heap, meter_cfg, outputs, view.on_status)
    devices = [meter]
    if not args.no_mep_device:
        devices.append(Device(
            "mep_device", micropython, args.heap,
            mep_device_config(args, os.path.join(args.out, "mep_device", "data"), mep_link.b_path, http_port),
            outputs, view.on_status,
        ))
        print("sim: in-home display at http://127.0.0.1:%d/" % http_port, flush=True)
    utility = mep_sim.UtilityDemo(os.path.join(os.path.abspath(args.out), mep_sim.INBOX), args.tariff_every)
    utility_run = asyncio.create_task(utility.run())
    runs = [asyncio.create_task(d.run()) for d in devices]

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    started = time.monotonic()
    redraw_s = 1.0 if view.tty else 5.0
    next_draw = started + redraw_s
    deadline = started + args.seconds if args.seconds else None
    while not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        wake = next_draw if deadline is None else min(next_draw, deadline)
        try:
            await asyncio.wait_for(stop.wait(), max(0.0, wake - now))
        except asyncio.TimeoutError:
            pass
        if time.monotonic() >= next_draw:
            view.draw(time.monotonic() - started)
            next_draw += redraw_s
    view.draw(time.monotonic() - started)

    for d in devices:
        await d.stop()
    if slaves is not None:
        await slaves.stop()
    utility_run.cancel()
    for run in runs:
        run.cancel()
    await asyncio.gather(*runs, return_exceptions=True)
    air.close()
    headend.close()
    mep_link.close(loop)
    sml_link.close(loop)
    mbus.close(loop)

    summary = {
        "wall_s": round(time.monotonic() - started, 1),
        "speed": args.speed,
        "readings": view.readings,
        "last_reading": view.reading,
        "telegrams": air.frames,
        "headend": {"accepted": headend.headend.accepted, "rejected": headend.headend.rejected},
        "air_frames_dropped": air.dropped,
        "mep_bytes": {"meter_to_device": mep_link.bytes_a_to_b, "device_to_meter": mep_link.bytes_b_to_a,
                      "dropped_meter_to_device": mep_link.dropped_a_to_b,
                      "dropped_device_to_meter": mep_link.dropped_b_to_a},
        "devices": {d.name: {"starts": d.starts, "exit_codes": d.exits} for d in devices},
        "mbus": {"reads": view.mbus_reads, "events": view.mbus_events,
                 "last": {name: r.get("result") for name, r in view.mbus.items()}},
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    for d in devices:
        d.close()
    outputs.close()
    print("sim: stopped after %.0f s; outputs in %s" % (summary["wall_s"], args.out))
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0, help="stop after S wall-clock seconds (0: until Ctrl-C)")
    parser.add_argument("--speed", type=int, default=60, help="calendar time runs X times faster (default 60)")
    parser.add_argument("--out", default=os.path.join(REPO, "sim-out"), help="where outputs and logs go")
    # The whole meter (metrology, LMN, M-Bus, MEP, admin, OTA) run from .py sources needs more
    # than 512K on the 64-bit unix port; docs/performance.md has the measured figures.
    parser.add_argument("--heap", default="1M", help="MicroPython heap cap per device (default 1M)")
    parser.add_argument("--fresh", action="store_true", help="wipe --out first (devices start unprovisioned)")
    parser.add_argument("--no-mep-device", action="store_true", help="run the meter alone")
    parser.add_argument("--no-mbus-slaves", action="store_true", help="no simulated wired M-Bus meters")
    parser.add_argument("--ota-port", type=int, default=0, help="the meter's update port (default: a free one)")
    parser.add_argument("--ota-confirm-s", type=int, default=10,
                        help="healthy seconds before an updated meter confirms its new version (default 10)")
    parser.add_argument("--ota-anchor", metavar="FILE",
                        help="OTA trust anchor to provision (65 bytes; default: OUT/ota-signing.pem's, made once)")
    parser.add_argument("--display-port", type=int, default=0, help="the display page's port (0: a free one)")
    parser.add_argument("--tariff-every", type=float, default=20,
                        help="the utility changes the tariff every S wall seconds (0: never)")
    args = parser.parse_args(argv)
    if args.speed < 1:
        parser.error("--speed must be at least 1")
    return args


def main(argv=None):
    return asyncio.run(simulate(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
