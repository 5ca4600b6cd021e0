# The host board: make_hardware, the waveform source, LED, watchdog, serial ports over
# loopback TCP, and the radio air client against a small in-process hub.
import asyncio
import math
import os
import socket
import rt
import support
import clock
import board
from hostuart import HostUART
from hostair import HostAir
from recordingpin import RecordingPin
from softwdt import SoftWatchdog
from waveform import WaveformSource

FLAT = {"load_profile": None, "noise_counts": 0}


def listen_loopback():
    """A listening TCP socket on 127.0.0.1 and its port (the unix port has no getsockname)."""
    for _ in range(50):
        r = os.urandom(2)
        port = 20000 + (r[0] << 8 | r[1]) % 40000
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        except OSError:
            server.close()
            continue
        server.listen(4)
        return server, port
    raise OSError("no free loopback port")


def source(grid=None, rate_hz=4000, pairs=200, bits=24, speed=1, start_s=None):
    cal = clock.Clock(speed=speed, start_s=start_s)
    v_pc = board.V_PER_COUNT_12 if bits == 12 else board.V_PER_COUNT_24
    i_pc = board.I_PER_COUNT_12 if bits == 12 else board.I_PER_COUNT_24
    return WaveformSource(cal, grid, rate_hz, pairs, bits, v_pc, i_pc)


def read_blocks(src, n):
    """n blocks as lists (a block is only valid until the next read)."""

    async def main():
        src.start()
        blocks = []
        try:
            for _ in range(n):
                blocks.append(list(await src.read_block()))
        finally:
            src.stop()
        return blocks

    return support.run(main())


def measure(src, blocks):
    """(mean v, mean i, Vrms, Irms, P) in counts removed and units, DC taken out."""
    v = []
    i = []
    for block in blocks:
        v.extend(block[0::2])
        i.extend(block[1::2])
    n = len(v)
    mv = sum(v) / n
    mi = sum(i) / n
    vrms = math.sqrt(sum((x - mv) ** 2 for x in v) / n) * src.v_per_count
    irms = math.sqrt(sum((x - mi) ** 2 for x in i) / n) * src.i_per_count
    p = sum((v[k] - mv) * (i[k] - mi) for k in range(n)) / n * src.v_per_count * src.i_per_count
    return mv, mi, vrms, irms, p


def close_to(value, expected, rel):
    return abs(value - expected) <= rel * abs(expected)


# -- make_hardware -----------------------------------------------------------------------


def test_make_hardware_builds_every_part():
    storage = support.tmpdir("board") + "/deep/store"
    exits = []
    config = {
        "app": "meter",
        "meter_id": "12345678",
        "watchdog_ms": 5000,
        "board": {"speed": 60, "start_s": 1_700_000_000, "storage_dir": storage, "grid": FLAT, "rate_hz": 2000},
    }
    hw = board.make_hardware(config, exit=exits.append)
    try:
        assert hw.name == "host"
        assert hw.unique_id == b"\x12\x34\x56\x78"
        assert hw.clock.speed == 60
        assert hw.clock.time_s() >= 1_700_000_000
        s = hw.samples
        assert (s.rate_hz, s.pairs_per_block, s.adc_bits, s.typecode) == (2000, 400, 24, "i")
        assert s.v_per_count == board.V_PER_COUNT_24 and s.i_per_count == board.I_PER_COUNT_24
        assert s.calendar_ms_per_block() == 400 * 1000 * 60 / 2000
        assert hw.mbus_uart is None and hw.mep_uart is None and hw.radio is None
        assert os.stat(storage)[0] & 0x4000  # a directory, made with its parents
        assert hw.storage_root == storage
        hw.led.on()
        assert hw.led.value() == 1
        assert hw.watchdog.timeout_ms == 5000
        hw.watchdog.feed()
        hw.reset()
        assert exits == [75]
    finally:
        hw.watchdog.stop()
    support.rmtree(storage.rsplit("/", 2)[0])


def test_make_hardware_unique_id_and_watchdog_switch():
    storage = support.tmpdir("board")
    hw = board.make_hardware({"board": {"storage_dir": storage, "unique_id": "meter-7", "watchdog": False}})
    assert hw.unique_id == b"meter-7"
    assert hw.watchdog is None
    assert hw.clock.speed == 1
    assert board.unique_id_from({"board": {"unique_id": "0A0B"}}) == b"\x0a\x0b"
    assert board.unique_id_from({}) == b"HOST"
    support.rmtree(storage)


