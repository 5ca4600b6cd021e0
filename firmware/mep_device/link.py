# The MEP link master on the device: polls the meter, answers its alerts, delivers
# urgent entries (and acknowledges each, success or failure), reads the non-urgent area
# when its generation moves, follows the tariff, collects M-Bus data sets, and writes
# the customer's overrides back. The protocol engine is mep.client.Client.

import json
import struct
import status
from mep import tables as T
from mep.errors import MEPError, ResponseError


class LinkMaster:
    def __init__(self, client, store, dispatcher, cfg, log, overrides=None):
        self.client = client
        self.store = store
        self.dispatcher = dispatcher
        self.cfg = cfg
        self.log = log
        self.overrides = overrides  # () -> pending ET21 image or None (the thermostat's outbox)
        self.polls = 0
        self.errors = 0
        self.urgent_acked = 0
        self.urgent_failed = 0
        self._first = True
        self._override = None

    async def cycle(self):
        """One poll: real-time data, alert status, and whatever the status says is new."""
        c = self.client
        s = self.store
        if self._first:
            s.ident = T.decode_ident(await c.read(T.IDENT))
        s.update_realtime(T.decode_realtime(await c.read(T.REALTIME)))
        if self._first or self.polls % self.cfg["registers_every"] == 0:
            s.registers = T.decode_registers(await c.read(T.REGISTERS))
        c.alert_pending = False
        st = T.decode_status(await c.read(T.ALERT_STATUS))
        last = s.status
        s.status = st
        flags = st["flags"]
        if flags & T.ALERT_URGENT:
            await self.urgent()
        if self._first or st["tariff_changed"] != last["tariff_changed"]:
            s.tariff = T.decode_tariff(await c.read(T.TARIFF))
            self.dispatcher.broadcast("tariff", s.tariff)
        if self._first or st["nonurgent_generation"] != last["nonurgent_generation"]:
            await self.nonurgent()
        if self._first or st["mbus_last"] != s.mbus_seq:
            await self.mbus()
        acked = flags & (T.ALERT_EVENTS | T.ALERT_TARIFF | T.ALERT_NONURGENT | T.ALERT_MBUS)
        if acked:
            await c.procedure(T.PROC_ACK_ALERT, bytes([acked]))
        if self.overrides is not None:
            image = self._override or self.overrides()
            if image is not None:
                self._override = image  # kept until the meter answers: a lost write is sent again
                try:
                    await c.write(T.OVERRIDES, image)
                except ResponseError:
                    self._override = None  # refused: sending it again would not help
                    raise
                self._override = None
        self._first = False
        self.polls += 1
        s.link = "up"
        self.dispatcher.broadcast("realtime", s.realtime)

    async def urgent(self):
        for _ in range(16):  # at most the meter's queue length per poll
            entry = T.decode_urgent(await self.client.read(T.URGENT))
            if entry is None:
                return
            ok = self.deliver(entry["app"], entry["data"], True, entry["t"])
            answer = await self.client.procedure(T.PROC_ACK_URGENT, struct.pack(">IB", entry["id"], 0 if ok else 1))
            if answer["result"] != T.RESULT_DONE:
                self.log.warn("urgent entry %d: acknowledgement refused (result %d)", entry["id"], answer["result"])
                return
            if ok:
                self.urgent_acked += 1
            else:
                self.urgent_failed += 1
            status.emit("urgent", {"id": entry["id"], "app": entry["app"], "outcome": "success" if ok else "failure"})

    async def nonurgent(self):
        area = T.decode_nonurgent(await self.client.read(T.NONURGENT))
        self.store.nonurgent = area
        for app, data in area["items"]:
            self.deliver(app, data, False, area["t"])

    async def mbus(self):
        s = self.store
        s.mbus_devices = T.decode_mbus_devices(await self.client.read(T.MBUS_DEVICES))
        for _ in range(8):  # bounded per poll; the rest next time
            records = T.decode_log(await self.client.read(T.MBUS_DATA, s.mbus_seq, 400))
            if not records:
                return
            for seq, raw in records:
                s.add_dataset(seq, T.decode_dataset_record(raw))

    def deliver(self, app, data, urgent, t):
        """Hand one downlink item to its application; False if none takes it."""
        if app == T.APP_DISPLAY:
            self.store.add_message(t, app, data, urgent)
            return self.dispatcher.deliver(app, "message", data)
        try:
            payload = json.loads(bytes(data).decode())
        except (ValueError, UnicodeError):
            return False
        # Not a display text (a thermostat setting, ...): its application takes it; the
        # display's message list is for the customer to read and does not show it.
        return self.dispatcher.deliver(app, "message", payload)

    async def task(self, progress):
        """Poll every poll_ms, at once after an alert; errors are counted, never fatal."""
        c = self.client
        while True:
            try:
                await self.cycle()
            except ResponseError as exc:
                self.errors += 1
                self.log.warn("%s", exc)
            except MEPError as exc:
                self.errors += 1
                self.store.link = "down"
                self._first = True  # read everything again once the meter answers
                self.log.warn("link: %s", exc)
            progress()
            await c.listen(self.cfg["poll_ms"])
