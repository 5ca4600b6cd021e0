#!/usr/bin/env python3
# Time of a wired M-Bus poll cycle of four devices beside the minimum the wire allows.
#
#   .venv/bin/python bench/mbus_poll.py [--baud 2400] [--cycles 6]
#
# The simulated slaves (tools/mbus_slaves.py, the four default meters) answer on one end
# of a pty at real byte timing; the firmware's master runs under the MicroPython unix
# port on the other end, through the host board's HostUART, and reads the four devices
# one after the other, cycle after cycle. The minimum of a cycle is every byte on the
# wire (requests and answers, 11 bits each: 4.58 ms at 2400 baud) plus each answer's
# delay (the slaves' configured response delay). The first cycle also resets each link
# (SND_NKE); the steady cycles after it are what a schedule repeats. Two bus layouts:
# all four by primary address, and two of them by secondary address (a selection before
# each read). Results: docs/performance.md ("Wired M-Bus poll cycle").
#
# The slaves are a CPython process keeping real byte timing: on a loaded machine they can
# wake late and leave gaps inside an answer, which the master rightly drops (EN 13757-2),
# so a read ends as bad_frame or collision. Such a cycle is shown as disturbed, with its
# results, and left out of the ratios; the run fails only if no steady cycle was clean.
#
# Run with --child PTY BAUD CYCLES LAYOUT by this script itself, under MicroPython.

import sys

LAYOUTS = {
    "primary": [1, 2, 3, 4],
    "mixed": [1, "0901152304771407", 3, "1200007104771407"],
}


def child(argv):
    """Under MicroPython: poll the devices, print one JSON line per cycle."""
    import json

    path, baud, cycles, layout = argv[0], int(argv[1]), int(argv[2]), argv[3]
    import asyncio
    import rt
    from hostuart import HostUART
    from mbus.master import Master, Device, secondary_from_text

    uart = HostUART("pty:" + path, baudrate=baud, parity=0)
    master = Master(uart, baud)
    devices = [Device(primary=a) if type(a) is int else Device(secondary=secondary_from_text(a))
               for a in LAYOUTS[layout]]

    async def main():
        for cycle in range(cycles):
            per = []
            t0 = rt.ticks_us()
            for dev in devices:
                r0, o0, i0 = master.requests, master.bytes_out, master.bytes_in
                result = await master.read(dev)
                per.append([result.code, master.requests - r0, master.bytes_out - o0, master.bytes_in - i0])
            took_us = rt.ticks_diff(rt.ticks_us(), t0)
            print(json.dumps({"cycle": cycle, "us": took_us, "devices": per}))

    asyncio.run(main())


def run(baud, cycles, layout):
    import json
    import os
    import subprocess
    import tty

    import repo_paths
    from mbus_slaves import DEFAULT_DEVICES

    micropython = os.path.join(os.path.dirname(sys.executable), "micropython")
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    slaves = subprocess.Popen([sys.executable, os.path.join(repo_paths.REPO, "tools", "mbus_slaves.py"), "--fd", str(master_fd),
                               "--baud", str(baud)], pass_fds=[master_fd], stderr=subprocess.PIPE, text=True)
    os.close(master_fd)
    while not slaves.stderr.readline().startswith("ready"):
        pass
    try:
        out = subprocess.run([micropython, "-X", "heapsize=512K", os.path.abspath(__file__), "--child",
                              os.ttyname(slave_fd), str(baud), str(cycles), layout],
                             capture_output=True, text=True, timeout=600, check=True,
                             env=repo_paths.micropython_env()).stdout
    finally:
        slaves.terminate()
        slaves.wait()
        os.close(slave_fd)
    byte_ms = 11 * 1000 / baud
    delays = [d["delay_ms"] for d in DEFAULT_DEVICES]
    rows = []
    for line in out.splitlines():
        c = json.loads(line)
        if not all(d[0] == "ok" for d in c["devices"]):
            rows.append((c["cycle"], c["us"] / 1000, None, [d[0] for d in c["devices"]], None))
            continue
        wire_bytes = sum(d[2] + d[3] for d in c["devices"])
        delay_ms = sum(d[1] * delays[i] for i, d in enumerate(c["devices"]))
        minimum_ms = wire_bytes * byte_ms + delay_ms
        rows.append((c["cycle"], c["us"] / 1000, minimum_ms, wire_bytes, sum(d[1] for d in c["devices"])))
    return rows


def main():
    import argparse

    parser = argparse.ArgumentParser(description="M-Bus poll cycle time beside the wire minimum")
    parser.add_argument("--baud", type=int, default=2400, choices=(300, 2400, 9600))
    parser.add_argument("--cycles", type=int, default=6)
    args = parser.parse_args()
    failed = False
    for layout in ("primary", "mixed"):
        rows = run(args.baud, args.cycles, layout)
        print("layout %s (%s), %d baud" % (layout, ", ".join(str(a) for a in LAYOUTS[layout]), args.baud))
        print("  cycle  measured_ms  minimum_ms  ratio  wire_bytes  requests")
        for cycle, took, minimum, wire, requests in rows:
            if minimum is None:
                print("  %5d  %11.1f  disturbed: %s (the slaves missed their byte timing?)" % (
                    cycle, took, ", ".join(wire)))
                continue
            print("  %5d  %11.1f  %10.1f  %5.3f  %10d  %8d" % (cycle, took, minimum, took / minimum, wire, requests))
        steady = sorted(took / minimum for _, took, minimum, _, _ in rows[1:] if minimum is not None)
        disturbed = sum(1 for row in rows if row[2] is None)
        if steady:
            print("  steady cycles: median ratio %.3f, worst %.3f%s" % (
                steady[len(steady) // 2], steady[-1], "; %d disturbed cycles left out" % disturbed if disturbed else ""))
        else:
            failed = True
            print("  no clean steady cycle: run it on an idle machine")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        sys.exit(main())
