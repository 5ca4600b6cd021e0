# The meter's SML interfaces (docs/sml.md):
#
#   sml_push   every sml.push_s, one SML file on the optical info port (hw.optical_uart,
#              when optical.protocol is "sml"): PublicOpen.Res, GetList.Res, PublicClose.Res
#              with the totals, the ids and the seconds index; the detailed values (power,
#              voltage, current, frequency, tariff registers) only while unlocked
#   sml_lmn    answers SML requests on the wired LMN port (hw.lmn_uart) (meter/sml_lmn.py)
#
# Unlock rule: with sml.detail "pin" (the default) the detailed values are withheld until
# the consumer gives the PIN (sml.pin) through an authenticated UNLOCK command (admin or
# MEP key, security/commands.py); the unlock lasts sml.unlock_s, an empty PIN locks at
# once. sml.pin_tries wrong PINs in a row lock PIN entry out for sml.pin_lockout_s.
# Unlock, lock, expiry and wrong PINs go to the consumer log. With "always" the consumer
# has switched the PIN protection off: everything is pushed.
#
# The push allocates nothing after start-up while locked; unlocked, scaling the
# metrology's four float readings to integers costs four floats per push.

import rt
from crypto.cmac import equal
from security.keys import SecurityError
from sml import messages as M
from sml.push import PushFile, STATUS_LOAD, STATUS_EXPORT


def server_id_of(cfg):
    lmn = cfg.get("lmn") or {}
    return M.server_id(lmn.get("manufacturer", "QQQ"), cfg["meter_id"], lmn.get("version", 1))