def test_make_hardware_opens_configured_ports():
    server, port = listen_loopback()
    storage = support.tmpdir("board")
    address = "127.0.0.1:%d" % port
    config = {"board": {"storage_dir": storage, "mbus_uart": "tcp:" + address, "mep_uart": "tcp:" + address,
                        "air": address, "watchdog": False}}
    hw = board.make_hardware(config)
    try:
        assert hw.mbus_uart.baudrate == 2400 and hw.mbus_uart.parity == 0
        assert hw.mep_uart.baudrate == 9600 and hw.mep_uart.parity is None
        assert hw.radio.address == address
    finally:
        hw.mbus_uart.deinit()
        hw.mep_uart.deinit()
        hw.radio.close()
        server.close()
        support.rmtree(storage)


# -- the waveform source ---------------------------------------------------------------------


def test_waveform_gives_the_configured_rms_and_power():
    grid = dict(FLAT, v_rms=230.0, i_rms=10.0, phase_deg=30.0)
    src = source(grid)
    mv, mi, vrms, irms, p = measure(src, read_blocks(src, 4))
    assert abs(mv) < 100 and abs(mi) < 100  # of +-2**23: table rounding only
    assert close_to(vrms, 230.0, 0.001)
    assert close_to(irms, 10.0, 0.001)
    assert close_to(p, 230.0 * 10.0 * math.cos(math.radians(30.0)), 0.002)


def test_waveform_12_bit_with_offsets_harmonics_and_noise():
    grid = {"load_profile": None, "v_rms": 230.0, "i_rms": 20.0, "phase_deg": -10.0, "v_dc_counts": 7,
            "i_dc_counts": -5, "noise_counts": 2, "v_harmonics": [[3, 0.05, 0.0]],
            "i_harmonics": [[3, 0.3, 20.0], [5, 0.1, 0.0]]}
    src = source(grid, bits=12)
    assert src.typecode == "H" and src.zero_count == 2048
    blocks = read_blocks(src, 4)
    assert min(min(b) for b in blocks) >= 0 and max(max(b) for b in blocks) <= 4095
    mv, mi, vrms, irms, p = measure(src, blocks)
    assert abs(mv - 2055) < 1 and abs(mi - 2043) < 1
    assert close_to(vrms, 230.0 * math.sqrt(1 + 0.05**2), 0.005)
    assert close_to(irms, 20.0 * math.sqrt(1 + 0.3**2 + 0.1**2), 0.01)
    expected_p = 230.0 * 20.0 * (math.cos(math.radians(-10.0)) + 0.05 * 0.3 * math.cos(math.radians(20.0)))
    assert close_to(p, expected_p, 0.01)


def test_waveform_clips_at_the_converters_range():
    src = source({"load_profile": None, "v_rms": 600.0, "noise_counts": 0}, bits=12)  # beyond +-544 V peak
    blocks = read_blocks(src, 1)
    v = blocks[0][0::2]
    assert max(v) == 4095 and min(v) == 0


def test_waveform_blocks_reuse_one_buffer_and_keep_pace():
    src = source(FLAT, rate_hz=4000, pairs=200)  # 50 ms blocks

    async def main():
        t0 = rt.ticks_ms()
        src.start()
        first = await src.read_block()
        for _ in range(4):
            again = await src.read_block()
            assert again is first, "expected the same buffer for every block"
            assert len(again) == 400
        elapsed = rt.ticks_diff(rt.ticks_ms(), t0)
        src.stop()
        return elapsed

    elapsed = support.run(main())
    # Paced from the start: the fifth 50 ms block is due 250 ms after it, never earlier. (No
    # upper bound: a loaded machine may run late; falling behind is what overruns count.)
    assert elapsed >= 250, "5 blocks of 50 ms came %d ms after the start, expected at least 250" % elapsed
    assert src.blocks == 5, src.blocks


def test_waveform_drops_blocks_for_a_consumer_that_falls_behind():
    src = source(FLAT, rate_hz=4000, pairs=200)
    src.max_lag_ms = 100

    async def main():
        src.start()
        await src.read_block()
        await rt.sleep_ms(400)
        t0 = rt.ticks_ms()
        await src.read_block()
        await src.read_block()
        src.stop()
        return rt.ticks_diff(rt.ticks_ms(), t0)

    support.run(main())
    # 400 ms asleep with 100 ms allowed: whole blocks dropped (a loaded machine sleeps longer).
    assert src.overruns >= 4, "expected at least 4 dropped blocks, got %d" % src.overruns
    assert src.blocks == 3, src.blocks


