# Helpers shared by the tests, the same under CPython (pytest) and MicroPython (run_upy.py).
# Tests are plain functions named test_* with plain asserts and no fixtures, so that
# both runners can call them.

import os
import asyncio
import rt

_here = __file__ if __file__.startswith("/") else os.getcwd() + "/" + __file__
REPO = _here.rsplit("/", 2)[0]  # the repository root, absolute


class SkipTest(Exception):
    """Raised by a test that cannot run here; both runners count it as skipped."""


def skip(reason):
    if rt.EMULATED:
        import pytest

        pytest.skip(reason)
    raise SkipTest(reason)


def cpython_only(test):
    """For a test that needs CPython-only tooling (hypothesis, subprocesses)."""
    if rt.EMULATED:
        return test

    def skipped():
        raise SkipTest("needs CPython-only tooling")

    return skipped


def needs_host_board():
    """Skip a test that drives the host board (boards/host: sockets, ptys) on a port without them."""
    try:
        import socket  # noqa: F401
    except ImportError:
        skip("needs the host board (sockets), which a bare-metal port has not")


def run(coro):
    """Run one coroutine on a fresh event loop and return its result."""
    try:
        return asyncio.run(coro)
    finally:
        # A fresh loop: on MicroPython this also drops tasks a test left pending, which
        # would otherwise keep their objects alive on the capped heap.
        asyncio.new_event_loop()


_made = [0]


def tmpdir(tag="t"):
    """A new empty directory for one test."""
    _made[0] += 1
    base = (os.getenv("TMPDIR") if hasattr(os, "getenv") else None) or "/tmp"
    path = "%s/mt-%s-%s-%d" % (base, tag, os.urandom(4).hex(), _made[0])
    os.mkdir(path)
    return path


def rmtree(path):
    for entry in os.ilistdir(path) if hasattr(os, "ilistdir") else _scandir(path):
        name, kind = entry[0], entry[1]
        full = path + "/" + name
        if kind == 0x4000:
            rmtree(full)
        else:
            os.remove(full)
    os.rmdir(path)


def _scandir(path):
    for entry in os.scandir(path):
        yield entry.name, 0x4000 if entry.is_dir(follow_symlinks=False) else 0x8000


def raises(exc_type, function, *args):
    """Call function(*args) and return the exception of exc_type it must raise."""
    try:
        function(*args)
    except exc_type as exc:
        return exc
    raise AssertionError("%s not raised" % exc_type.__name__)


async def run_for(supervisor, ms):
    """Run a Supervisor for ms milliseconds, then stop it and let it wind up."""

    async def stop_later():
        await rt.sleep_ms(ms)
        supervisor.stop()

    stopper = asyncio.create_task(stop_later())
    await supervisor.run()
    await stopper
