# Energy registers: active import/export, reactive per quadrant and per-tariff active
# registers (metrology/energy.py does the integer accounting with carried remainders),
# checkpointed through the power-fail-safe store and never allowed to go backwards.
#
# Two AtomicRecord copies are written in turn (generation n goes to copy n % 2). A
# power cut cannot damage a copy (the write is atomic), but flash can: with one copy
# damaged the other, at most one checkpoint older, is used. Only with both copies
# unreadable do the registers restart from zero, flagged in `damaged_copies` for the log.
#
# Loss on power failure: the energy registered since the last checkpoint, i.e. at most
# checkpoint_s plus one measurement period at the power drawn (docs/metrology.md).
#
# Tariffs: the schedule (metrology/tariff.py) picks the tariff each period; a command
# set_tariff(index, source) overrides it until the schedule's next switch point. The
# override is not persisted: after a restart the schedule applies.

from store import AtomicRecord, StoreError
from metrology.energy import EnergyAccumulator, MWMS_PER_WH
from metrology.tariff import TariffSchedule

_FIELDS = ("generation", "import_wh", "export_wh", "import_rem_mwms", "export_rem_mwms")


def _count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _counts(values, length):
    if not isinstance(values, list) or len(values) != length:
        return False
    for value in values:
        if not _count(value):
            return False
    return True


def _valid(saved):
    if not isinstance(saved, dict):
        return False
    for name in _FIELDS:
        if not _count(saved.get(name)):
            return False
    if saved["import_rem_mwms"] >= MWMS_PER_WH or saved["export_rem_mwms"] >= MWMS_PER_WH:
        return False
    # Reactive and tariff registers came later: a record without them is still valid.
    if "q_varh" in saved:
        if not (_counts(saved["q_varh"], 4) and _counts(saved.get("q_rem_mwms"), 4)):
            return False
        for rem in saved["q_rem_mwms"]:
            if rem >= MWMS_PER_WH:
                return False
    for name, total in (("tariff_import_wh", "import_wh"), ("tariff_export_wh", "export_wh")):
        if name in saved:
            value = saved[name]
            # The tariff registers always add up to the total; a record where they do not is damaged.
            if not (isinstance(value, list) and value and _counts(value, len(value))) or sum(value) != saved[total]:
                return False
    return True


class EnergyRegisters(EnergyAccumulator):
    def __init__(self, folder, tariffs=1, schedule=None, clock=None):
        super().__init__(tariffs)
        self.schedule = schedule or TariffSchedule((), tariffs)
        self.clock = clock
        self._copies = (AtomicRecord(folder + "/registers.0"), AtomicRecord(folder + "/registers.1"))
        self.generation = 0
        self.checkpoints = 0
        self.damaged_copies = 0  # copies found unreadable at start-up
        self.saved_s = None  # calendar time of the checkpoint restored (None: none, or an older record)
        best = None
        for copy in self._copies:
            try:
                saved = copy.read_json()
            except (StoreError, ValueError):
                saved = "damaged"
            if saved is None:
                continue  # never written
            if not _valid(saved):
                self.damaged_copies += 1
                continue
            if best is None or saved["generation"] > best["generation"]:
                best = saved
        if best is not None:
            self._restore(best)
        self._saved = list(self.regs)

    def _restore(self, saved):
        self.generation = saved["generation"]
        if _count(saved.get("t")):
            self.saved_s = saved["t"]
        self.regs[0] = saved["import_wh"]
        self.regs[1] = saved["export_wh"]
        self.set_rem_mwms(0, saved["import_rem_mwms"])
        self.set_rem_mwms(1, saved["export_rem_mwms"])
        if "q_varh" in saved:
            for k in range(4):
                self.regs[2 + k] = saved["q_varh"][k]
                self.set_rem_mwms(2 + k, saved["q_rem_mwms"][k])
        for name, regs in (("tariff_import_wh", self.tariff_import_wh), ("tariff_export_wh", self.tariff_export_wh)):
            stored = saved.get(name) or []
            for k in range(len(regs)):
                regs[k] = stored[k] if k < len(stored) else 0
            # Fewer tariffs configured than stored: their energy stays in the totals and
            # is booked to the last tariff, so the tariff registers still add up.
            for k in range(len(regs), len(stored)):
                regs[-1] += stored[k]
        if best_lacks_tariffs(saved):
            self.tariff_import_wh[0] = self.regs[0]
            self.tariff_export_wh[0] = self.regs[1]

    def add_power(self, p_w, duration_ms):
        """Active power only (no reactive), kept for callers of the first cut."""
        self.add(p_w, 0.0, duration_ms)

    def update_tariff(self, calendar_s):
        """The tariff in force now (schedule or an unexpired command); call once per period."""
        self.tariff = self.schedule.tariff_at(calendar_s)
        return self.tariff

    def set_tariff(self, index, source, calendar_s=None):
        """A command (source "mep", ...) sets the tariff until the schedule's next switch point."""
        if calendar_s is None:
            calendar_s = self.clock.time_s() if self.clock is not None else 0
        self.schedule.set(index, source, calendar_s)
        self.tariff = index

    def checkpoint(self):
        """Persist the registers; a checkpoint never writes a smaller value than the last."""
        for k in range(6):
            if self.regs[k] < self._saved[k]:
                raise ValueError("energy register went backwards")
        generation = self.generation + 1
        rems = self.rems  # mWms, as the record has always held them
        self._copies[generation % 2].write_json(
            {
                "generation": generation,
                "import_wh": self.regs[0],
                "export_wh": self.regs[1],
                "import_rem_mwms": rems[0],
                "export_rem_mwms": rems[1],
                "q_varh": self.regs[2:6],
                "q_rem_mwms": rems[2:6],
                "tariff_import_wh": list(self.tariff_import_wh),
                "tariff_export_wh": list(self.tariff_export_wh),
                "t": self.clock.time_s() if self.clock is not None else None,
            }
        )
        self.generation = generation
        self._saved = list(self.regs)
        self.checkpoints += 1

    def as_dict(self):
        d = EnergyAccumulator.as_dict(self)
        d["tariff_source"] = self.schedule.source
        return d


def best_lacks_tariffs(saved):
    """A record from before tariffs: all its energy belongs to tariff 0."""
    return "tariff_import_wh" not in saved