class MeterSML:
    def __init__(self, meter, cfg, log):
        self.meter = meter
        self.hw = meter.hw
        self.settings = cfg["sml"]
        self.log = log
        self.consumer_log = meter.logs.consumer
        self.server_id = server_id_of(cfg)
        manufacturer = (cfg.get("lmn") or {}).get("manufacturer", "QQQ")
        self.push = PushFile(self.server_id, manufacturer, cfg["metrology"]["tariffs"])
        self.uart = self.hw.optical_uart
        self.always = self.settings["detail"] == "always"
        self.unlocked = False
        self._unlocked_at_ms = 0
        self._unlock_ms = self.settings["unlock_s"] * 1000
        self.wrong_pins = 0
        self._lockout_at_ms = None
        self.lmn = None
        self.pushes = 0
        self.push_bytes = 0
        m = meter.metrology
        self._start_a = m.start_a if m is not None else 0.0
        self._creep_w = m.creep_w if m is not None else 0.0
        self._neg_creep_w = -self._creep_w
        self._sec = 0
        self._freq_hz = 0.0
        self._rem_ms = 0
        self._last_ms = rt.ticks_ms()

    def add_tasks(self, sup, margin_ms):
        if self.uart is not None and self.meter.cfg["optical"]["protocol"] == "sml":
            sup.add("sml_push", self.push_task, self.settings["push_s"] * 1000 + margin_ms)
        lmn_uart = self.hw.lmn_uart
        if lmn_uart is not None and self.settings["lmn"]:
            from meter.sml_lmn import LmnServer

            self.lmn = LmnServer(self, lmn_uart)
            sup.add("sml_lmn", self.lmn.task, margin_ms * 2)

    # -- unlock

    def detailed(self):
        if self.always:
            return True
        if self.unlocked and rt.ticks_diff(rt.ticks_ms(), self._unlocked_at_ms) >= self._unlock_ms:
            self.unlocked = False
            self._event("sml_lock", {"why": "expired"})
        return self.unlocked

    def _event(self, kind, fields):
        try:
            self.consumer_log.append(kind, fields)
        except Exception as exc:  # a full or failing flash must not stop the port
            self.log.error("consumer log: %s", exc)

    def unlock(self, pin, by):
        """The UNLOCK command's action: pin (ASCII digits) unlocks, b"" locks. Raises
        SecurityError (refused, with its reason) for a wrong PIN or while locked out."""
        if not pin:
            was = self.unlocked
            self.unlocked = False
            self._event("sml_lock", {"by": by, "was_unlocked": was})
            return
        now = rt.ticks_ms()
        s = self.settings
        if self._lockout_at_ms is not None:
            if rt.ticks_diff(now, self._lockout_at_ms) < s["pin_lockout_s"] * 1000:
                raise SecurityError("pin_locked_out", "too many wrong PINs")
            self._lockout_at_ms = None
            self.wrong_pins = 0
        if s["pin"] is None:
            raise SecurityError("no_pin", "no PIN configured for the info interface")
        if not equal(bytes(pin), s["pin"].encode()):
            self.wrong_pins += 1
            self._event("sml_pin_wrong", {"by": by, "count": self.wrong_pins})
            if self.wrong_pins >= s["pin_tries"]:
                self._lockout_at_ms = now
            raise SecurityError("bad_pin", "wrong PIN")
        self.wrong_pins = 0
        self.unlocked = True
        self._unlocked_at_ms = now
        self._event("sml_unlock", {"by": by, "for_s": s["unlock_s"]})

    # -- the push

    def sec_index(self):
        """Seconds since start-up: whole seconds and a millisecond remainder, so the count
        stays a small int for 34 years (a millisecond count would not past 12 days)."""
        now = rt.ticks_ms()
        ms = self._rem_ms + rt.ticks_diff(now, self._last_ms)
        self._last_ms = now
        self._sec += ms // 1000
        self._rem_ms = ms % 1000
        return self._sec

    def fill(self, detailed):
        """Copy the registers (and, detailed, the readings) into the push file's integers."""
        p = self.push
        regs = self.meter.registers
        p.import_wh = regs.regs[0]
        p.export_wh = regs.regs[1]
        status = 0
        m = self.meter.metrology
        if m is not None:
            r = m.readings
            if r.irms >= self._start_a and (r.p_w >= self._creep_w or r.p_w <= self._neg_creep_w):
                status |= STATUS_LOAD
                if r.p_w < 0:
                    status |= STATUS_EXPORT
            if r.freq_hz > 0:
                # A period without clean crossings (a lost block) has no frequency: the
                # port shows the last one measured (0 until there is one).
                self._freq_hz = r.freq_hz
            if detailed:
                p.power_dw = round(r.p_w * 10)
                p.voltage_dv = round(r.vrms * 10)
                p.current_ca = round(r.irms * 100)
                p.frequency_chz = round(self._freq_hz * 100)
        p.status = status
        if detailed:
            tariffs = regs.tariff_import_wh
            n = len(tariffs)
            for k in range(p.tariffs):
                p.tariff_wh[k] = tariffs[k] if k < n else 0

    def build(self):
        detailed = self.detailed()
        self.fill(detailed)
        return self.push.build(self.sec_index(), detailed)

    async def push_task(self, progress):
        period_ms = self.settings["push_s"] * 1000
        uart = self.uart
        view = memoryview(self.push.buf)
        # A file's length depends only on locked/unlocked (every field has a fixed width;
        # an escaped group adds 4): one view per length, so a push allocates no slice.
        views = {}
        due = rt.ticks_ms()
        while True:
            n = self.build()
            out = views.get(n)
            if out is None:
                out = view[:n]
                if len(views) < 8:
                    views[n] = out
            await uart.write_all(out)
            self.pushes += 1
            self.push_bytes = n
            progress()
            due = rt.ticks_add(due, period_ms)
            wait = rt.ticks_diff(due, rt.ticks_ms())
            if wait < 0:  # fell behind (a slow line, a busy loop): start again from now
                due = rt.ticks_ms()
                wait = 0
            await rt.sleep_ms(wait)

    def as_dict(self):
        return {"pushes": self.pushes, "bytes": self.push_bytes, "unlocked": self.unlocked}
