# test: cpython-only (os.openpty and a MicroPython subprocess)
# The host board's serial port over a pty, as the simulation connects it: partial reads
# under CPython here, and under the MicroPython unix port in a child process.
import asyncio
import os
import select
import subprocess
import sys
import time
import repo_paths
import rt
import support
from hostuart import HostUART

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")


def pty_pair():
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def read_master(master, count, timeout_s=5.0):
    got = b""
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            got += os.read(master, 4096)
    return got


def test_pty_uart_partial_reads_under_cpython():
    master, slave, path = pty_pair()
    uart = HostUART("pty:" + path)

    async def main():
        buf = bytearray(64)
        assert uart.read(10) is None and uart.any() == 0
        os.write(master, b"\x68\x03")
        await rt.sleep_ms(20)
        assert uart.any() == 1
        assert uart.read(10) == b"\x68\x03"  # what is there, not the 10 asked for
        task = asyncio.create_task(uart.read_some(buf))
        await rt.sleep_ms(30)
        assert not task.done()
        os.write(master, b"abc")
        n = await rt.wait_for_ms(task, 1000)
        assert buf[:n] == b"abc"
        await uart.write_all(b"\x10\x40\xfe\x3e\x16")
        assert read_master(master, 5) == b"\x10\x40\xfe\x3e\x16"

    try:
        support.run(main())
    finally:
        uart.deinit()
        os.close(master)
        os.close(slave)


_ECHO = r"""
import sys
import asyncio
from hostuart import HostUART

uart = HostUART("pty:" + sys.argv[1])

async def main():
    buf = bytearray(64)
    print("ready")
    n = await uart.read_some(buf)
    print("read_some", bytes(buf[:n]).hex())
    await uart.write_all(b"<" + bytes(buf[:n]) + b">")
    reader = asyncio.StreamReader(uart)
    data = await reader.read(64)
    print("stream", data.hex())
    writer = asyncio.StreamWriter(uart, {})
    writer.write(b"[" + data + b"]")
    await writer.drain()
    print("done")

asyncio.run(main())
"""


def test_pty_uart_partial_reads_under_micropython():
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    master, slave, path = pty_pair()
    child = subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", "-c", _ECHO, path],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=repo_paths.micropython_env())
    try:
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.05)
        os.write(master, b"\x01\x02\x03")  # 3 bytes into a 64-byte read: returns at once
        assert child.stdout.readline().split() == ["read_some", "010203"]
        assert read_master(master, 5) == b"<\x01\x02\x03>"
        os.write(master, b"xy")
        assert child.stdout.readline().split() == ["stream", "7879"]
        assert read_master(master, 4) == b"[xy]"
        assert child.stdout.readline().strip() == "done"
        assert child.wait(timeout=10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        os.close(master)
        os.close(slave)


def test_pty_write_all_drops_and_counts_bytes_once_the_far_end_hung_up():
    master, slave, path = pty_pair()
    uart = HostUART("pty:" + path)
    os.close(slave)

    async def main():
        await uart.write_all(b"before")
        assert read_master(master, 6) == b"before"
        assert not uart.hung_up and uart.dropped_bytes == 0
        os.close(master)  # the simulation went away: the slave is hung up (EIO on write)
        await rt.wait_for_ms(uart.write_all(b"x" * 100), 1000)  # returned, no 1 ms spin
        assert uart.hung_up
        assert uart.dropped_bytes == 100
        await rt.wait_for_ms(uart.write_all(b"y" * 50), 1000)
        assert uart.dropped_bytes == 150
        assert uart.write(b"z" * 10) == 10  # the sync surface too: taken and dropped
        assert uart.dropped_bytes == 160
        # Reads on the hung-up pty back off instead of spinning on "readable, empty".
        calls = [0]
        readinto = uart._link.readinto

        def counting(buf):
            calls[0] += 1
            return readinto(buf)

        uart._link.readinto = counting
        buf = bytearray(16)
        try:
            await rt.wait_for_ms(uart.read_some(buf), 300)
            raise AssertionError("read something from a hung-up pty")
        except asyncio.TimeoutError:
            pass
        assert 1 <= calls[0] <= 60, calls[0]  # 300 ms / 10 ms back-off, not thousands

    try:
        support.run(main())
    finally:
        uart.deinit()


_HANG_UP = r"""
import sys
import asyncio
import rt
from hostuart import HostUART

uart = HostUART("pty:" + sys.argv[1])

async def main():
    print("ready")
    while not uart.hung_up:
        await uart.write_all(b"ping")
        await rt.sleep_ms(20)
    await uart.write_all(b"x" * 1000)
    print("hung up", uart.dropped_bytes >= 1000)

asyncio.run(main())
"""


def _run_hang_up_child(argv, path, master, slave, **popen):
    child = subprocess.Popen(argv + [path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, **popen)
    try:
        assert child.stdout.readline().strip() == "ready"
        assert read_master(master, 4).startswith(b"ping")
        os.close(slave)
        os.close(master)  # the simulation's end of the cable goes away
        output, _ = child.communicate(timeout=10)
        return child.returncode, output
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_pty_hang_up_in_a_new_session_is_eio_not_sighup_under_cpython():
    # As tools/sim.py starts a device: a session of its own. Opened with O_NOCTTY, the pty
    # does not become the controlling terminal, so the hang-up is EIO, not a SIGHUP death.
    master, slave, path = pty_pair()
    code, output = _run_hang_up_child([sys.executable, "-c", _HANG_UP], path, master, slave,
                                      start_new_session=True)
    assert code == 0, (code, output)
    assert output.split() == ["hung", "up", "True"]


def test_pty_hang_up_under_micropython_outside_a_new_session():
    # Not a session leader (own process group at most): the pty never becomes the
    # controlling terminal; the hang-up is seen and writes are dropped.
    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    master, slave, path = pty_pair()
    code, output = _run_hang_up_child([MICROPYTHON, "-X", "heapsize=512K", "-c", _HANG_UP], path,
                                      master, slave, preexec_fn=lambda: os.setpgid(0, 0), env=repo_paths.micropython_env())
    assert code == 0, (code, output)
    assert output.split() == ["hung", "up", "True"]


def test_pty_hang_up_kills_micropython_in_a_new_session_known_limitation():
    # KNOWN LIMITATION of the unix port, pinned here: MicroPython's open() has no
    # O_NOCTTY (and the port has no ffi, fcntl or signal module to drop the terminal or
    # ignore SIGHUP). A session leader without a controlling terminal acquires the pty on
    # open, and the far end's hang-up kills it with SIGHUP. That is why tools/sim.py's
    # _detach_child gives each device its own process group (os.setpgid), not a session.
    import signal

    if not os.path.exists(MICROPYTHON):
        support.skip("no MicroPython unix port in the venv")
    master, slave, path = pty_pair()
    code, output = _run_hang_up_child([MICROPYTHON, "-X", "heapsize=512K", "-c", _HANG_UP], path,
                                      master, slave, start_new_session=True, env=repo_paths.micropython_env())
    assert code == -signal.SIGHUP, (code, output)
