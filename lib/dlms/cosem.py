# COSEM objects: the interface classes the meter serves, each reading its values from
# callables the application gives it (the meter's registers, clock, logs), so this
# module holds no meter state. Values are integers with a scaler, never floats.
#
# Access rights per association: every attribute and method has a mode for the public
# client (level 0) and for the management client (level 1). An object with no access
# at a level is not in that association's object list and is "object-undefined" there.

from micropython import const
from dlms import axdr as X
from dlms import cosemtime

# Attribute access modes, method access modes.
NO = const(0)
READ = const(1)
WRITE = const(2)
RW = const(3)
PUBLIC = const(0)
MANAGEMENT = const(1)

# Data-access-result / action-result codes.
SUCCESS = const(0)
HARDWARE_FAULT = const(1)
TEMPORARY_FAILURE = const(2)
READ_WRITE_DENIED = const(3)
OBJECT_UNDEFINED = const(4)
OBJECT_UNAVAILABLE = const(11)
TYPE_UNMATCHED = const(12)
SCOPE_OF_ACCESS_VIOLATED = const(13)
DATA_BLOCK_UNAVAILABLE = const(14)
LONG_GET_ABORTED = const(15)
NO_LONG_GET_IN_PROGRESS = const(16)
OTHER_REASON = const(250)

# Units (IEC 62056-62 enumeration).
UNIT_W = const(27)
UNIT_WH = const(30)
UNIT_A = const(33)
UNIT_V = const(35)
UNIT_HZ = const(44)
UNIT_NONE = const(255)


