# SML requests on the wired LMN port (the gateway's side): a file of PublicOpen.Req,
# requests, PublicClose.Req is answered with one file of PublicOpen.Res, a response (or
# an Attention.Res) per request, PublicClose.Res. Answered (docs/sml.md):
#
#   GetList.Req           the push's entries, always with the details (the gateway reads
#                         for the metering point operator, not through the consumer's port)
#   GetProfileList.Req    the 15-minute load profile (the MEP interval profile, meter/mep.py)
#                         by time range: one GetProfileList.Res per interval in it
#   SetProcParameter.Req  the time (0-0:1.0.0*255) as an authenticated SET_TIME envelope
#                         (security/commands.py: counter, MAC, the 3 % drift rule), carried
#                         as the tree's octet-string value; answered Attention OK or refused
#   anything else         Attention.Res with the reason's attention number
#
# Malformed files (bad CRC, broken escapes, lying lengths) are refused: counted by reason,
# and warned about in the log, whose system-log sink keeps at most 20 a minute.

import asyncio
import rt
from micropython import const
from sml import messages as M
from sml import transport
from sml.codec import Writer, T_INT
from sml.errors import SmlError
from sml.push import OBIS_IMPORT, OBIS_EXPORT

OBIS_TIME = M.obis(0, 0, 1, 0, 0)
OBIS_LOAD_PROFILE = M.obis(1, 0, 99, 1, 0)  # load profile 1: the 15-minute intervals
PROFILE_STATUS = const(0)
MAX_REQUEST_BYTES = const(1024)
MAX_ANSWER_PAYLOAD = const(4096)
MAX_PROFILE_ROWS = const(96)  # a day of 15-minute intervals per request
_READ_BYTES = const(64)
_IDLE_MS = const(2000)  # a file that stops this long is dropped


