# The M-Bus frame receiver: resynchronisation, echoes, partial frames, timeouts.
import rt
import support
from mbus import receiver as R
from mbus.receiver import Receiver
from mbus_memlink import MemoryUART, default_bus, frame

GAS = frame("LGB_G350")
REQ = bytes((0x10, 0x7B, 0x01, 0x7C, 0x16))  # REQ_UD2 to 1, FCB 1
NKE = bytes((0x10, 0x40, 0xFE, 0x3E, 0x16))


def frames_of(rx, data, chunk=None):
    """Feed data (in chunks) and collect (result, frame bytes) until all is scanned."""
    got = []
    step = chunk or len(data) or 1
    for i in range(0, len(data), step):
        rx.feed(data[i:i + step])
        while True:
            r = rx.scan()
            if r == R.NONE:
                break
            got.append((r, rx.frame_bytes() if r == R.FRAME else None))
    return got


def test_timeouts_follow_the_baud_rate():
    # 11 bits per byte: 36.7 ms at 300, 4.583 ms at 2400, 1.146 ms at 9600.
    assert R.byte_us(300) == 36667 and R.byte_us(2400) == 4584 and R.byte_us(9600) == 1146
    # First byte: 341 bit times + 50 ms window + 100 ms adapter latency.
    assert R.answer_timeout_ms(2400) == 142 + 1 + 150
    assert R.answer_timeout_ms(300) == 1136 + 1 + 150
    assert R.answer_timeout_ms(9600) == 35 + 1 + 150
    # Inside a frame: 3 characters, but not below the 40 ms jitter floor.
    assert R.gap_timeout_ms(300) == 110 + 1 and R.gap_timeout_ms(2400) == 40 and R.gap_timeout_ms(9600) == 40
    # Whole telegram: 261 bytes on the wire + 0.5 s.
    assert R.frame_timeout_ms(2400) == 1196 + 1 + 500
    rx = Receiver(None, 2400)
    assert rx.wire_ms(5) == 23 and rx.wire_ms(0) == 0
    rx.set_baudrate(300)
    assert rx.answer_ms == R.answer_timeout_ms(300)


def test_ack_long_frame_and_echo_skipped():
    rx = Receiver(None)
    got = frames_of(rx, REQ + b"\xe5" + NKE + GAS)
    assert got == [(R.FRAME, b"\xe5"), (R.FRAME, GAS)]
    assert rx.echoes == 2 and rx.garbage_bytes == 0 and rx.frames == 2


def test_every_split_point_gives_the_same_frames():
    data = b"\x00\xff" + REQ + GAS + b"\xe5"
    want = [(R.FRAME, GAS), (R.FRAME, b"\xe5")]
    for chunk in range(1, 12):
        rx = Receiver(None)
        assert frames_of(rx, data, chunk) == want, chunk
        assert rx.garbage_bytes == 2 and rx.echoes == 1


def test_resynchronises_after_garbage_that_looks_like_frame_starts():
    # 0x68 with differing L-fields, a 0x10 that is no short frame, a 0x68 without its
    # second start byte: all garbage, and the real frame behind them is found.
    junk = b"\x68\x05\x06" + b"\x10\x01\x02\x03\x04" + b"\x68\x03\x03\x00"
    rx = Receiver(None)
    assert frames_of(rx, junk + GAS) == [(R.FRAME, GAS)]
    assert rx.garbage_bytes == len(junk)
    assert rx.last_error is not None


def test_bad_checksum_is_a_bad_frame_dropped_whole():
    bad = bytearray(GAS)
    bad[-2] ^= 0x01
    rx = Receiver(None)
    assert frames_of(rx, bytes(bad) + b"\xe5") == [(R.BAD_FRAME, None), (R.FRAME, b"\xe5")]
    assert rx.bad_frames == 1 and rx.last_error == "bad checksum"


def test_bad_stop_byte_resynchronises_inside():
    bad = bytearray(GAS)
    bad[-1] = 0x17
    rx = Receiver(None)
    # The broken frame is skipped byte by byte; nothing inside it passes as a frame
    # except what really is one, and the E5 after it is found.
    got = frames_of(rx, bytes(bad) + b"\xe5")
    assert got[-1] == (R.FRAME, b"\xe5")
    assert rx.garbage_bytes >= 1