def test_waveform_must_be_started():
    src = source(FLAT)
    exc = support.raises(RuntimeError, support.run, src.read_block())
    assert "not started" in str(exc)


def test_waveform_follows_the_load_profile_on_the_calendar():
    day = 1_700_006_400 - 1_700_006_400 % 86400  # a midnight, UTC
    night = source({"noise_counts": 0}, start_s=day + 3 * 3600)
    evening = source({"noise_counts": 0}, start_s=day + 19 * 3600 + 1800)
    assert night.load_factor() == 0.25
    assert abs(evening.load_factor() - (1.8 + 1.5) / 2) < 1e-3  # 19:30, between the hours
    irms_night = measure(night, read_blocks(night, 2))[3]
    irms_evening = measure(evening, read_blocks(evening, 2))[3]
    assert close_to(irms_night, 5.0 * 0.25, 0.005)
    assert close_to(irms_evening, 5.0 * 1.65, 0.005)


def test_waveform_frequency_and_calendar_scale():
    src = source(dict(FLAT, freq_hz=49.9), rate_hz=4000, pairs=400, speed=1440)
    assert src.calendar_ms_per_block() == 400 * 1000 * 1440 / 4000
    v = read_blocks(src, 3)
    samples = []
    for block in v:
        samples.extend(block[0::2])
    # Rising zero crossings, interpolated.
    crossings = []
    for k in range(1, len(samples)):
        a, b = samples[k - 1], samples[k]
        if a < 0 <= b:
            crossings.append(k - 1 + a / (a - b))
    periods = len(crossings) - 1
    freq = periods * 4000 / (crossings[-1] - crossings[0])
    assert abs(freq - 49.9) < 0.005, freq


def test_set_grid_changes_the_next_block():
    src = source(FLAT)
    before = measure(src, read_blocks(src, 2))[2]
    src.set_grid(v_rms=115.0)
    after = measure(src, read_blocks(src, 2))[2]
    assert close_to(before, 230.0, 0.001) and close_to(after, 115.0, 0.001)


# -- LED and watchdog --------------------------------------------------------------------------


def test_led_counts_rising_edges_and_remembers_its_state():
    led = RecordingPin()
    for _ in range(3):
        led.on()
        led.on()  # no edge
        led.off()
    led.value(1)
    assert led.pulses == 4
    assert led.value() == 1 and led.state == 1
    led(0)
    assert led.value() == 0 and led.changes == 8


def test_watchdog_barks_once_when_not_fed_in_time():
    exits = []

    async def main():
        dog = SoftWatchdog(300, exit=exits.append)
        dog.feed()
        t0 = rt.ticks_ms()
        rt.sleep_ms_blocking(30)
        late_ms = rt.ticks_diff(rt.ticks_ms(), t0)
        dog.feed()  # in time, unless the machine stalled this process past the timeout
        if late_ms > 300:
            dog.stop()
            return
        assert exits == [], "barked although fed after %d ms" % late_ms
        rt.sleep_ms_blocking(350)  # a loop blocked past the timeout: the next feed notices
        dog.feed()
        assert exits == [76]
        dog.check()
        assert exits == [76]  # once
        dog.stop()

    support.run(main())


def test_watchdog_task_barks_without_any_feed_call():
    exits = []

    async def main():
        dog = SoftWatchdog(300, exit=exits.append)
        dog.feed()  # inside the loop (CPython starts the checker here)
        last = rt.ticks_ms()
        longest_gap_ms = 0
        for _ in range(4):
            await rt.sleep_ms(20)
            now = rt.ticks_ms()
            longest_gap_ms = max(longest_gap_ms, rt.ticks_diff(now, last))
            last = now
            dog.feed()
        # Fed every 20 ms: no bark, unless the machine really stalled this loop past the timeout.
        assert exits == [] or longest_gap_ms > 300, "barked although fed within %d ms" % longest_gap_ms
        if exits:
            dog.stop()  # it barked, rightly, at a stall of the machine: it barks once
            return
        fed = rt.ticks_ms()
        while not exits and rt.ticks_diff(rt.ticks_ms(), fed) < 30000:  # nobody feeds now
            await rt.sleep_ms(10)
        barked_after_ms = rt.ticks_diff(rt.ticks_ms(), fed)
        assert exits == [76], "expected one bark with code 76, got %r" % exits
        assert barked_after_ms >= 300, "barked %d ms after the last feed, before the 300 ms timeout" % barked_after_ms
        dog.stop()

    support.run(main())


