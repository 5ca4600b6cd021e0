# Energy registers: whole Wh as integers plus a carried remainder, so rounding
# never loses or invents energy; checkpointed through an AtomicRecord and never
# allowed to go backwards.

from micropython import const

_MWMS_PER_WH = const(3_600_000_000)  # milliwatt-milliseconds in one watt-hour


class EnergyRegisters:
    def __init__(self, record):
        self._record = record
        self.import_wh = 0
        self.export_wh = 0
        self._import_rem_mwms = 0  # energy below one Wh, carried to the next period
        self._export_rem_mwms = 0
        self.checkpoints = 0
        saved = record.read_json()
        if saved:
            self.import_wh = saved["import_wh"]
            self.export_wh = saved["export_wh"]
            self._import_rem_mwms = saved.get("import_rem_mwms", 0)
            self._export_rem_mwms = saved.get("export_rem_mwms", 0)
        self._saved = (self.import_wh, self.export_wh)

    def add_power(self, p_w, duration_ms):
        """Register p_w held for duration_ms (negative power is export)."""
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
        self._record.write_json(
            {
                "import_wh": self.import_wh,
                "export_wh": self.export_wh,
                "import_rem_mwms": self._import_rem_mwms,
                "export_rem_mwms": self._export_rem_mwms,
            }
        )
        self._saved = (self.import_wh, self.export_wh)
        self.checkpoints += 1

    def as_dict(self):
        return {"import_wh": self.import_wh, "export_wh": self.export_wh}