def test_buffer_is_bounded():
    rx = Receiver(None)
    total = 0
    for _ in range(40):
        total += rx.feed(b"\x68\xff\xff\x68" + b"\x00" * 60)
        rx.scan()
    assert rx.end <= len(rx.buf)
    assert len(rx.buf) == 261 + 64


def test_a_port_with_jitter_widens_every_limit_by_it():
    # The host board's pty (HostUART.jitter_ms) reaches a process that may wait for a CPU:
    # the answer window too, else a late E5 and the repeat's E5 read as a collision.
    class JitteryPort:
        jitter_ms = 200

    rx = Receiver(JitteryPort(), 2400)
    limits = (rx.answer_ms, rx.gap_ms, rx.frame_ms)
    wire = (R.answer_timeout_ms(2400) + 200, R.gap_timeout_ms(2400) + 200, R.frame_timeout_ms(2400) + 200)
    assert limits == wire, "answer, gap and frame limits %r, expected %r" % (limits, wire)
    rx.set_baudrate(9600)
    assert rx.answer_ms == R.answer_timeout_ms(9600) + 200, rx.answer_ms
    plain = Receiver(None, 2400)  # a UART on a wire: no allowance
    assert (plain.answer_ms, plain.gap_ms) == (R.answer_timeout_ms(2400), R.gap_timeout_ms(2400))


def test_answer_no_answer_times_out():
    uart = MemoryUART(default_bus())
    rx = Receiver(uart, 9600)

    async def main():
        t0 = rt.ticks_ms()
        r = await rx.answer(60)
        return r, rt.ticks_diff(rt.ticks_ms(), t0)

    r, took = support.run(main())
    # Not before the window ends; the upper bound only catches a receiver that hangs.
    assert r == R.NONE and rx.timeouts == 1, (r, rx.timeouts)
    assert 55 <= took < 30_000, "answer(60) with nothing on the line returned after %d ms" % took


def test_answer_partial_frame_is_garbled_after_the_gap():
    uart = MemoryUART(default_bus())
    rx = Receiver(uart, 9600)

    async def main():
        uart.deliver(GAS[:30])  # the rest never comes
        t0 = rt.ticks_ms()
        r = await rx.answer(100)
        return r, rt.ticks_diff(rt.ticks_ms(), t0)

    r, took = support.run(main())
    assert r == R.GARBLED
    assert rx.gap_ms - 5 <= took < 30_000, "a broken frame ended after %d ms, expected the %d ms gap" % (
        took, rx.gap_ms)
    assert rx.pending() == 0 and rx.garbage_bytes == 30


def test_answer_assembles_a_frame_from_pieces_and_skips_echo():
    uart = MemoryUART(default_bus())
    rx = Receiver(uart, 9600)

    async def trickle():
        uart.deliver(REQ)  # the echo of our own request
        for i in range(0, len(GAS), 7):
            await rt.sleep_ms(3)
            uart.deliver(GAS[i:i + 7])

    async def main():
        import asyncio

        task = asyncio.create_task(trickle())
        r = await rx.answer(200)
        await task
        return r

    assert support.run(main()) == R.FRAME
    assert rx.frame_bytes() == GAS and rx.echoes == 1


def test_quiet_sees_a_second_answer():
    uart = MemoryUART(default_bus())
    rx = Receiver(uart, 9600)

    async def main():
        uart.deliver(b"\xe5")
        assert await rx.answer(50) == R.FRAME
        quiet_alone = await rx.quiet(20)
        uart.deliver(b"\xe5")
        assert await rx.answer(50) == R.FRAME
        uart.deliver(b"\xe5")
        return quiet_alone, await rx.quiet(20)

    assert support.run(main()) == (True, False)


def test_flush_counts_stray_bytes():
    uart = MemoryUART(default_bus())
    rx = Receiver(uart, 2400)
    uart.deliver(b"\x01\x02\x03")
    rx.feed(b"\x68")
    assert rx.flush() == 4 and rx.stray_bytes == 4 and uart.any() == 0 and rx.pending() == 0
