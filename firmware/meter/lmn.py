# The LMN transmitter: the meter's readings as OMS mode 5 or 7 wireless M-Bus telegrams.
#
# Every interval_s (+- a random jitter_s) it writes the EN 13757-3 records, secures and
# frames them (wmbus.telegram.Builder) and hands the frame to the board's radio.
#   - Message counter: a store.Counter reserved in blocks of COUNTER_BLOCK, so it only
#     ever grows across reboots and power loss and skips at most COUNTER_BLOCK - 1.
#   - Key: security.keystore "lmn", re-read when its generation changes (checked before
#     every telegram); the counter simply goes on, so no counter is lost or repeated.
#     The key is never logged or printed.
#   - Duty cycle: the band's 0.1 % is checked for the configuration at boot (ConfigError
#     naming the key) and enforced at run time with an air-time credit that fills at
#     0.1 % of elapsed time, capped at one hour's worth; a telegram the credit does not
#     cover waits.
#   - Installation telegrams (SND_IR): request_install() sends one as soon as the duty
#     cycle allows (for a MEP procedure or a button).

import asyncio
import random
import rt
from micropython import const
from config import ConfigError
from store.atomic import AtomicRecord
from store.counter import Counter
from store.fs import make_dirs, StoreError
from clock import civil_from_epoch_s
from security.keystore import open_board_keys, KeyStoreError
from wmbus import frame, records
from wmbus.builder import Builder
from wmbus.telegram import SND_NR, SND_IR, DEVICE_ELECTRICITY
from wmbus.errors import WMBusError

COUNTER_BLOCK = const(8)
DUTY_PER_MILLE = const(1)  # 0.1 % in the 868.7-869.2 MHz sub-band (T1/C1 at 868.95 MHz)
_HOUR_MS = const(3_600_000)
_NO_KEY_RETRY_MS = const(60_000)  # calendar time between looks for a key that is not there yet
KEY_NAME = "lmn"

# TPL status byte bits (EN 13757-7): application error, permanent error.
STATUS_APP_ERROR = const(0x02)
STATUS_PERMANENT_ERROR = const(0x08)
# Error flags record (VIF FD 17) bits, this meter's own.
FLAG_NO_METROLOGY = const(0x0001)
FLAG_REGISTER_COPIES_DAMAGED = const(0x0002)

# The largest record set write_records() produces, all optional records present:
# import 6, export 7, billing date 4, billing import 6, billing export 7, reactive 7,
# power 6, voltage 5, current 7, date-time 6, error flags 5.
PAYLOAD_MAX_BYTES = const(66)