class Refused(Exception):
    """An access the server answers with a data-access-result / action-result code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def obis(text):
    """b'\\x01\\x00\\x01\\x08\\x00\\xff' from "1-0:1.8.0" or "1-0:1.8.0.255"."""
    a, rest = text.split("-")
    b, rest = rest.split(":")
    parts = rest.split(".")
    if len(parts) == 3:
        parts.append("255")
    return bytes([int(a), int(b)] + [int(p) for p in parts])


def obis_text(ln):
    return "%d-%d:%d.%d.%d.%d" % tuple(ln)


class CosemObject:
    class_id = 0
    version = 0
    # (public, management) access per attribute from 1 and per method from 1.
    attributes = ((READ, READ),)
    methods = ()

    def __init__(self, ln, attributes=None, methods=None):
        self.ln = obis(ln) if isinstance(ln, str) else ln
        if attributes is not None:
            self.attributes = attributes
        if methods is not None:
            self.methods = methods

    def listed(self, level):
        for modes in self.attributes[1:]:
            if modes[level]:
                return True
        for modes in self.methods:
            if modes[level]:
                return True
        return False

    def attribute_mode(self, attr, level):
        if attr < 1 or attr > len(self.attributes):
            raise Refused(OBJECT_UNDEFINED)
        return self.attributes[attr - 1][level]

    def method_mode(self, method, level):
        if method < 1 or method > len(self.methods):
            raise Refused(OBJECT_UNDEFINED)
        return self.methods[method - 1][level]

    def get(self, attr, w, selector, params, assoc):
        """Write attribute attr's value into w; or return an iterator that writes the rest
        of a long value a piece per next() (profiles); Refused for an error."""
        if attr == 1:
            w.octets(self.ln)
            return None
        return self.get_value(attr, w, selector, params, assoc)

    def get_value(self, attr, w, selector, params, assoc):
        raise Refused(OBJECT_UNAVAILABLE)

    def set(self, attr, value, assoc):
        raise Refused(READ_WRITE_DENIED)

    def action(self, method, param, w, assoc):
        """Run a method; write return data into w and return True if there is any."""
        raise Refused(READ_WRITE_DENIED)


def expect(value, tag):
    if value[0] != tag:
        raise Refused(TYPE_UNMATCHED)
    return value[1]


class Data(CosemObject):
    """Class 1: one value, from read() as (tag, value)."""

    class_id = 1
    attributes = ((READ, READ), (READ, READ))

    def __init__(self, ln, read, attributes=None):
        super().__init__(ln, attributes)
        self.read = read

    def get_value(self, attr, w, selector, params, assoc):
        tag, value = self.read()
        if tag == X.OCTET_STRING:
            w.octets(value)
        elif tag == X.VISIBLE_STRING:
            w.visible(value)
        elif tag == X.BOOLEAN:
            w.boolean(value)
        else:
            w.integer(tag, value)


class Register(CosemObject):
    """Class 3: value (an integer from read()), scaler_unit."""

    class_id = 3
    attributes = ((READ, READ), (READ, READ), (READ, READ))

    def __init__(self, ln, read, tag, scaler, unit):
        super().__init__(ln)
        self.read = read
        self.tag = tag
        self.scaler = scaler
        self.unit = unit

    def get_value(self, attr, w, selector, params, assoc):
        if attr == 2:
            w.integer(self.tag, self.read())
        else:
            w.scaler_unit(self.scaler, self.unit)


class ExtendedRegister(CosemObject):
    """Class 4: value, scaler_unit, status, capture_time; read() -> (value, scaler, unit,
    status, capture_s) or None while nothing has been captured."""

    class_id = 4
    attributes = ((READ, READ), (READ, READ), (READ, READ), (READ, READ), (READ, READ))

    def __init__(self, ln, read):
        super().__init__(ln)
        self.read = read

    def get_value(self, attr, w, selector, params, assoc):
        got = self.read()
        if got is None:
            raise Refused(TEMPORARY_FAILURE)
        value, scaler, unit, status, capture_s = got
        if attr == 2:
            if value < 0:
                w.integer(X.INT64, value)
            else:
                w.integer(X.UINT64 if value >= 1 << 32 else X.UINT32, value)
        elif attr == 3:
            w.scaler_unit(scaler, unit)
        elif attr == 4:
            w.integer(X.UINT8, status)
        else:
            w.octets(cosemtime.encode(capture_s))


class Clock(CosemObject):
    """Class 8 (UTC, no daylight saving). set_time(epoch_s) applies the meter's time rules and
    raises Refused if they refuse; only where the association may write attribute 2."""

    class_id = 8
    attributes = ((READ, READ), (READ, RW), (READ, READ), (READ, READ), (READ, READ), (READ, READ),
                  (READ, READ), (READ, READ), (READ, READ))
    # adjust_to_quarter .. shift_time: the management client may shift the time (6).
    methods = ((NO, NO), (NO, NO), (NO, NO), (NO, NO), (NO, NO), (NO, READ))

    def __init__(self, ln, clock, set_time):
        super().__init__(ln)
        self.clock = clock
        self.set_time = set_time

    def get_value(self, attr, w, selector, params, assoc):
        if attr == 2:
            w.octets(cosemtime.encode(self.clock.time_s()))
        elif attr == 3:
            w.integer(X.INT16, 0)  # time zone: UTC
        elif attr == 4:
            w.integer(X.UINT8, 0)  # status: ok
        elif attr in (5, 6):
            w.octets(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x80\x00\xff")  # no DST: unspecified
        elif attr == 7:
            w.integer(X.INT8, 0)
        elif attr == 8:
            w.boolean(False)
        else:
            w.integer(X.ENUM, 1)  # clock base: internal crystal

    def set(self, attr, value, assoc):
        data = expect(value, X.OCTET_STRING) if value[0] == X.OCTET_STRING else expect(value, X.DATE_TIME)
        try:
            t = cosemtime.decode(data)
        except ValueError:
            raise Refused(TYPE_UNMATCHED)
        if t is None:
            raise Refused(TYPE_UNMATCHED)
        self.set_time(t)

    def action(self, method, param, w, assoc):
        # shift_time(long seconds)
        shift = expect(param, X.INT16)
        if not -900 <= shift <= 900:
            raise Refused(OTHER_REASON)
        self.set_time(self.clock.time_s() + shift)
        return False


class HdlcSetup(CosemObject):
    """Class 23, version 1: the serial port's HDLC parameters (read-only here)."""

    class_id = 23
    version = 1
    attributes = ((READ, READ),) + ((READ, READ),) * 8

    def __init__(self, ln, settings):
        super().__init__(ln)
        self.settings = settings  # (baud enum, window tx, window rx, max tx, max rx, inter-octet ms, inactivity s, address)

    def get_value(self, attr, w, selector, params, assoc):
        value = self.settings()[attr - 2]
        tag = (X.ENUM, X.UINT8, X.UINT8, X.UINT16, X.UINT16, X.UINT16, X.UINT16, X.UINT16)[attr - 2]
        w.integer(tag, value)


def capture_object(w, class_id, ln, attr, data_index=0):
    w.structure(4)
    w.integer(X.UINT16, class_id)
    w.octets(ln)
    w.integer(X.INT8, attr)
    w.integer(X.UINT16, data_index)
