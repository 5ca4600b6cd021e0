# Stand-in board: the whole meter in one process with no sockets and no hardware, for the
# 32-bit bare-metal MicroPython under qemu (../shared/tools/upy32) and any other port.
#
#   samples     memwave.MemSamples: a 50 Hz grid, load following the calendar's time of day
#   mbus_uart   one end of an in-memory cable; tools/mbus_slaves.py's four meters on the
#               other (hw.slaves: memmbus.SlaveBus, its task answers)
#   mep_uart    one end of an in-memory cable; hw.mep_peer is the MEP device's end
#   logs        the device logs, as every board opens them (hardware.open_device_logs)
# hw.slaves, hw.mep_peer and hw.resets are the stand-in's own (MemHardware): the world
# drives the other ends of the cables through them.
#   radio       memio.MemAir: telegrams kept and counted
#   storage     storage_dir (default /tmp/data: on upy32 a LittleFS in RAM, new every run)
#   watchdog    boards/host/softwdt.py's, calling reset() when it barks
#   reset()     records the reset and calls hw.on_reset (the runner stops the application)
#
# config["board"] keys (SCHEMA checks them at boot): speed, start_s, storage_dir,
# rate_hz, pairs_per_block, watchdog, samples. Run it with boards/mem/world.py.

import os
import clock
from hardware import Hardware, open_device_logs, wants_samples
from config import Int, Str, Bool, Optional
from store.fs import make_dirs
import memio
from memwave import MemSamples
from memmbus import SlaveBus
from recordingpin import RecordingPin
from softwdt import SoftWatchdog

NAME = "mem"

SCHEMA = {
    "speed": Int(1, 10_000_000, default=1),
    "start_s": Optional(Int(0)),
    "storage_dir": Str(min_len=1, default="/tmp/data"),
    "rate_hz": Int(500, 32000, default=4000),
    "pairs_per_block": Int(16, 8000, default=400),
    "watchdog": Bool(default=True),
    "samples": Optional(Bool()),
    "console": Str(choices=("text", "json"), default="text"),
}


class _Resetter:
    def __init__(self):
        self.count = 0
        self.reason = None
        self.hook = None

    def __call__(self, code=75):
        self.count += 1
        self.reason = "watchdog" if code == 76 else "reset"
        print("reset requested (%s)" % self.reason)
        if self.hook is not None:
            self.hook(self.reason)


class MemHardware(Hardware):
    """The contract's parts plus the far ends of the stand-in's cables."""

    def __init__(self, slaves, mep_peer, resets, **parts):
        super().__init__(**parts)
        self.slaves = slaves  # memmbus.SlaveBus: the four M-Bus meters' task
        self.mep_peer = mep_peer  # the MEP device's end of the MEP cable
        self.resets = resets  # _Resetter: how often and why reset() was called


def make_hardware(config):
    board = config.get("board") or {}
    cal_clock = clock.Clock(speed=board.get("speed", 1), start_s=board.get("start_s"))
    root = board.get("storage_dir", "/tmp/data")
    make_dirs(root)
    resetter = _Resetter()
    slaves = SlaveBus()
    mep_uart, mep_peer = memio.cable(512)
    samples = None
    if wants_samples(config):
        samples = MemSamples(cal_clock, rate_hz=board.get("rate_hz", 4000),
                             pairs_per_block=board.get("pairs_per_block", 400))
    watchdog = None
    if board.get("watchdog", True):
        watchdog = SoftWatchdog(config.get("watchdog_ms", 8000), exit=resetter)
    led = RecordingPin("metrology led")
    pulser = None
    if samples is not None:
        from metrology.pulse import CountingPulser

        pulser = CountingPulser(led)
    return MemHardware(
        slaves=slaves,
        mep_peer=mep_peer,
        resets=resetter,
        name=NAME,
        unique_id=bytes.fromhex(config.get("meter_id") or "00000000"),
        clock=cal_clock,
        samples=samples,
        mbus_uart=slaves.master_port,
        mep_uart=mep_uart,
        radio=memio.MemAir(),
        led=led,
        pulser=pulser,
        storage_root=root,
        watchdog=watchdog,
        reset=resetter,
        board_secret=os.urandom(16),
        logs=open_device_logs(root, cal_clock),
    )