def check_config(lmn):
    """Refuse settings that break the link rules; raises ConfigError naming the key."""
    if lmn["radio_mode"] == frame.T1 and lmn["format"] != frame.FORMAT_A:
        raise ConfigError("lmn.format", "T1 sends frame format A only, got %r" % lmn["format"])
    if lmn["jitter_s"] * 2 >= lmn["interval_s"]:
        raise ConfigError("lmn.jitter_s", "must be less than half of lmn.interval_s (%d)" % lmn["interval_s"])
    air_us = max_air_time_us(lmn)
    shortest_s = lmn["interval_s"] - lmn["jitter_s"]
    need_s = (air_us * 1000 // DUTY_PER_MILLE + 999_999) // 1_000_000
    if shortest_s < need_s:
        raise ConfigError(
            "lmn.interval_s",
            "%s telegrams take %d us on air: the 0.1 %% duty cycle needs interval_s - jitter_s >= %d s, got %d"
            % (lmn["radio_mode"], air_us, need_s, shortest_s),
        )


def _builder(lmn, meter_id, key):
    return Builder(lmn["manufacturer"], meter_id, lmn["version"], DEVICE_ELECTRICITY, key, mode=lmn["mode"],
                   fmt=lmn["format"], ell=lmn["ell"])


def max_air_time_us(lmn):
    """Air time of the longest telegram this configuration sends."""
    b = _builder(lmn, "00000000", bytes(16))
    plain = b.overhead_len() - 2 + (PAYLOAD_MAX_BYTES + 2 + 15) // 16 * 16
    return frame.air_time_us(frame.on_air_len(plain, lmn["format"]), lmn["radio_mode"])


class Transmitter:
    def __init__(self, hw, cfg, log, meter):
        lmn = cfg["lmn"]
        check_config(lmn)
        self.hw = hw
        self.lmn = lmn
        self.log = log.tagged("lmn")
        self.meter = meter
        self.meter_id = cfg["meter_id"]
        folder = hw.storage_root + "/lmn"
        make_dirs(folder)
        self.counter = Counter(folder + "/counter", block=COUNTER_BLOCK)
        self._billing = AtomicRecord(folder + "/billing")
        self.billing = self._read_billing()
        self.keys = None
        self.key_generation = 0
        self.builder = None
        self.sent = 0
        self.dropped = 0  # the radio did not take the frame
        self.deferred = 0  # waits for duty-cycle credit
        self.rekeys = 0
        self.errors = 0
        self.air_us_total = 0
        self._credit_us = 0
        self._credit_at_ms = hw.clock.time_ms()
        self._cap_us = _HOUR_MS * DUTY_PER_MILLE  # one hour's air time (3.6 s), in us
        self._install = False
        self._wake = asyncio.Event()

    # -- key --------------------------------------------------------------------------

    def _load_key(self):
        """Open the key store and (re)build the telegram builder if the key is new.
        False while there is no key (the meter is not provisioned yet)."""
        if self.keys is None:
            self.keys = open_board_keys(self.hw)
        generation = self.keys.generation(KEY_NAME)
        if generation == 0:
            return False
        if self.builder is not None and generation == self.key_generation:
            return True
        key = self.keys.get(KEY_NAME)
        if self.builder is None:
            self.builder = _builder(self.lmn, self.meter_id, key)
        else:
            self.builder.set_key(key)
            self.rekeys += 1
            self.log.info("key changed (generation %d); counter goes on at %d", generation, self.counter.peek())
        self.key_generation = generation
        return True

    # -- duty cycle -------------------------------------------------------------------

    def _refill(self):
        now = self.hw.clock.time_ms()
        elapsed = now - self._credit_at_ms
        if elapsed > 0:
            self._credit_us = min(self._cap_us, self._credit_us + elapsed * DUTY_PER_MILLE)
            self._credit_at_ms = now

    def credit_wait_ms(self, air_us):
        """Calendar ms until the duty-cycle credit covers air_us (0: now)."""
        self._refill()
        short = air_us - self._credit_us
        return 0 if short <= 0 else (short + DUTY_PER_MILLE - 1) // DUTY_PER_MILLE

    # -- payload ----------------------------------------------------------------------

    def _read_billing(self):
        try:
            saved = self._billing.read_json()
        except (StoreError, ValueError):  # damaged: start a new billing period rather than stop
            saved = None
        if isinstance(saved, list) and len(saved) == 5:
            return saved
        return None

    def _update_billing(self, year, month):
        """Registers at the start of the month: the billing-date values (storage 1)."""
        b = self.billing
        if b is not None and b[0] == year and b[1] == month:
            return
        regs = self.meter.registers
        self.billing = [year, month, 1, regs.import_wh, regs.export_wh]
        self._billing.write_json(self.billing)

    def write_records(self, buf):
        """The meter's EN 13757-3 records into buf; returns (length, TPL status)."""
        meter = self.meter
        regs = meter.registers
        now_s = self.hw.clock.time_s()
        year, month, day, hour, minute, _, _ = civil_from_epoch_s(now_s)
        self._update_billing(year, month)
        r = records
        pos = r.put_dif(buf, 0, r.INT32, r.VIF_ENERGY_WH)
        pos = r.put_int(buf, pos, regs.import_wh, 4)
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH_EXPORT)
        pos = r.put_int(buf, pos, regs.export_wh, 4)
        b = self.billing
        pos = r.put_dif(buf, pos, r.INT16, r.VIF_DATE_G, storage=1)
        pos = r.put_date_g(buf, pos, b[0], b[1], b[2])
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH, storage=1)
        pos = r.put_int(buf, pos, b[3], 4)
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_ENERGY_WH_EXPORT, storage=1)
        pos = r.put_int(buf, pos, b[4], 4)
        reactive = getattr(regs, "reactive_varh", None)
        if reactive is not None:
            pos = r.put_dif(buf, pos, r.INT32, r.VIF_REACTIVE_KVARH_TENTH)
            pos = r.put_int(buf, pos, int(reactive) // 100, 4)
        flags = 0
        status = 0
        metrology = meter.metrology
        readings = metrology.readings if metrology is not None else None
        if readings is None:
            flags |= FLAG_NO_METROLOGY
            status |= STATUS_PERMANENT_ERROR
        else:
            pos = r.put_dif(buf, pos, r.INT32, r.VIF_POWER_W)
            pos = r.put_int(buf, pos, round(readings.p_w), 4)
            pos = r.put_dif(buf, pos, r.INT16, r.VIF_VOLTAGE_DV)
            pos = r.put_int(buf, pos, min(0xFFFF, max(0, round(readings.vrms * 10))), 2)
            pos = r.put_dif(buf, pos, r.INT32, r.VIF_CURRENT_MA)
            pos = r.put_int(buf, pos, round(readings.irms * 1000), 4)
        if getattr(regs, "damaged_copies", 0):
            flags |= FLAG_REGISTER_COPIES_DAMAGED
        if flags:
            status |= STATUS_APP_ERROR
        pos = r.put_dif(buf, pos, r.INT32, r.VIF_DATETIME_F)
        pos = r.put_datetime_f(buf, pos, year, month, day, hour, minute)
        pos = r.put_dif(buf, pos, r.INT16, r.VIF_ERROR_FLAGS)
        pos = r.put_int(buf, pos, flags, 2)
        return pos, status

    # -- sending ----------------------------------------------------------------------

    def request_install(self):
        """Send an installation telegram (SND_IR) as soon as the duty cycle allows."""
        self._install = True
        self._wake.set()

    async def send_one(self, c_field=SND_NR):
        """Build and send one telegram now; True if the radio took it. Waits for credit."""
        if not self._load_key():
            return False
        b = self.builder
        length, status = self.write_records(b.payload_buffer())
        counter = self.counter.next()  # reserved on flash before the telegram exists
        air = b.build(length, counter, status=status, c_field=c_field)
        air_us = frame.air_time_us(len(air), self.lmn["radio_mode"])
        wait_ms = self.credit_wait_ms(air_us)
        if wait_ms:
            self.deferred += 1
            await self.hw.clock.sleep_ms(wait_ms)
            self._refill()
        self._credit_us -= air_us
        self.air_us_total += air_us
        if await self.hw.radio.send(air):
            self.sent += 1
            return True
        self.dropped += 1
        return False

    def _next_delay_ms(self):
        lmn = self.lmn
        jitter_ms = lmn["jitter_s"] * 1000
        spread = random.getrandbits(20) % (2 * jitter_ms + 1) if jitter_ms else 0
        return lmn["interval_s"] * 1000 - jitter_ms + spread

    async def _pause(self, calendar_ms):
        """Sleep calendar_ms, or less if an installation telegram is asked for."""
        if self._install:
            return
        self._wake.clear()
        try:
            await rt.wait_for_ms(self._wake.wait(), max(1, self.hw.clock.real_ms(calendar_ms)))
        except asyncio.TimeoutError:
            pass

    def stall_ms(self):
        """Real ms the supervisor allows between progress() calls."""
        lmn = self.lmn
        return self.hw.clock.real_ms((lmn["interval_s"] + lmn["jitter_s"]) * 1000) * 2 + 10_000

    async def task(self, progress):
        """The supervised task: one telegram per interval, SND_IR when asked."""
        warned = False
        await self._pause(self._next_delay_ms() // 4)  # not in step with a fleet that booted together
        while True:
            try:
                c_field = SND_NR
                if self._install:
                    self._install = False
                    c_field = SND_IR
                if await self.send_one(c_field):
                    warned = False
                elif self.builder is None:
                    if not warned:
                        self.log.warn("no %s key in the key store: not transmitting", KEY_NAME)
                        warned = True
                    progress()
                    await self._pause(_NO_KEY_RETRY_MS)
                    continue
            except (WMBusError, KeyStoreError) as exc:
                # Counted and logged (the message names the check, never key bytes); the
                # task goes on with the next interval.
                self.errors += 1
                self.log.error("telegram not sent: %s", exc)
            progress()
            await self._pause(self._next_delay_ms())

    def as_dict(self):
        return {"sent": self.sent, "dropped": self.dropped, "deferred": self.deferred, "rekeys": self.rekeys,
                "errors": self.errors, "counter": self.counter.peek() - 1, "key_generation": self.key_generation,
                "air_ms": self.air_us_total // 1000}
