# The whole meter in one process on the stand-in board (boards/mem), with everything it
# talks to: four wired M-Bus meters, the radio air, the MEP device's link master on the
# MEP cable, an admin head-end sending authenticated commands, and a signed update
# streamed into the update protocol, over a scaled calendar day. It samples the heap
# (gc.collect() then gc.mem_alloc(), every sample_ms of real time) and ends with one line
#   meter32: {"ok": ..., "peak_live": ..., ...}
# for bench/meter32.py. Run by a two-line script (upy32 compiles the script into the heap):
#   import world; world.main()
#
# argv (key=value): day_s (calendar seconds to run, 86400), speed (1440), start_s,
# ota (path of a signed bundle; none: no update), ota_at_s (calendar offset of the update,
# default 23 h), anchor (hex of the OTA trust anchor), sample_ms (500), log (warn),
# admin_every_s (3600), chunk (1024: bytes per DATA request), ota_retries (3: resumes after
# a no-memory refusal), trace (N: print every Nth sample),
# dump (1: print the heap's block map at the end), rates (1: record the bytes allocated
# between samples, at most 240 of them).

import gc
import sys
import asyncio
import rt

_T0 = 1_780_272_000  # 2026-06-01T00:00:00Z


class Heap:
    """Live-heap high-water mark, sampled: collect, then read the allocated bytes."""

    def __init__(self):
        self.peak = 0
        self.peak_phase = ""
        self.phase = "boot"
        self.peaks = {}
        self.samples = 0
        self.rates = None  # bytes allocated per sample period, steady running (rates=1)
        self._after = None

    def sample(self):
        before = gc.mem_alloc()
        if self.rates is not None and self._after is not None and before >= self._after and self.phase == "day" \
                and len(self.rates) < 240:
            self.rates.append(before - self._after)  # allocated since the last sample (no collection between)
        gc.collect()
        a = gc.mem_alloc()
        self._after = a
        self.samples += 1
        if a > self.peaks.get(self.phase, 0):
            self.peaks[self.phase] = a
        if a > self.peak:
            self.peak = a
            self.peak_phase = self.phase
        return a


def _args():
    out = {"day_s": 86400, "speed": 1440, "start_s": _T0, "ota": None, "ota_at_s": 82800, "anchor": None,
           "sample_ms": 500, "log": "warn", "admin_every_s": 3600, "chunk": 1024, "trace": 0, "dump": 0, "rates": 0,
           "ota_retries": 3}
    for a in sys.argv[1:]:
        k, _, v = a.partition("=")
        if k not in out:
            raise SystemExit("unknown argument %r" % a)
        out[k] = v if k in ("ota", "anchor", "log") else int(v)
    return out


def meter_config(a):
    def daily(hour):
        return {"every": "daily", "hour": hour}
    return {
        "app": "meter",
        "meter_id": "12345678",
        "log_level": a["log"],
        "board": {"speed": a["speed"], "start_s": a["start_s"]},
        "metrology": {"checkpoint_s": 900, "tariffs": 3, "tou": [[0, 1], [420, 0], [1020, 2], [1260, 0]]},
        "report": {"interval_s": 300},
        "mbus": {"devices": [
            {"address": 1, "name": "gas", "medium": "gas", "schedule": {"every": "hourly", "minute": 5}},
            {"address": 2, "name": "water", "medium": "water", "schedule": daily(6), "status_interval_s": 21600},
            {"address": 3, "name": "heat", "medium": "heat", "schedule": daily(12), "status_interval_s": 21600},
            {"address": 4, "name": "water2", "medium": "water", "schedule": daily(18), "status_interval_s": 21600},
        ]},
        "lmn": {"interval_s": 300, "jitter_s": 5},
        "mep": {"profile_period_s": 900, "status_interval_s": 60},
    }


def provision(hw, keys_hex, anchor):
    """The factory step and the PROVISION command, through the firmware's own handler."""
    from security import keys as K
    from security import commands as C
    from security.keystore import KeyStore
    from security.logs import Logs
    from crypto.keywrap import wrap

    root = hw.storage_root
    keys = K.DeviceKeys(KeyStore(root + "/keys", hw.board_secret))
    logs = Logs(root, hw.clock)
    try:
        utility = keys_hex["utility"]
        keys.install_utility(utility)
        wrapped = {}
        for name in K.DEVICE_KEYS:
            wrapped[name] = wrap(K.provision_kek(utility, name), keys_hex[name])
        frame = C.command(utility, K.UTILITY, C.PROVISION, 1, hw.clock.time_s(), C.provision_payload(anchor, wrapped))
        reply = C.Commands(keys, logs, hw.clock, root + "/security").handle(frame)
        status, detail = C.open_reply(utility, reply, 1)
        if status != C.OK:
            raise RuntimeError("provisioning refused: %s" % detail)
    finally:
        logs.close()