class LmnServer:
    def __init__(self, sml, uart):
        self.sml = sml
        self.uart = uart
        self.log = sml.log
        self.requests = 0
        self.refused = {}  # reason -> count
        self.deframer = transport.Deframer(MAX_REQUEST_BYTES, on_error=self._refused)
        self.w = Writer(transport.capacity(MAX_ANSWER_PAYLOAD))
        self._answer = None

    def _refused(self, err):
        self.refused[err.reason] = self.refused.get(err.reason, 0) + 1
        self.log.warn("SML request refused: %s", err)

    # -- answering a file

    def answer(self, buf, length):
        """The framed answer (bytes) to one request file's payload."""
        w = self.w
        w.reset(transport.HEADER_BYTES)
        server_id = self.sml.server_id
        try:
            messages = M.parse_file(buf, length)
        except SmlError as err:
            self._refused(err)
            M.attention_res(w, b"\x00", 0, server_id, err.attention or M.ATT_BAD_RAW, err.reason)
            return bytes(memoryview(w.buf)[:transport.finish(w.buf, w.n)])
        if not messages or messages[0].tag != M.OPEN_REQ or messages[-1].tag != M.CLOSE_REQ:
            err = SmlError("unexpected", "a file must open and close", M.ATT_UNEXPECTED)
            self._refused(err)
            tid = messages[0].transaction_id if messages else b"\x00"
            M.attention_res(w, tid, 0, server_id, M.ATT_UNEXPECTED, err.reason)
        else:
            for message in messages:
                try:
                    self._one(w, message)
                except SmlError as err:
                    self._refused(err)
                    M.attention_res(w, message.transaction_id, message.group, server_id,
                                    err.attention or M.ATT_ERROR, err.reason)
        return bytes(memoryview(w.buf)[:transport.finish(w.buf, w.n)])

    def _check_server(self, value):
        if value is not None and value != self.sml.server_id:
            raise SmlError("other_server", "request for server %s" % bytes(value).hex(), M.ATT_NO_SERVER)

    def _one(self, w, m):
        tid, group, tag = m.transaction_id, m.group, m.tag
        server_id = self.sml.server_id
        self.requests += 1
        if tag == M.OPEN_REQ:
            body = M.fields(m.body, 7, "PublicOpen.Req")
            self._check_server(body[3])
            M.open_res(w, tid, group, body[2] if isinstance(body[2], bytes) else b"", server_id,
                       client_id=body[1] if isinstance(body[1], bytes) else None)
        elif tag == M.CLOSE_REQ:
            M.fields(m.body, 1, "PublicClose.Req")
            M.close_res(w, tid, group)
        elif tag == M.GET_LIST_REQ:
            body = M.fields(m.body, 5, "GetList.Req")
            self._check_server(body[1])
            if body[4] is not None:
                raise SmlError("unknown_list", "list %s" % bytes(body[4]).hex(), M.ATT_NOT_READABLE)
            self._get_list(w, tid, group, body[0] if isinstance(body[0], bytes) else None)
        elif tag == M.GET_PROFILE_LIST_REQ:
            body = M.fields(m.body, 9, "GetProfileList.Req")
            self._check_server(body[0])
            self._profile(w, m, body)
        elif tag == M.SET_PROC_PARAMETER_REQ:
            body = M.fields(m.body, 5, "SetProcParameter.Req")
            self._check_server(body[0])
            self._set_time(w, m, body)
        else:
            raise SmlError("unsupported", "message 0x%04x" % tag, M.ATT_UNKNOWN_ID)

    def _get_list(self, w, tid, group, client_id):
        sml = self.sml
        sml.fill(True)
        p = sml.push
        start = M.begin_message(w, tid, group, M.GET_LIST_RES)
        w.list(7)
        w.octets(client_id)
        w.octets(sml.server_id)
        w.absent()
        M.sml_time(w, M.TIME_SEC_INDEX, sml.sec_index())
        w.list(4 + p.tariffs + 4)
        M.octets_entry(w, M.obis(129, 129, 199, 130, 3), p.manufacturer)
        M.octets_entry(w, M.obis(1, 0, 0, 0, 9), sml.server_id)
        M.list_entry(w, OBIS_IMPORT, M.UNIT_WH, 0, T_INT, 8, p.import_wh, p.status)
        M.list_entry(w, OBIS_EXPORT, M.UNIT_WH, 0, T_INT, 8, p.export_wh)
        for k in range(p.tariffs):
            M.list_entry(w, M.obis(1, 0, 1, 8, k + 1), M.UNIT_WH, 0, T_INT, 8, p.tariff_wh[k])
        M.list_entry(w, M.obis(1, 0, 16, 7, 0), M.UNIT_W, -1, T_INT, 4, p.power_dw)
        M.list_entry(w, M.obis(1, 0, 32, 7, 0), M.UNIT_V, -1, T_INT, 4, p.voltage_dv)
        M.list_entry(w, M.obis(1, 0, 31, 7, 0), M.UNIT_A, -2, T_INT, 4, p.current_ca)
        M.list_entry(w, M.obis(1, 0, 14, 7, 0), M.UNIT_HZ, -2, T_INT, 4, p.frequency_chz)
        w.absent()
        w.absent()
        M.end_message(w, start)

    def _profile(self, w, m, body):
        path = M.tree_path(body[6])
        if path != [OBIS_LOAD_PROFILE]:
            raise SmlError("unknown_profile", "profile %s" % bytes(path[0]).hex(), M.ATT_UNKNOWN_OBJECT)
        begin = M.time_value(body[4], "beginTime")
        end = M.time_value(body[5], "endTime")
        for t in (begin, end):
            if t is not None and t[0] != M.TIME_TIMESTAMP:
                raise SmlError("bad_time", "profile limits must be timestamps", M.ATT_OUT_OF_RANGE)
        begin_s = begin[1] if begin else 0
        end_s = end[1] if end else 0xFFFFFFFF
        if end_s < begin_s:
            raise SmlError("end_before_start", "%d < %d" % (end_s, begin_s), M.ATT_END_BEFORE_START)
        mep = getattr(self.sml.meter, "mep", None)
        if mep is None:
            raise SmlError("no_profile", "the load profile is not kept (MEP off)", M.ATT_NOT_READABLE)
        from mep.tables import decode_profile_record

        period_s = self.sml.meter.cfg["mep"]["profile_period_s"]
        now_s = self.sml.hw.clock.time_s()
        rows = 0
        for _, data in mep.profile.records(0):
            row = decode_profile_record(data)
            if not begin_s <= row["end"] <= end_s:
                continue
            if rows >= MAX_PROFILE_ROWS:
                break
            rows += 1
            start = M.begin_message(w, m.transaction_id, m.group, M.GET_PROFILE_LIST_RES)
            w.list(9)
            w.octets(self.sml.server_id)
            M.sml_time(w, M.TIME_TIMESTAMP, now_s)
            w.uint(period_s, 4)
            w.list(1)
            w.octets(OBIS_LOAD_PROFILE)
            M.sml_time(w, M.TIME_TIMESTAMP, row["end"])
            w.uint(PROFILE_STATUS, 8)
            w.list(2)
            for name, value in ((OBIS_IMPORT, row["import_wh"]), (OBIS_EXPORT, row["export_wh"])):
                w.list(5)
                w.octets(name)
                w.fixed(0x60, 1, M.UNIT_WH)
                w.fixed(T_INT, 1, 0)
                w.fixed(T_INT, 8, value)
                w.absent()
            w.absent()  # rawdata
            w.absent()  # periodSignature
            M.end_message(w, start)
        if not rows:
            raise SmlError("no_entries", "no interval in %d..%d" % (begin_s, end_s), M.ATT_NO_ENTRIES)

    def _set_time(self, w, m, body):
        path = M.tree_path(body[3])
        if path != [OBIS_TIME]:
            raise SmlError("not_writable", "parameter %s" % bytes(path[-1]).hex(), M.ATT_NOT_WRITABLE)
        tree = body[4]
        if not isinstance(tree, list) or len(tree) != 3 or tree[0] != OBIS_TIME:
            raise SmlError("bad_field", "parameterTree for the time", M.ATT_BAD_RAW)
        value = tree[1]
        if not (isinstance(value, list) and len(value) == 2 and value[0] == 1 and isinstance(value[1], bytes)):
            raise SmlError("not_authenticated", "the time must come as an authenticated envelope",
                           M.ATT_NOT_AUTHORISED)
        admin = getattr(self.sml.meter, "admin", None)
        commands = getattr(admin, "commands", None)
        if commands is None:
            raise SmlError("no_keys", "no authenticated commands on this meter", M.ATT_NOT_AUTHORISED)
        from security import commands as C

        reply = commands.handle(value[1])  # None: no valid MAC (dropped without a word)
        if reply is None or C.parse(reply, C.MAX_REPLY_PAYLOAD).payload[:1] != bytes((C.OK,)):
            raise SmlError("time_refused", "the time command was refused", M.ATT_NOT_EXECUTED)
        M.attention_res(w, m.transaction_id, m.group, self.sml.server_id, M.ATT_OK, reply)

    # -- the port

    def _on_file(self, buf, length):
        self._answer = self.answer(buf, length)

    async def task(self, progress):
        buf = bytearray(_READ_BYTES)
        uart = self.uart
        while True:
            try:
                n = await rt.wait_for_ms(uart.read_some(buf), _IDLE_MS)
            except asyncio.TimeoutError:
                self.deframer.reset()
                progress()
                continue
            self.deframer.feed(buf, n, self._on_file)
            if self._answer is not None:
                answer, self._answer = self._answer, None
                await uart.write_all(answer)
            progress()
