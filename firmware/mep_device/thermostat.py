# The communicating thermostat controller: its set point follows the tariff (base +
# the tariff's offset), a utility message can shift it for a while, and the customer
# can override it; an override is sent back to the meter (ET21). It may sleep as a
# battery end device does: the dispatcher buffers what arrives meanwhile.

import status
from mep import tables as T


class Thermostat:
    def __init__(self, cfg, clock, app_id=T.APP_THERMOSTAT):
        self.base_c = cfg["base_c"]
        self.offsets = cfg["tariff_offsets_c"]
        self.wake_s = cfg["wake_s"]
        self.clock = clock
        self.app_id = app_id
        self.awake = True
        self.tariff = 0
        self.utility_offset_c = 0.0
        self.utility_until = 0
        self.override_c = None
        self.override_until = 0
        self._outbox = None  # ET21 image waiting for the link
        self.setpoint_c = self.compute()
        self.changes = 0

    def compute(self):
        now = self.clock.time_s()
        if self.override_c is not None and now < self.override_until:
            return self.override_c
        offset = self.offsets[self.tariff] if self.tariff < len(self.offsets) else 0.0
        if now < self.utility_until:
            offset += self.utility_offset_c
        return round(self.base_c + offset, 2)

    def _update(self, why):
        setpoint = self.compute()
        if setpoint != self.setpoint_c:
            self.setpoint_c = setpoint
            self.changes += 1
            status.emit("thermostat", {"t": self.clock.time_s(), "setpoint_c": setpoint, "tariff": self.tariff,
                                       "why": why})

    def receive(self, kind, payload):
        if kind == "tariff":
            self.tariff = payload["active"]
            self._update("tariff")
        elif kind == "message" and type(payload) is dict:
            offset = payload.get("offset_c")
            if type(offset) in (int, float) and -10 <= offset <= 10:
                self.utility_offset_c = float(offset)
                self.utility_until = self.clock.time_s() + int(payload.get("duration_s", 3600))
                self._update("utility")
        elif kind == "realtime":
            self._update("time")  # overrides and utility shifts expire

    def override(self, setpoint_c, duration_s):
        """The customer sets the temperature for a while; the meter is told (ET21)."""
        until = self.clock.time_s() + duration_s
        self.override_c = setpoint_c
        self.override_until = until
        self._outbox = T.encode_overrides(T.OVERRIDE_SETPOINT, setpoint_c, until)
        self._update("override")

    def take_override(self):
        """The ET21 image to write (once), or None."""
        image, self._outbox = self._outbox, None
        return image

    def state(self):
        return {"setpoint_c": self.setpoint_c, "tariff": self.tariff, "awake": self.awake,
                "override_c": self.override_c if self.clock.time_s() < self.override_until else None}

    async def sleep_task(self, dispatcher, progress):
        """Sleep and wake as a battery device: awake 1/10 of each wake_s period."""
        while True:
            if self.wake_s <= 0:
                await self.clock.sleep_ms(60000)
            else:
                self.awake = False
                await self.clock.sleep_ms(self.wake_s * 900)
                self.awake = True
                dispatcher.wake(self.app_id)
                self._update("wake")
                await self.clock.sleep_ms(self.wake_s * 100)
            progress()
