# The simulation's processes: each firmware under the MicroPython unix port, restarted
# whenever it exits (as a board reboots), and the simulated wired M-Bus slaves.

import asyncio
import ctypes
import json
import os
import shutil
import signal
import sys
import time

# The host board's exit codes (boards/host/softwdt.py): a reset asked for by the firmware,
# and a watchdog that was not fed. Any exit is followed by a restart, as on a board.
from softwdt import EXIT_RESET, EXIT_WATCHDOG

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST_MAIN = os.path.join(REPO, "boards", "host", "main.py")
MBUS_SLAVES = os.path.join(REPO, "tools", "mbus_slaves.py")
MBUS_BAUD = 2400
RESTART_DELAY_S = 1.0
# A device stopped with SIGINT winds its tasks up within 3 s (supervisor.wind_up) and then
# exits; the grace is longer, so a loaded machine does not turn a clean stop into a kill.
STOP_GRACE_S = 10.0
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
