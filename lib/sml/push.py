# The push file of the info interface: PublicOpen.Res, GetList.Res, PublicClose.Res, built
# into one preallocated buffer. The caller sets the integer fields, then build() writes the
# whole frame (transport included) and returns its length; nothing is allocated.
#
# Public entries (always):
#   129-129:199.130.3*255  manufacturer (3 letters)       1-0:0.0.9*255  server id
#   1-0:1.8.0*255  import, Wh, scaler 0, with the status word    1-0:2.8.0*255  export, Wh
# Detailed entries (only while unlocked, docs/sml.md):
#   1-0:1.8.k*255  import per tariff k = 1..tariffs (at least 1.8.1 and 1.8.2), Wh
#   1-0:16.7.0*255  active power, W, scaler -1 (negative: export)
#   1-0:32.7.0*255  voltage L1, V, scaler -1       1-0:31.7.0*255  current L1, A, scaler -2
#   1-0:14.7.0*255  frequency, Hz, scaler -2
# actSensorTime is the seconds index (seconds since start-up).

from micropython import const
from sml import messages as M
from sml import transport
from sml.codec import Writer, T_INT

OBIS_MANUFACTURER = M.obis(129, 129, 199, 130, 3)
OBIS_SERVER_ID = M.obis(1, 0, 0, 0, 9)
OBIS_IMPORT = M.obis(1, 0, 1, 8, 0)
OBIS_EXPORT = M.obis(1, 0, 2, 8, 0)
OBIS_TARIFF = tuple(M.obis(1, 0, 1, 8, k) for k in range(1, 9))
OBIS_POWER = M.obis(1, 0, 16, 7, 0)
OBIS_VOLTAGE = M.obis(1, 0, 32, 7, 0)
OBIS_CURRENT = M.obis(1, 0, 31, 7, 0)
OBIS_FREQUENCY = M.obis(1, 0, 14, 7, 0)

# Status word bits (FNN EDL positions as readers interpret them).
STATUS_LOAD = const(1 << 8)  # above the starting current: energy is being registered
STATUS_EXPORT = const(1 << 11)  # energy direction: export (-A)

MAX_TARIFFS = const(8)
PAYLOAD_BYTES = const(512)  # the largest push (8 tariffs, unlocked) frames to 492


class PushFile:
    def __init__(self, server_id, manufacturer, tariffs=2):
        self.server_id = server_id
        self.manufacturer = manufacturer.encode() if isinstance(manufacturer, str) else manufacturer
        self.tariffs = max(2, min(tariffs, MAX_TARIFFS))
        self.w = Writer(transport.capacity(PAYLOAD_BYTES))
        self.transaction = 0
        # Set by the caller before build(): integers only.
        self.import_wh = 0
        self.export_wh = 0
        self.tariff_wh = [0] * self.tariffs  # import per tariff
        self.status = 0
        self.power_dw = 0  # 0.1 W
        self.voltage_dv = 0  # 0.1 V
        self.current_ca = 0  # 0.01 A
        self.frequency_chz = 0  # 0.01 Hz

    @property
    def buf(self):
        return self.w.buf

    def build(self, sec_index, detailed):
        """Writes the framed file into self.buf; returns its length."""
        w = self.w
        w.reset(transport.HEADER_BYTES)
        t = self.transaction
        self.transaction = (t + 3) & 0x3FFFFFFF
        # reqFileId: the first transaction id stands for the file.
        start = M.begin_message(w, t, 0, M.OPEN_RES)
        w.list(6)
        w.absent()
        w.absent()
        w.counter_octets(t, 4)
        w.octets(self.server_id)
        w.absent()
        w.absent()
        M.end_message(w, start)
        start = M.begin_message(w, t + 1, 0, M.GET_LIST_RES)
        w.list(7)
        w.absent()  # clientId
        w.octets(self.server_id)
        w.absent()  # listName
        M.sml_time(w, M.TIME_SEC_INDEX, sec_index)
        w.list(4 + (self.tariffs + 4 if detailed else 0))
        M.octets_entry(w, OBIS_MANUFACTURER, self.manufacturer)
        M.octets_entry(w, OBIS_SERVER_ID, self.server_id)
        M.list_entry(w, OBIS_IMPORT, M.UNIT_WH, 0, T_INT, 8, self.import_wh, self.status)
        M.list_entry(w, OBIS_EXPORT, M.UNIT_WH, 0, T_INT, 8, self.export_wh)
        if detailed:
            tariff_wh = self.tariff_wh
            for k in range(self.tariffs):
                M.list_entry(w, OBIS_TARIFF[k], M.UNIT_WH, 0, T_INT, 8, tariff_wh[k])
            M.list_entry(w, OBIS_POWER, M.UNIT_W, -1, T_INT, 4, self.power_dw)
            M.list_entry(w, OBIS_VOLTAGE, M.UNIT_V, -1, T_INT, 4, self.voltage_dv)
            M.list_entry(w, OBIS_CURRENT, M.UNIT_A, -2, T_INT, 4, self.current_ca)
            M.list_entry(w, OBIS_FREQUENCY, M.UNIT_HZ, -2, T_INT, 4, self.frequency_chz)
        w.absent()  # listSignature
        w.absent()  # actGatewayTime
        M.end_message(w, start)
        start = M.begin_message(w, t + 2, 0, M.CLOSE_RES)
        w.list(1)
        w.absent()
        M.end_message(w, start)
        return transport.finish(w.buf, w.n)
