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
    telegrams.hex                every wireless telegram put on the air, all runs (hex, L-field first)
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
import json
import os
import shutil
import signal
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)
import mep_sim  # the MEP link, key, display port and utility side
from simulation.configs import Calendar, admin_setup, meter_config, mep_device_config, ota_setup, mbus_config
from simulation.processes import (  # noqa: F401  (HOST_MAIN, EXIT_*: for the tests and benches)
    Device, MBusSlaves, find_micropython, _detach_child, HOST_MAIN, EXIT_RESET, EXIT_WATCHDOG)
from simulation.ptys import PtyLink, PtyPort
from simulation.radio import AirHub, SimHeadEnd
from simulation.view import LiveView, Outputs, mep_summary
from simulation import dlms as sim_dlms, sml as sim_sml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
__all__ = ["AirHub", "Device", "LiveView", "Outputs", "PtyLink", "PtyPort", "find_micropython", "mbus_config",
           "HOST_MAIN", "REPO"]


async def simulate(args):
    micropython = find_micropython()
    if args.fresh and os.path.isdir(args.out):
        shutil.rmtree(args.out)
    outputs = Outputs(args.out)
    loop = asyncio.get_running_loop()
    view = LiveView(outputs, args.speed)

    calendar = Calendar(args.out, args.speed)
    admin = admin_setup(args, outputs, calendar)  # provisions both devices, writes headend-keys.json
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
    meter_cfg["board"].update(calendar.board())
    sml_link = sim_sml.attach(meter_cfg, PtyLink, loop)  # the SML info port and wired LMN on ptys
    dlms_socat = sim_dlms.setup(args.out, meter_cfg)  # DLMS/COSEM: HDLC pty, TCP wrapper, how to connect
    meter = Device("meter", micropython, args.heap, meter_cfg, outputs, view.on_status)
    devices = [meter]
    if not args.no_mep_device:
        device_cfg = mep_device_config(args, os.path.join(args.out, "mep_device", "data"), mep_link.b_path, http_port)
        device_cfg["board"].update(calendar.board())
        devices.append(Device("mep_device", micropython, args.heap, device_cfg, outputs, view.on_status))
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
    dlms_socat.terminate()

    summary = {
        "wall_s": round(time.monotonic() - started, 1),
        "calendar_end_s": calendar.now_s(),
        "speed": args.speed,
        "readings": view.readings,
        "last_reading": view.reading,
        "telegrams": air.frames,  # this run's; telegrams.hex keeps every run's
        "telegrams_in_file": outputs.telegram_lines(),
        "headend": {"accepted": headend.headend.accepted, "rejected": headend.headend.rejected},
        "air_frames_dropped": air.dropped,
        "mep": mep_summary(mep_link, view.mep.get("mep")),
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
                        help="OTA trust anchor to provision (65 bytes; default: the public half of OUT/keys/ota-signing.pem, "
                             "the signing key the first run makes)")
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
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