def test_watchdog_stopped_never_barks():
    exits = []

    async def main():
        dog = SoftWatchdog(30, exit=exits.append)
        dog.feed()
        dog.stop()
        await rt.sleep_ms(100)
        dog.check()

    support.run(main())
    assert exits == []


# -- serial ports over loopback TCP ---------------------------------------------------------------


def uart_pair():
    server, port = listen_loopback()
    uart = HostUART("tcp:127.0.0.1:%d" % port, baudrate=2400, parity=0)
    peer, _ = server.accept()
    return server, uart, peer


def test_host_uart_over_tcp_reads_what_is_there():
    server, uart, peer = uart_pair()
    try:
        assert uart.any() == 0
        assert uart.read(4) is None and uart.readinto(bytearray(4)) is None
        peer.send(b"\x10\x5b\xfe\x59\x16")
        t0 = rt.ticks_ms()
        while not uart.any() and rt.ticks_diff(rt.ticks_ms(), t0) < 10000:  # wait for loopback TCP
            rt.sleep_ms_blocking(2)
        assert uart.any() > 0, "expected the bytes sent to be waiting"
        assert uart.read(2) == b"\x10\x5b"
        buf = bytearray(16)
        assert uart.readinto(buf) == 3 and buf[:3] == b"\xfe\x59\x16"
        assert uart.write(b"\xe5") == 1
        rt.sleep_ms_blocking(20)
        assert peer.recv(16) == b"\xe5"
        assert uart.rx_bytes == 5 and uart.tx_bytes == 1
        uart.init(baudrate=9600, parity=None)
        assert (uart.baudrate, uart.bits, uart.parity, uart.stop) == (9600, 8, None, 1)
    finally:
        uart.deinit()
        peer.close()
        server.close()


def test_host_uart_read_some_waits_and_returns_partial_reads():
    server, uart, peer = uart_pair()

    async def later(delay_ms, data):
        await rt.sleep_ms(delay_ms)
        peer.send(data)

    async def main():
        buf = bytearray(64)
        task = asyncio.create_task(later(30, b"abc"))
        t0 = rt.ticks_ms()
        n = await uart.read_some(buf)
        waited = rt.ticks_diff(rt.ticks_ms(), t0)
        assert buf[:n] == b"abc" and waited >= 20, (bytes(buf[:n]), waited)  # it waited for the data
        await task
        try:
            await rt.wait_for_ms(uart.read_some(buf), 50)
            timed_out = False
        except asyncio.TimeoutError:
            timed_out = True
        assert timed_out
        await uart.write_all(b"x" * 3000)
        got = b""
        while len(got) < 3000:
            await rt.sleep_ms(5)
            got += peer.recv(4096)
        assert got == b"x" * 3000
        peer.send(b"late")
        n = await uart.read_some(buf)
        assert buf[:n] == b"late"

    try:
        support.run(main())
    finally:
        uart.deinit()
        peer.close()
        server.close()


def test_host_uart_tcp_reconnects_after_the_peer_left():
    server, uart, peer = uart_pair()

    async def main():
        peer.close()
        buf = bytearray(8)
        await rt.sleep_ms(20)
        assert uart.readinto(buf) is None  # EOF: the link is down, nothing to read
        await uart.write_all(b"lost")  # dropped, as on an open cable
        await rt.sleep_ms(600)
        assert uart.any() == 0  # reconnects here
        again, _ = server.accept()
        again.send(b"back")
        n = await rt.wait_for_ms(uart.read_some(buf), 1000)
        again.close()
        return bytes(buf[:n])

    try:
        assert support.run(main()) == b"back"
    finally:
        uart.deinit()
        server.close()


def test_host_uart_works_with_micropython_streams():
    if rt.EMULATED:
        support.skip("CPython's asyncio streams do not wrap a file object; read_some/write_all do")
    server, uart, peer = uart_pair()

    async def main():
        reader = asyncio.StreamReader(uart)
        writer = asyncio.StreamWriter(uart, {})
        peer.send(b"hello")
        assert await reader.read(16) == b"hello"
        writer.write(b"ack")
        await writer.drain()
        await rt.sleep_ms(10)
        assert peer.recv(8) == b"ack"

    try:
        support.run(main())
    finally:
        uart.deinit()
        peer.close()
        server.close()