class World:
    def __init__(self, a):
        self.a = a
        self.heap = Heap()
        self.errors = []
        self.admin_ok = 0
        self.admin_sent = 0
        self.ota_result = None
        self.ota_bytes = 0
        self.ota_resumes = 0  # downloads resumed after a no-memory refusal
        self.mep_polls = 0
        self.status_at_reset = None
        self.stopped_by = None
        self.sup = None

    def guard(self, name, coro):
        async def run():
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broad: a stand-in's failure is recorded for the run's verdict
                self.errors.append("%s: %s %s" % (name, type(exc).__name__, exc))
                print("world: %s failed: %r" % (name, exc))
        return asyncio.create_task(run())

    async def sampler(self, clock):
        n = 0
        while True:
            live = self.heap.sample()
            n += 1
            if self.a["trace"] and n % self.a["trace"] == 0:
                print("heap: t=%d live=%d phase=%s" % (clock.time_s() - self.a["start_s"], live, self.heap.phase))
            await rt.sleep_ms(self.a["sample_ms"])

    async def calendar(self, hw):
        end_s = self.a["start_s"] + self.a["day_s"]
        while hw.clock.time_s() < end_s:
            await rt.sleep_ms(50)
        if self.a["dump"]:  # the heap's block map at the end of the day (fragmentation)
            import micropython

            gc.collect()
            micropython.mem_info(1)
        self.stop("day over")

    def stop(self, why):
        if self.stopped_by is None:
            self.stopped_by = why
            self.status_at_reset = self.sup.status()
            self.sup.stop()

    async def mep_device(self, hw, mep_key):
        """The MEP device's link master on the other end of the MEP cable."""
        from mep.client import Client
        from mep.secure import LinkKeys
        from store.fs import make_dirs
        from mep_device.dispatch import Dispatcher
        from mep_device.localstore import LocalStore
        from mep_device.link import LinkMaster

        root = hw.storage_root + "/mepdev"
        make_dirs(root)
        m = {"poll_ms": 1000, "timeout_ms": 1000, "retries": 3, "backoff_ms": 200, "registers_every": 10,
             "buffer_depth": 8}
        client = Client(hw.mep_peer, LinkKeys(mep_key), root + "/seq", timeout_ms=m["timeout_ms"],
                        retries=m["retries"], backoff_ms=m["backoff_ms"])
        link = LinkMaster(client, LocalStore(root), Dispatcher(m["buffer_depth"]), m, _Quiet())
        self.link = link
        await link.task(lambda: None)

    async def admin(self, meter, hw, admin_key):
        """An admin head-end: a STATUS command every admin_every_s of calendar time."""
        import struct
        import memio
        from security import commands as C
        from security import keys as K

        counter = 0
        dev, peer = memio.stream_pair(256, 1200)  # one connection's buffers, reused
        while True:
            await hw.clock.sleep_ms(self.a["admin_every_s"] * 1000)
            counter += 1
            dev.reopen()
            serving = asyncio.create_task(meter.admin._serve(dev, dev))
            frame = C.command(admin_key, K.ADMIN, C.STATUS, counter, hw.clock.time_s())
            peer.write(struct.pack(">H", len(frame)) + frame)
            self.admin_sent += 1
            head = await rt.wait_for_ms(peer.readexactly(2), 10000)
            reply = await rt.wait_for_ms(peer.readexactly(head[0] << 8 | head[1]), 10000)
            peer.close()
            await serving
            status, _ = C.open_reply(admin_key, reply, counter)
            if status == C.OK:
                self.admin_ok += 1
            del serving, frame, reply

    async def update(self, meter, hw, sup, log):
        """Stream the signed bundle into the update protocol (lib/ota/server.py)."""
        await hw.clock.sleep_ms(self.a["ota_at_s"] * 1000)
        self.heap.phase = "update"
        ota = getattr(meter, "ota", None)
        if ota is None:  # no update port configured: the service the protocol runs in
            from ota.health import OtaService

            ota = OtaService(hw, meter.cfg, sup, log, system_log=meter.logs.system)
        chunk = self.a["chunk"]
        buf = bytearray(chunk)
        # A head-end resumes a download the device refused for want of memory (ota.server's
        # no-memory reply: "resume later"), as an operator would rerun tools/flash.py.
        for attempt in range(1 + self.a["ota_retries"]):
            if attempt:
                self.ota_resumes += 1
                await hw.clock.sleep_ms(60_000)  # a minute of the calendar: the meter's heap moves on
            done = await self._send_bundle(ota, buf)
            if not self.ota_result.startswith("REFUSED no-memory"):
                break
        await done

    async def _send_bundle(self, ota, buf):
        """One connection: HELLO (resumes where the device says), DATA chunks, END. Sets
        ota_result to the last answer; returns the serving task to await."""
        import memio

        async def answer():  # a device that stops answering is a failure, not a hang
            try:
                return (await rt.wait_for_ms(peer.readline(), 30000)).split()
            except asyncio.TimeoutError:
                return [b"NO-ANSWER", b"within", b"30", b"s"]

        chunk = len(buf)
        dev, peer = memio.stream_pair(chunk + 32, 160)
        serving = asyncio.create_task(ota._client(dev, dev))
        with open(self.a["ota"], "rb") as f:
            f.seek(0, 2)
            total = f.tell()
            f.seek(0)
            peer.write(b"HELLO meter32 %d\n" % total)
            words = await answer()
            if words[0] != b"OFFSET":
                self.ota_result = b" ".join(words).decode()
                return serving
            offset = int(words[1])
            while offset < total:
                f.seek(offset)
                n = f.readinto(buf)
                peer.write(b"DATA %d %d\n" % (offset, n))
                peer.write(memoryview(buf)[:n])
                words = await answer()
                if words[0] != b"OFFSET":
                    self.ota_result = b" ".join(words).decode()
                    peer.close()
                    return serving
                offset = int(words[1])
                self.ota_bytes = offset
        peer.write(b"END\n")
        self.ota_result = b" ".join(await answer()).decode()
        return serving


