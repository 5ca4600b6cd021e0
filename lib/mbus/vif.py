# EN 13757-3 value information tables: the primary VIF table and the FB and FD
# extension tables. Each is a 512-byte bytes object, 4 bytes per code
# (code & 0x7F):
#   [quantity index, unit index, exponent + 64, kind << 3 | multiplier index]
# into QUANTITIES, UNITS and MULTIPLIERS, so that a record's meaning is a few
# byte reads and the tables cost about 2 KB of heap rather than a tuple per
# entry. value = raw * multiplier * 10**exponent; the multipliers carry the
# time units (minutes, hours, days -> seconds). Quantities and units are
# listed in docs/mbus.md.

from micropython import const

# Entry kinds: how the data is interpreted.
NUMBER = const(0)     # scaled number
DATE = const(1)       # date/time: type by data length (G 2, J 3, F 4, I 6 bytes)
UNKNOWN = const(2)    # reserved or unknown code: raw data as hex
PLAIN_TEXT = const(3)  # VIF 7C/FC: unit given as text in the record
EXT_FB = const(4)     # VIF FB: true VIF in table FB (next byte)
EXT_FD = const(5)     # VIF FD: true VIF in table FD (next byte)
MANUFACTURER = const(6)  # VIF 7F/FF: manufacturer specific, unscaled
ANY = const(7)        # VIF 7E/FE: any VIF (readout selection)

MULTIPLIERS = (1, 60, 3600, 86400)
_SECONDS = (0, 1, 2, 3)   # multiplier indexes for s, min, h, d
_HOUR = const(2)
_DAY = const(3)
EXP_BIAS = const(64)

_quantities = ["unknown"]
_units = [""]


def _index(names, name):
    try:
        return names.index(name)
    except ValueError:
        names.append(name)
        return len(names) - 1


def _table():
    t = bytearray(512)
    for code in range(128):
        t[4 * code + 2] = EXP_BIAS
        t[4 * code + 3] = UNKNOWN << 3
    return t


def _one(tab, code, quantity, unit="", kind=NUMBER, multiplier=0, exponent=0):
    k = 4 * code
    tab[k] = _index(_quantities, quantity)
    tab[k + 1] = _index(_units, unit)
    tab[k + 2] = exponent + EXP_BIAS
    tab[k + 3] = (kind << 3) | multiplier


def _decades(tab, first, count, quantity, unit, exp0):
    for n in range(count):
        _one(tab, first + n, quantity, unit, exponent=exp0 + n)


def _durations(tab, first, quantity):
    # nn = 00 s, 01 min, 10 h, 11 days; all given in seconds
    for n in range(4):
        _one(tab, first + n, quantity, "s", multiplier=_SECONDS[n])


def lookup(table, code):
    """(quantity, unit, multiplier, exponent, kind) of code in table (for
    tests and tools; the decoder reads the bytes itself)."""
    k = 4 * (code & 0x7F)
    return (QUANTITIES[table[k]], UNITS[table[k + 1]], MULTIPLIERS[table[k + 3] & 7],
            table[k + 2] - EXP_BIAS, table[k + 3] >> 3)


