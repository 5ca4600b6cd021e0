# Calibration: solving gains and phase from a reference load, storing them with a
# checksum, and logging every change for the life of the device.
#
# solve(): the meter measures a known load (reference V, I and power factor, or P) with
# its present constants; the new gains scale the measured rms to the reference and the
# phase correction turns the measured current angle atan2(Q, P) into the reference one.
#
# Storage: <root>/calibration, an AtomicRecord (length + CRC-32 framed, replaced
# atomically) holding {"v_gain", "i_gain", "phase_deg", "version"}.
#
# The calibration log: the device's calibration log (security/logs.py, <root>/log/
# calibration), records {"t", "kind": "calibration", "version", "source", "old", "new"}.
# It must never lose an entry, so it
# never rotates: with LOG_SEGMENTS segments of LOG_SEGMENT_BYTES (256 KiB, about 1500
# entries of ~170 bytes) an append that would need one more segment is refused with
# CalibrationError (counted in `refused`), and so is the calibration change itself.
# Order on a change: the log entry is appended first, then the constants are written;
# a power cut in between leaves an entry for a change that did not happen (the entry
# names the new values, so an audit sees it), never a change without an entry.

import math
from store import AtomicRecord, StoreError
from metrology.maths import Calibration

LOG_SEGMENT_BYTES = 4096
LOG_SEGMENTS = 64
_LIMITS = {"v_gain": (0.5, 2.0), "i_gain": (0.5, 2.0), "phase_deg": (-20.0, 20.0)}


class CalibrationError(Exception):
    """A calibration that cannot be solved, stored or logged."""


def check(cal):
    """Raise CalibrationError unless every constant is a finite number within its limits."""
    for name in ("v_gain", "i_gain", "phase_deg"):
        value = getattr(cal, name)
        low, high = _LIMITS[name]
        if type(value) is not float or value - value != 0 or not low <= value <= high:
            raise CalibrationError("calibration %s=%r outside %s..%s" % (name, value, low, high))


def solve(readings, current, ref_v, ref_i, ref_pf=None, ref_p_w=None):
    """New Calibration from readings taken with `current`, against a reference load.

    ref_pf is signed by the current's angle: positive lagging (Q > 0), negative leading;
    its direction (import or export) is the measured one. Or give ref_p_w (signed) (with ref_v, ref_i) and the angle comes from P / (V * I), lagging
    when the measured Q is positive.
    """
    if readings.vrms <= 0 or readings.irms <= 0:
        raise CalibrationError("no voltage or no current measured")
    if ref_v <= 0 or ref_i <= 0:
        raise CalibrationError("reference voltage and current must be positive")
    if ref_pf is None and ref_p_w is None:
        raise CalibrationError("give the reference power factor or power")
    measured_deg = math.degrees(math.atan2(readings.q_var, readings.p_w))
    if ref_pf is None:
        ratio = ref_p_w / (ref_v * ref_i)
        if not -1.0 <= ratio <= 1.0:
            raise CalibrationError("reference power exceeds V * I")
        ref_deg = math.degrees(math.acos(ratio))
        if readings.q_var < 0:
            ref_deg = -ref_deg
    else:
        if not -1.0 <= ref_pf <= 1.0 or ref_pf == 0:
            raise CalibrationError("reference power factor must be in -1..1, not 0")
        ref_deg = math.degrees(math.acos(abs(ref_pf)))
        if readings.p_w < 0:
            ref_deg = 180.0 - ref_deg  # an export load: the direction is the measured one
        if ref_pf < 0:
            ref_deg = -ref_deg
    turn = ref_deg - measured_deg
    while turn > 180:
        turn -= 360
    while turn < -180:
        turn += 360
    new = Calibration(
        current.v_gain * ref_v / readings.vrms,
        current.i_gain * ref_i / readings.irms,
        current.phase_deg + turn,
    )
    check(new)
    return new


class CalibrationLog:
    """The calibration log of security/logs.py (one writer per device: the meter passes its
    own; a tool on a stored folder opens it alone). Nothing is ever rotated out of it."""

    def __init__(self, root, device_log=None):
        if device_log is None:
            from security.logs import DeviceLog

            device_log = DeviceLog(root + "/log/calibration", "calibration", None, LOG_SEGMENT_BYTES, LOG_SEGMENTS,
                                   keep_all=True)
        self.device_log = device_log
        self.refused = 0

    def append(self, entry):
        from security.logs import LogError

        fields = dict(entry)
        kind = fields.pop("kind", "calibration")
        t_s = fields.pop("t", None)
        try:
            return self.device_log.append(kind, fields, t_s)
        except LogError as exc:
            self.refused += 1
            raise CalibrationError("calibration log: %s; change refused (%d refused)" % (exc, self.refused))

    def entries(self):
        out = []
        after = 0
        while True:
            page = self.device_log.records(after, 32)
            if not page:
                return out
            for seq, record in page:
                out.append(record)
                after = seq


class CalibrationStore:
    """The constants (checksummed, atomic) and the log of their changes."""

    def __init__(self, root, device_log=None):
        self.root = root
        self._device_log = device_log  # the meter's calibration log (security.logs.Logs)
        self.record = AtomicRecord(root + "/calibration")
        self._log = None  # opened on first use: a meter that is not calibrated keeps the heap
        self.version = 0
        self.damaged = False  # the stored constants were unreadable: defaults in use
        self.calibration = Calibration()
        try:
            saved = self.record.read_json()
        except (StoreError, ValueError):
            saved = None
            self.damaged = True
        if saved is not None:
            try:
                cal = Calibration(float(saved["v_gain"]), float(saved["i_gain"]), float(saved["phase_deg"]))
                check(cal)
                version = saved["version"]
                if type(version) is not int or version < 0:
                    raise ValueError("version")
                self.calibration = cal
                self.version = version
            except (KeyError, TypeError, ValueError, OverflowError, CalibrationError):
                self.damaged = True

    @property
    def log(self):
        if self._log is None:
            self._log = CalibrationLog(self.root, self._device_log)
        return self._log

    def change(self, new, source, t_s):
        """Log, then store, a new calibration; returns the new version."""
        check(new)
        version = self.version + 1
        self.log.append({"version": version, "t": t_s, "source": source, "old": self.calibration.as_dict(),
                         "new": new.as_dict()})
        value = new.as_dict()
        value["version"] = version
        self.record.write_json(value)
        self.version = version
        old = self.calibration
        old.v_gain, old.i_gain, old.phase_deg = new.v_gain, new.i_gain, new.phase_deg  # engines share it
        return version
