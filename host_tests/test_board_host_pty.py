# test: cpython-only (os.openpty and a MicroPython subprocess)
# The host board's serial port over a pty, as the simulation connects it: partial reads
# under CPython here, and under the MicroPython unix port in a child process.
import asyncio
import os
import select
import subprocess
import sys
import time
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
sys.path[:0] = [%(repo)r + "/lib", %(repo)r + "/boards/host"]
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
    script = _ECHO % {"repo": support.REPO}
    child = subprocess.Popen([MICROPYTHON, "-X", "heapsize=512K", "-c", script, path],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
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
