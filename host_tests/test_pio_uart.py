# test: cpython-only (fakes the rp2 and machine modules in sys.modules)
# boards/rp2/pio_uart.py's driver logic against fake state machines: the line rate, 8N1
# only, received words (byte in the top 8 bits, as the receive program pushes them) into
# the ring buffer and read_some, overrun counting, the 4-deep transmit FIFO and write_all.
# The PIO programs themselves run only on the chip; mpy-cross compiles them.

import sys
import types

import repo_paths
import support


class FakeSM:
    def __init__(self, sm_id, program, freq, **pins):
        self.sm_id, self.program, self.freq, self.pins = sm_id, program, freq, pins
        self.running = 0
        self.tx = []  # words the CPU put, in order
        self.sent = []  # words the "line" has taken out of the FIFO
        self.rx = []
        self.handler = None

    def active(self, on):
        self.running = on

    def irq(self, handler):
        self.handler = handler

    def tx_fifo(self):
        return len(self.tx)

    def put(self, word):
        assert len(self.tx) < 4, "never put into a full FIFO"
        self.tx.append(word)

    def rx_fifo(self):
        return len(self.rx)

    def get(self):
        return self.rx.pop(0)

    # the far end
    def line_takes_all(self):
        self.sent += self.tx
        self.tx = []

    def receive(self, data):
        for b in data:
            self.rx.append(b << 24)
        self.handler(self)


def _load():
    rp2 = types.ModuleType("rp2")
    rp2.PIO = types.SimpleNamespace(OUT_HIGH=1, SHIFT_RIGHT=1, JOIN_RX=2)
    rp2.asm_pio = lambda **kw: (lambda fn: fn)
    machines = []

    def state_machine(*args, **kwargs):
        sm = FakeSM(*args, **kwargs)
        machines.append(sm)
        return sm

    rp2.StateMachine = state_machine
    machine = types.ModuleType("machine")

    class Pin:
        OUT, IN, PULL_UP = 1, 0, 1

        def __init__(self, n, *args, **kwargs):
            self.n = n

    machine.Pin = Pin
    saved = {name: sys.modules.get(name) for name in ("rp2", "machine", "pio_uart")}
    sys.modules["rp2"] = rp2
    sys.modules["machine"] = machine
    sys.modules.pop("pio_uart", None)
    try:
        pio_uart = repo_paths.module_at("boards/rp2/pio_uart.py")
    finally:
        for name, module in saved.items():
            if name != "pio_uart":
                if module is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = module
    return pio_uart, machines


def test_rate_pins_and_8n1_only():
    pio_uart, machines = _load()
    u = pio_uart.PioUart(4, 16, 17, 9600)
    tx, rx = machines[-2:]
    assert (tx.sm_id, rx.sm_id) == (4, 5), "transmit on sm_id, receive on sm_id + 1"
    assert tx.freq == rx.freq == 9600 * 8, "8 cycles per bit"
    assert tx.running and rx.running and rx.handler is not None
    support.raises(ValueError, lambda: u.init(baudrate=300, bits=7, parity=0))
    u.init(baudrate=19200)
    assert machines[-1].freq == 19200 * 8 and not rx.running, "re-init stops the old machines"


def test_receive_into_ring_and_read_some():
    pio_uart, machines = _load()
    u = pio_uart.PioUart(0, 0, 1, 9600)
    rx = machines[1]
    buf = bytearray(8)

    async def reader():
        return await u.read_some(buf)

    async def main():
        import asyncio

        task = asyncio.create_task(reader())
        await asyncio.sleep(0)
        assert not task.done(), "read_some waits for a byte"
        rx.receive(b"\x1b\x1b\x01")
        n = await task
        return n

    assert support.run(main()) == 3 and buf[:3] == b"\x1b\x1b\x01"
    rx.receive(b"abcdefghij")
    assert u.any() == 10
    assert u.readinto(buf) == 8 and buf == b"abcdefgh"
    assert u.read() == b"ij" and u.read() is None
    rx.receive(bytes(600))
    assert u.any() == 511 and u.overruns == 89, "a full ring keeps 511 bytes and counts the rest"


def test_write_fills_the_fifo_and_write_all_waits_for_it():
    pio_uart, machines = _load()
    u = pio_uart.PioUart(0, 0, 1, 115200)
    tx = machines[0]
    assert u.write(b"0123456789") == 4, "the FIFO takes four bytes at once"
    tx.line_takes_all()
    data = bytes(range(30))

    async def main():
        import asyncio

        task = asyncio.create_task(u.write_all(data))
        while not task.done():
            tx.line_takes_all()
            await asyncio.sleep(0.001)

    support.run(main())
    tx.line_takes_all()
    assert bytes(tx.sent) == b"0123" + data, "every byte goes out, in order"