def test_device_uart_wrapper_on_the_unix_port():
    # lib/drivers/uartstream.py wraps a machine.UART; a HostUART stands in for one here.
    if rt.EMULATED:
        support.skip("AsyncUART uses MicroPython's asyncio streams")
    from drivers.uartstream import AsyncUART

    server, uart, peer = uart_pair()
    port = AsyncUART(uart)

    async def main():
        buf = bytearray(8)
        peer.send(b"12")
        n = await port.read_some(buf)
        assert buf[:n] == b"12"
        await port.write_all(b"34")
        await rt.sleep_ms(10)
        assert peer.recv(8) == b"34"
        peer.send(b"5")
        reader = asyncio.StreamReader(port)  # the wrapper polls like a stream too
        assert await reader.read(4) == b"5"

    try:
        support.run(main())
    finally:
        uart.deinit()
        peer.close()
        server.close()


# -- the radio air ------------------------------------------------------------------------------


class TinyHub:
    """The simulation's air hub in miniature: 2-byte length + frame, passed to every other client."""

    def __init__(self, server=None, port=None):
        if server is None:
            server, port = listen_loopback()
        self.server, self.port = server, port
        self.server.setblocking(False)
        self.clients = []
        self.frames = []
        self.task = None

    def start(self):
        self.task = asyncio.create_task(self.run())

    async def run(self):
        while True:
            try:
                sock, _ = self.server.accept()
                sock.setblocking(False)
                self.clients.append([sock, b""])
            except OSError:
                pass
            for entry in list(self.clients):
                try:
                    data = entry[0].recv(4096)
                except OSError:
                    data = None
                if data == b"":
                    entry[0].close()
                    self.clients.remove(entry)
                    continue
                if data:
                    entry[1] += data
                while len(entry[1]) >= 2 and len(entry[1]) >= 2 + (entry[1][0] << 8 | entry[1][1]):
                    end = 2 + (entry[1][0] << 8 | entry[1][1])
                    packet, entry[1] = entry[1][:end], entry[1][end:]
                    self.frames.append(packet[2:])
                    for other in self.clients:
                        if other is not entry:
                            other[0].send(packet)
            await rt.sleep_ms(5)

    def close(self):
        if self.task is not None:
            self.task.cancel()
        for entry in self.clients:
            entry[0].close()
        self.server.close()


def test_air_frames_go_through_the_hub():
    hub = TinyHub()
    address = "127.0.0.1:%d" % hub.port
    a = HostAir(address)
    b = HostAir(address)

    async def main():
        hub.start()
        await rt.sleep_ms(20)
        frame = bytes(range(40))
        assert await a.send(frame)
        assert await a.send(b"\x01")
        assert await b.receive(500) == frame
        assert await b.receive(500) == b"\x01"
        t0 = rt.ticks_ms()
        assert await b.receive(60) is None
        waited = rt.ticks_diff(rt.ticks_ms(), t0)
        assert waited >= 50, "receive(60) gave up after %d ms" % waited
        assert await a.receive(10) is None  # a sender does not hear itself
        assert hub.frames == [frame, b"\x01"]

    try:
        support.run(main())
    finally:
        a.close()
        b.close()
        hub.close()
    assert (a.sent, b.received, a.drops) == (2, 2, 0)


def test_air_without_a_hub_drops_and_never_raises():
    server, port = listen_loopback()
    server.close()  # nobody listens there now
    radio = HostAir("127.0.0.1:%d" % port)

    async def main():
        assert await radio.send(b"\x44\x93") is False
        t0 = rt.ticks_ms()
        assert await radio.receive(80) is None
        return rt.ticks_diff(rt.ticks_ms(), t0)

    waited = support.run(main())
    assert waited >= 70, "receive(80) gave up after %d ms" % waited
    assert radio.drops == 1 and radio.sent == 0
    radio.close()


def test_air_reconnects_when_the_hub_comes_back():
    hub = TinyHub()
    port = hub.port
    address = "127.0.0.1:%d" % port
    a = HostAir(address)
    b = HostAir(address)

    async def main():
        hub.start()
        await rt.sleep_ms(20)
        assert await a.send(b"one")
        assert await b.receive(500) == b"one"
        hub.close()
        await rt.sleep_ms(20)
        assert await b.receive(50) is None  # notices the hub is gone
        assert await a.receive(50) is None
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        server.listen(4)
        hub2 = TinyHub(server, port)
        hub2.start()
        await rt.sleep_ms(20)
        frame = None
        for _ in range(20):  # both clients reconnect within 500 ms of losing the hub
            if await a.send(b"two"):
                frame = await b.receive(100)
                if frame == b"two":
                    break
            await rt.sleep_ms(50)
        hub2.close()
        return frame

    try:
        assert support.run(main()) == b"two"
    finally:
        a.close()
        b.close()
    assert a.reconnects >= 1 and b.reconnects >= 1
