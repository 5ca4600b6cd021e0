# The tariff in force as the meter's MEP port shows it (table TARIFF, alert ALERT_TARIFF).
# The energy registers keep the active tariff (time-of-use schedule or command,
# metrology/tariff.py); this side notes when it changed and who changed it (so the device
# can be alerted), keeps a commanded tariff across a restart, and names and prices the
# tariffs from the port's configuration (tariff_names, tariff_prices).

from store.atomic import AtomicRecord
from mep import tables as T
from mep.errors import MEPError


class TariffTracker:
    def __init__(self, registers, cfg, clock, path, event):
        self.registers = registers
        self.names = cfg["tariff_names"]
        self.prices = cfg["tariff_prices"]
        self.clock = clock
        self.event = event  # event(kind, fields): the port's event log
        self._record = AtomicRecord(path)
        saved = self._record.read_json() or {}
        self._restore_command(saved)
        self._last = self.active
        self.changed_s = saved.get("changed", 0)  # calendar time of the last change (0: never)
        self.source = saved.get("source", "default")  # who changed it: "schedule", "utility", ...

    def _restore_command(self, saved):
        # A commanded tariff survives a restart for as long as it would have held: until
        # the schedule's next switch point after the command (metrology/tariff.py).
        source = saved.get("source")
        if "active" not in saved or source in (None, "default", "schedule"):
            return
        try:
            self.registers.set_tariff(saved["active"], source, saved.get("changed", 0))
            self.registers.update_tariff(self.clock.time_s())
        except ValueError:  # fewer tariffs configured than when it was given: the schedule's holds
            pass

    @property
    def active(self):
        return self.registers.tariff

    def count(self):
        # As many tariffs as the registers keep, named by tariff_names (defaults beyond it).
        return len(self.registers.tariff_import_wh)

    def track(self):
        """A time-of-use switch in the registers is a tariff change too (called before alerts)."""
        if self.active != self._last:
            self._last = self.active
            self.changed_s = self.clock.time_s()
            self.source = "schedule"

    def table(self):
        """[(price in 1/10000 of the currency unit, name)] per tariff."""
        names, prices = self.names, self.prices
        return [(T.price_units(prices[i]) if i < len(prices) else 0, names[i] if i < len(names) else "t%d" % i)
                for i in range(self.count())]

    def image(self):
        return T.encode_tariff(self.active, self.changed_s, self.table())

    def set(self, index, source="utility"):
        """Switch the active tariff by command: the registers apply it (it holds until the
        time-of-use schedule's next switch) and this side records it and alerts the device."""
        if not 0 <= index < self.count():
            raise MEPError("tariff %r: must be 0..%d" % (index, self.count() - 1))
        self.registers.set_tariff(index, source)
        self._last = index
        self.changed_s = self.clock.time_s()
        self.source = source
        self._record.write_json({"active": index, "changed": self.changed_s, "source": source})
        self.event("tariff", {"active": index, "name": self.table()[index][1], "source": source})