def _primary():
    t = _table()
    _decades(t, 0x00, 8, "energy", "Wh", -3)
    _decades(t, 0x08, 8, "energy", "J", 0)
    _decades(t, 0x10, 8, "volume", "m^3", -6)
    _decades(t, 0x18, 8, "mass", "kg", -3)
    _durations(t, 0x20, "on_time")
    _durations(t, 0x24, "operating_time")
    _decades(t, 0x28, 8, "power", "W", -3)
    _decades(t, 0x30, 8, "power", "J/h", 0)
    _decades(t, 0x38, 8, "volume_flow", "m^3/h", -6)
    _decades(t, 0x40, 8, "volume_flow", "m^3/min", -7)
    _decades(t, 0x48, 8, "volume_flow", "m^3/s", -9)
    _decades(t, 0x50, 8, "mass_flow", "kg/h", -3)
    _decades(t, 0x58, 4, "flow_temperature", "°C", -3)
    _decades(t, 0x5C, 4, "return_temperature", "°C", -3)
    _decades(t, 0x60, 4, "temperature_difference", "K", -3)
    _decades(t, 0x64, 4, "external_temperature", "°C", -3)
    _decades(t, 0x68, 4, "pressure", "bar", -3)
    _one(t, 0x6C, "date", kind=DATE)
    _one(t, 0x6D, "datetime", kind=DATE)
    _one(t, 0x6E, "hca_units")
    _durations(t, 0x70, "averaging_duration")
    _durations(t, 0x74, "actuality_duration")
    _one(t, 0x78, "fabrication_number")
    _one(t, 0x79, "enhanced_identification")
    _one(t, 0x7A, "bus_address")
    _one(t, 0x7B, "extension_fb", kind=EXT_FB)
    _one(t, 0x7C, "plain_text", kind=PLAIN_TEXT)
    _one(t, 0x7D, "extension_fd", kind=EXT_FD)
    _one(t, 0x7E, "any", kind=ANY)
    _one(t, 0x7F, "manufacturer_specific", kind=MANUFACTURER)
    return t


def _fd():
    t = _table()
    _decades(t, 0x00, 4, "credit", "currency", -3)
    _decades(t, 0x04, 4, "debit", "currency", -3)
    names = ("access_number", "medium", "manufacturer", "parameter_set_id",
             "model_version", "hardware_version", "firmware_version",
             "software_version", "customer_location", "customer",
             "access_code_user", "access_code_operator",
             "access_code_system_operator", "access_code_developer", "password",
             "error_flags", "error_mask")
    for n, name in enumerate(names):
        _one(t, 0x08 + n, name)
    _one(t, 0x1A, "digital_output")
    _one(t, 0x1B, "digital_input")
    _one(t, 0x1C, "baud_rate", "Bd")
    _one(t, 0x1D, "response_delay", "bit times")
    _one(t, 0x1E, "retry")
    _one(t, 0x1F, "remote_control")
    _one(t, 0x20, "first_storage_number")
    _one(t, 0x21, "last_storage_number")
    _one(t, 0x22, "storage_block_size")
    _durations(t, 0x24, "storage_interval")
    _one(t, 0x28, "storage_interval", "month")
    _one(t, 0x29, "storage_interval", "year")
    _durations(t, 0x2C, "duration_since_readout")
    _one(t, 0x30, "tariff_start", kind=DATE)
    for n in range(1, 4):   # 31..33: tariff duration in min, h, d
        _one(t, 0x30 + n, "tariff_duration", "s", multiplier=n)
    _durations(t, 0x34, "tariff_period")
    _one(t, 0x38, "tariff_period", "month")
    _one(t, 0x39, "tariff_period", "year")
    _one(t, 0x3A, "dimensionless")
    _decades(t, 0x40, 16, "voltage", "V", -9)
    _decades(t, 0x50, 16, "current", "A", -12)
    names = ("reset_counter", "cumulation_counter", "control_signal",
             "day_of_week", "week_number", "day_change_time",
             "parameter_activation_state", "supplier_info")
    for n, name in enumerate(names):
        _one(t, 0x60 + n, name)
    # 68..6B / 6C..6F: hours, days, months, years
    for base, name in ((0x68, "duration_since_cumulation"), (0x6C, "battery_operating_time")):
        _one(t, base, name, "s", multiplier=_HOUR)
        _one(t, base + 1, name, "s", multiplier=_DAY)
        _one(t, base + 2, name, "month")
        _one(t, base + 3, name, "year")
    _one(t, 0x65, "day_change_time", kind=DATE)
    _one(t, 0x70, "battery_change_date", kind=DATE)
    _one(t, 0x71, "rf_level", "dBm")
    _one(t, 0x74, "remaining_battery_life", "s", multiplier=_DAY)
    _one(t, 0x75, "meter_stopped_count")
    return t


