# The simulation's serial lines: pty pairs whose masters this process relays (PtyLink, a
# cable between two devices) or holds for a bus attached to it (PtyPort).

import os
import tty


def read_master(fd):
    """What a non-blocking pty master has: bytes, b"" when nothing is waiting, or None
    on EIO/EOF (no slave open), which polls readable forever and must not be spun on."""
    try:
        data = os.read(fd, 4096)
    except BlockingIOError:
        return b""
    except OSError:
        return None
    return data or None


class PtyLink:
    """Two pty pairs whose masters this process relays: a serial cable between two devices.

    The simulation keeps the slave ends open too, so a device that restarts finds its
    port as it left it and the relay never sees a hang-up.

    The masters are non-blocking: what a device does not read (it is restarting, or
    absent) waits in a buffer of at most MAX_BUFFERED_BYTES per direction, written out
    as the master takes it; beyond that the oldest bytes are dropped and counted
    (dropped_a_to_b, dropped_b_to_a), so the event loop never blocks on a full pty. A
    master that fails reads (EIO: no slave open) is left alone for RETRY_S at a time.
    """

    MAX_BUFFERED_BYTES = 64 * 1024
    RETRY_S = 0.5

    def __init__(self, name):
        self.name = name
        self.a_master, self.a_slave = os.openpty()
        self.b_master, self.b_slave = os.openpty()
        for fd in (self.a_slave, self.b_slave):
            tty.setraw(fd)
        for fd in (self.a_master, self.b_master):
            os.set_blocking(fd, False)
        self.a_path = os.ttyname(self.a_slave)
        self.b_path = os.ttyname(self.b_slave)
        self.bytes_a_to_b = 0
        self.bytes_b_to_a = 0
        self.dropped_a_to_b = 0
        self.dropped_b_to_a = 0
        self.read_errors = 0
        self._pending = {self.a_master: bytearray(), self.b_master: bytearray()}
        self._writing = set()
        self._timers = []
        self._loop = None
        self._closed = False

    def start(self, loop):
        self._loop = loop
        self._watch(self.a_master)
        self._watch(self.b_master)

    def _watch(self, src):
        if self._closed:
            return
        if src == self.a_master:
            self._loop.add_reader(src, self._relay, src, self.b_master, True)
        else:
            self._loop.add_reader(src, self._relay, src, self.a_master, False)

    def _later(self, callback, *args):
        self._timers = [t for t in self._timers if not t.cancelled()]
        self._timers.append(self._loop.call_later(self.RETRY_S, callback, *args))

    def _relay(self, src, dst, a_to_b):
        data = read_master(src)
        if data == b"":
            return
        if data is None:
            self.read_errors += 1
            self._loop.remove_reader(src)
            self._later(self._watch, src)
            return
        if a_to_b:
            self.bytes_a_to_b += len(data)
        else:
            self.bytes_b_to_a += len(data)
        pending = self._pending[dst]
        pending += data
        if dst not in self._writing:
            self._flush(dst, a_to_b)
        excess = len(pending) - self.MAX_BUFFERED_BYTES
        if excess > 0:
            del pending[:excess]  # the oldest go: a device reading late sees the latest
            if a_to_b:
                self.dropped_a_to_b += excess
            else:
                self.dropped_b_to_a += excess

    def _flush(self, dst, a_to_b):
        """Write what the master dst takes now; wait for it to be writable for the rest."""
        pending = self._pending[dst]
        try:
            n = os.write(dst, pending) if pending else 0
        except BlockingIOError:
            n = 0
        except OSError:
            # Not expected while the slaves are held open; keep buffering, retry later.
            self._stop_writing(dst)
            self._later(self._flush, dst, a_to_b)
            return
        del pending[:n]
        if pending and dst not in self._writing and not self._closed:
            self._loop.add_writer(dst, self._flush, dst, a_to_b)
            self._writing.add(dst)
        elif not pending:
            self._stop_writing(dst)

    def _stop_writing(self, dst):
        if dst in self._writing:
            self._loop.remove_writer(dst)
            self._writing.discard(dst)

    @property
    def buffered(self):
        """Bytes waiting for a device to read them (both directions)."""
        return sum(len(p) for p in self._pending.values())

    def close(self, loop):
        self._closed = True
        for timer in self._timers:
            timer.cancel()
        for fd in (self.a_master, self.b_master):
            loop.remove_reader(fd)
            self._stop_writing(fd)
        for fd in (self.a_master, self.a_slave, self.b_master, self.b_slave):
            os.close(fd)


class PtyPort:
    """One pty pair: the device gets the slave, the simulation the master (a bus to attach).

    The master is non-blocking; one that fails reads (EIO: no slave open) is left alone
    for RETRY_S at a time instead of being polled in a busy loop.
    """

    RETRY_S = 0.5

    def __init__(self, name):
        self.name = name
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.bytes_in = 0
        self.read_errors = 0
        self._loop = None
        self._timer = None
        self._closed = False

    def start(self, loop):
        self._loop = loop
        self._watch()

    def _watch(self):
        if not self._closed:
            self._loop.add_reader(self.master, self._drain)

    def _drain(self):
        data = read_master(self.master)
        if data == b"":
            return
        if data is None:
            self.read_errors += 1
            self._loop.remove_reader(self.master)
            self._timer = self._loop.call_later(self.RETRY_S, self._watch)
            return
        self.bytes_in += len(data)

    def close(self, loop):
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        loop.remove_reader(self.master)
        os.close(self.master)
        os.close(self.slave)
