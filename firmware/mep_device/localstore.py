# What the MEP device read from the meter, for its applications and the display:
# the latest values in RAM, and today's start-of-day energy kept on flash (an
# AtomicRecord) so "today's energy" survives a restart.

from store.atomic import AtomicRecord
from clock import civil_from_epoch_s

_MAX_MESSAGES = 8
_MAX_DATASETS = 8


class LocalStore:
    def __init__(self, root):
        self._day = AtomicRecord(root + "/day")
        saved = self._day.read_json() or {}
        self.day = saved.get("day")
        self.day_start_wh = saved.get("start_wh")
        self.ident = None
        self.realtime = None
        self.registers = None
        self.tariff = None
        self.status = None
        self.nonurgent = None  # {"generation", "t", "items"}
        self.messages = []  # newest last: {"t", "app", "text", "urgent"}
        self.mbus_devices = []
        self.datasets = []  # newest last: {"seq", "device", "t", "hex"}
        self.mbus_seq = 0
        self.link = "starting"
        self.updates = 0

    def update_realtime(self, values):
        self.realtime = values
        self.updates += 1
        civil = civil_from_epoch_s(values["t"])
        day = "%04d-%02d-%02d" % (civil[0], civil[1], civil[2])
        if day != self.day or self.day_start_wh is None:
            self.day = day
            self.day_start_wh = values["import_wh"]
            self._day.write_json({"day": day, "start_wh": self.day_start_wh})

    def today_wh(self):
        if self.realtime is None or self.day_start_wh is None:
            return 0
        return max(0, self.realtime["import_wh"] - self.day_start_wh)

    def add_message(self, t, app, data, urgent):
        try:
            text = bytes(data).decode()
        except UnicodeError:
            text = bytes(data).hex()
        self.messages.append({"t": t, "app": app, "text": text, "urgent": urgent})
        if len(self.messages) > _MAX_MESSAGES:
            self.messages.pop(0)

    def add_dataset(self, seq, record):
        self.datasets.append({"seq": seq, "device": record["device"], "t": record["t"], "hex": record["frame"].hex()})
        if len(self.datasets) > _MAX_DATASETS:
            self.datasets.pop(0)
        self.mbus_seq = seq

    def snapshot(self):
        """Everything the display shows, as one JSON-ready dict."""
        tariff = self.tariff or {}
        active = tariff.get("active")
        names = tariff.get("tariffs") or []
        return {
            "link": self.link,
            "meter_id": (self.ident or {}).get("meter_id"),
            "realtime": self.realtime,
            "today_wh": self.today_wh(),
            "tariff": {"active": active, "name": names[active]["name"] if active is not None and active < len(names) else None,
                       "price": names[active]["price"] if active is not None and active < len(names) else None},
            "registers": self.registers,
            "messages": self.messages,
            "mbus": {"devices": self.mbus_devices, "datasets": self.datasets},
            "updates": self.updates,
        }
