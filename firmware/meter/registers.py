# Energy registers: whole Wh as integers plus a carried remainder, so rounding
# never loses or invents energy; checkpointed through the power-fail-safe store and
# never allowed to go backwards.
#
# Two AtomicRecord copies are written in turn (generation n goes to copy n % 2). A
# power cut cannot damage a copy (the write is atomic), but flash can: with one copy
# damaged the other, at most one checkpoint older, is used, and the loss is bounded
# by one checkpoint interval. Only with both copies unreadable do the registers
# restart from zero, flagged in `damaged_copies` for the log.

from micropython import const
from store import AtomicRecord, StoreError

_MWMS_PER_WH = const(3_600_000_000)  # milliwatt-milliseconds in one watt-hour
_FIELDS = ("generation", "import_wh", "export_wh", "import_rem_mwms", "export_rem_mwms")


def _valid(saved):
    if not isinstance(saved, dict):
        return False
    for name in _FIELDS:
        value = saved.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            return False
    return saved["import_rem_mwms"] < _MWMS_PER_WH and saved["export_rem_mwms"] < _MWMS_PER_WH


class EnergyRegisters:
    def __init__(self, folder):
        self._copies = (AtomicRecord(folder + "/registers.0"), AtomicRecord(folder + "/registers.1"))
        self.generation = 0
        self.import_wh = 0
        self.export_wh = 0
        self._import_rem_mwms = 0  # energy below one Wh, carried to the next period
        self._export_rem_mwms = 0
        self.checkpoints = 0
        self.damaged_copies = 0  # copies found unreadable at start-up
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
            self.generation = best["generation"]
            self.import_wh = best["import_wh"]
            self.export_wh = best["export_wh"]
            self._import_rem_mwms = best["import_rem_mwms"]
            self._export_rem_mwms = best["export_rem_mwms"]
        self._saved = (self.import_wh, self.export_wh)

    def add_power(self, p_w, duration_ms):
        """Register p_w held for duration_ms (negative power is export)."""
        if duration_ms < 0:
            raise ValueError("negative duration")
        energy_mwms = int(abs(p_w) * 1000 * duration_ms)
        if p_w >= 0:
            whole, self._import_rem_mwms = divmod(self._import_rem_mwms + energy_mwms, _MWMS_PER_WH)
            self.import_wh += whole
        else:
            whole, self._export_rem_mwms = divmod(self._export_rem_mwms + energy_mwms, _MWMS_PER_WH)
            self.export_wh += whole

    def checkpoint(self):
        """Persist the registers; a checkpoint never writes a smaller value than the last."""
        if self.import_wh < self._saved[0] or self.export_wh < self._saved[1]:
            raise ValueError("energy register went backwards")
        generation = self.generation + 1
        self._copies[generation % 2].write_json(
            {
                "generation": generation,
                "import_wh": self.import_wh,
                "export_wh": self.export_wh,
                "import_rem_mwms": self._import_rem_mwms,
                "export_rem_mwms": self._export_rem_mwms,
            }
        )
        self.generation = generation
        self._saved = (self.import_wh, self.export_wh)
        self.checkpoints += 1

    def as_dict(self):
        return {"import_wh": self.import_wh, "export_wh": self.export_wh}