def _fb():
    t = _table()
    _decades(t, 0x00, 2, "energy", "Wh", 5)       # 0.1 MWh, 1 MWh
    _decades(t, 0x08, 2, "energy", "J", 8)        # 0.1 GJ, 1 GJ
    _decades(t, 0x10, 2, "volume", "m^3", 2)      # 100 m^3, 1000 m^3
    _decades(t, 0x18, 2, "mass", "kg", 5)         # 100 t, 1000 t
    _decades(t, 0x1A, 2, "relative_humidity", "%", -1)
    _one(t, 0x21, "volume", "ft^3", exponent=-1)
    _one(t, 0x22, "volume", "US gal", exponent=-1)
    _one(t, 0x23, "volume", "US gal")
    _one(t, 0x24, "volume_flow", "US gal/min", exponent=-3)
    _one(t, 0x25, "volume_flow", "US gal/min")
    _one(t, 0x26, "volume_flow", "US gal/h")
    _decades(t, 0x28, 2, "power", "W", 5)         # 0.1 MW, 1 MW
    _decades(t, 0x30, 2, "power", "J/h", 8)       # 0.1 GJ/h, 1 GJ/h
    _decades(t, 0x58, 4, "flow_temperature", "°F", -3)
    _decades(t, 0x5C, 4, "return_temperature", "°F", -3)
    _decades(t, 0x60, 4, "temperature_difference", "°F", -3)
    _decades(t, 0x64, 4, "external_temperature", "°F", -3)
    _decades(t, 0x70, 4, "temperature_limit", "°F", -3)
    _decades(t, 0x74, 4, "temperature_limit", "°C", -3)
    _decades(t, 0x78, 8, "cumulative_max_power", "W", -3)
    return t


PRIMARY = bytes(_primary())
FB = bytes(_fb())
FD = bytes(_fd())
QUANTITIES = tuple(_quantities)
UNITS = tuple(_units)
# the builders are needed once: drop them (and their bytecode) from the heap
del _quantities, _units, _primary, _fb, _fd, _table, _decades, _durations, _one, _index

# Combinable VIFE codes (EN 13757-3 table 14) that change the value or flag it.
VIFE_MULT_FIRST = const(0x70)   # 70..77: multiply by 10^(nnn-6)
VIFE_MULT_LAST = const(0x77)
VIFE_OFFSET_FIRST = const(0x78)  # 78..7B: record is an additive offset 10^(nn-3)
VIFE_OFFSET_LAST = const(0x7B)
VIFE_EXTENSION = const(0x7C)    # the next VIFE is from the combinable extension table
VIFE_KILO = const(0x7D)         # multiply by 10^3
VIFE_MANUFACTURER = const(0x7F)  # the remaining VIFEs are manufacturer specific
VIFE_ERROR_FIRST = const(0x00)  # 00..1F: record error codes (slave to master)
VIFE_ERROR_LAST = const(0x1F)

# Fixed data structure (CI 0x73): 6-bit unit codes of the two counters, as
# (quantity, unit, multiplier, exponent) into the units of the variable format.
# 0x3E: the second counter has the first one's unit and is a historic value.
FIXED_SAME_HISTORIC = const(0x3E)


def _fixed_units():
    t = [("unknown", "", 1, 0)] * 64
    t[0x00] = ("time", "", 1, 0)      # h,m,s: a time of day, coding not defined here
    t[0x01] = ("date", "", 1, 0)      # D,M,Y
    for n in range(9):
        t[0x02 + n] = ("energy", "Wh", 1, n)          # 02..0A: Wh .. 100 MWh
        t[0x0B + n] = ("energy", "J", 1, 3 + n)       # 0B..13: kJ .. 100 GJ
        t[0x14 + n] = ("power", "W", 1, n)            # 14..1C: W .. 100 MW
        t[0x1D + n] = ("power", "J/h", 1, 3 + n)      # 1D..25: kJ/h .. 100 GJ/h
        t[0x26 + n] = ("volume", "m^3", 1, n - 6)     # 26..2E: ml .. 100 m^3
        t[0x2F + n] = ("volume_flow", "m^3/h", 1, n - 6)  # 2F..37: ml/h .. 100 m^3/h
    t[0x38] = ("temperature", "°C", 1, -3)
    t[0x39] = ("hca_units", "", 1, 0)
    return t


FIXED_UNITS = _fixed_units()
del _fixed_units