def _median_max(values):
    if not values:  # None: not measured (rates=0)
        return None
    values.sort()
    return [values[len(values) // 2], values[-1]]


class _Quiet:
    def _w(self, fmt, *args):
        pass

    def warn(self, fmt, *args):
        print("mep device: " + (fmt % args if args else fmt))

    info = debug = _w
    error = warn


def main():
    a = _args()
    import os
    import json
    import board
    import startup
    from supervisor import run_app

    world = World(a)
    heap = world.heap
    if a["rates"]:
        heap.rates = []
    heap.sample()
    from meter import app

    raw = meter_config(a)
    cfg = startup.check_config(raw, startup.app_schema("meter"), board.SCHEMA)
    startup.release_schema("meter")
    hw = board.make_hardware(cfg)
    keys = {}
    from security import keys as K

    for name in ("utility",) + tuple(K.DEVICE_KEYS):  # every key the firmware's key model has
        keys[name] = os.urandom(16)
    anchor = bytes.fromhex(a["anchor"]) if a["anchor"] else b"\x04" + bytes(64)
    provision(hw, keys, anchor)
    heap.sample()
    log = startup.open_log(hw, cfg)
    meter = app.Meter(hw, cfg, log)
    sup = meter.build()
    world.sup = sup
    hw.resets.hook = lambda why: world.stop(why)
    heap.sample()
    heap.phase = "day"
    world.guard("slaves", hw.slaves.task())
    world.guard("mep device", world.mep_device(hw, keys["mep"]))
    world.guard("admin", world.admin(meter, hw, keys["admin"]))
    world.guard("calendar", world.calendar(hw))
    world.guard("sampler", world.sampler(hw.clock))
    if a["ota"]:
        world.guard("update", world.update(meter, hw, sup, log))
    del keys
    run_app(sup, log)
    heap.sample()
    statuses = world.status_at_reset or sup.status()
    unhealthy = []
    for name in statuses:
        s = statuses[name]
        if s["restarts"] or s["last_error"] is not None or s["stalled"]:
            unhealthy.append(name)
    slaves = hw.slaves.bus.slaves
    result = {
        "heap_total": gc.mem_free() + gc.mem_alloc(),
        "peak_live": heap.peak,
        "peak_phase": heap.peak_phase,
        "peaks": heap.peaks,
        "alloc_per_sample": _median_max(heap.rates),
        "samples": heap.samples,
        "calendar_s": hw.clock.time_s() - a["start_s"],
        "stopped_by": world.stopped_by,
        "tasks": len(statuses),
        "unhealthy": unhealthy,
        "errors": world.errors,
        "periods": meter.periods,
        "telegrams": hw.radio.sent,
        "mbus_reads": [s.answers for s in slaves],
        "mep_polls": world.link.polls if hasattr(world, "link") else 0,
        "admin": [world.admin_ok, world.admin_sent],
        "ota": world.ota_result,
        "ota_bytes": world.ota_bytes,
        "ota_resumes": world.ota_resumes,
        "watchdog_resets": 1 if hw.resets.reason == "watchdog" else 0,
    }
    ok = not unhealthy and not world.errors and result["watchdog_resets"] == 0 and result["telegrams"] > 0
    ok = ok and min(result["mbus_reads"]) > 0 and result["mep_polls"] > 0 and world.admin_ok == world.admin_sent
    if a["ota"]:
        ok = ok and bool(world.ota_result) and world.ota_result.startswith("SWITCHED")
    result["ok"] = ok
    print("meter32: " + json.dumps(result))
    return 0 if ok else 3
