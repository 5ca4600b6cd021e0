# SML messages: the envelope every message shares, the responses the meter sends and the
# parser for requests (with the refusal each fault gets).
#
#   SML_Message ::= list of 6: transactionId (octets), groupNo (u8), abortOnError (u8),
#                   messageBody (list of 2: tag u32, body), crc16 (u16), endOfSmlMsg (0x00)
#
# crc16 is CRC-16/X-25 over the message from its first byte (0x76) up to the crc16 field.
# Bodies (lists; "?" marks an optional field, sent as 0x01 when absent):
#   PublicOpen.Req   codepage?, clientId?, reqFileId, serverId?, username?, password?, smlVersion?
#   PublicOpen.Res   codepage?, clientId?, reqFileId, serverId, refTime?, smlVersion?
#   PublicClose.Req  globalSignature?          PublicClose.Res  globalSignature?
#   GetList.Req      clientId, serverId?, username?, password?, listName?
#   GetList.Res      clientId?, serverId, listName?, actSensorTime?, valList, listSignature?,
#                    actGatewayTime?
#   GetProfileList.Req  serverId?, username?, password?, withRawdata?, beginTime?, endTime?,
#                    parameterTreePath, object_List?, dasDetails?
#   GetProfileList.Res  serverId, actTime, regPeriod, parameterTreePath, valTime, status,
#                    period_List, rawdata?, periodSignature?
#   SetProcParameter.Req  serverId?, username?, password?, parameterTreePath, parameterTree
#   Attention.Res    serverId, attentionNo (6 octets), attentionMsg?, attentionDetails?
# SML_Time is a choice (list of 2): 1 secIndex (u32), 2 timestamp (u32, epoch seconds).
# SML_ListEntry: objName, status?, valTime?, unit?, scaler?, value, valueSignature?
# SML_PeriodEntry: objName, unit, scaler, value, valueSignature?
# SML_Tree: parameterName, parameterValue? (choice: 1 value, ... 4 time), child_List?

from micropython import const
import crc_x25 as C
from sml.codec import Parser, T_UINT, T_INT, T_OCTETS, T_LIST
from sml.errors import SmlError

OPEN_REQ = const(0x0100)
OPEN_RES = const(0x0101)
CLOSE_REQ = const(0x0200)
CLOSE_RES = const(0x0201)
GET_PROFILE_PACK_REQ = const(0x0300)
GET_PROFILE_LIST_REQ = const(0x0400)
GET_PROFILE_LIST_RES = const(0x0401)
GET_PROC_PARAMETER_REQ = const(0x0500)
SET_PROC_PARAMETER_REQ = const(0x0600)
GET_LIST_REQ = const(0x0700)
GET_LIST_RES = const(0x0701)
ATTENTION_RES = const(0xFF01)

# Attention numbers 81 81 C7 C7 FD/FE xx (the last two octets here).
ATT_OK = const(0xFD00)  # positive acknowledgement
ATT_ERROR = const(0xFE00)  # error, not specified
ATT_UNKNOWN_ID = const(0xFE01)  # unknown SML identifier (message type)
ATT_NOT_AUTHORISED = const(0xFE02)  # insufficient authentication
ATT_NO_SERVER = const(0xFE03)  # serverId not available here
ATT_NO_REQUEST = const(0xFE04)  # request not available
ATT_NOT_WRITABLE = const(0xFE05)  # a target attribute cannot be written
ATT_NOT_READABLE = const(0xFE06)  # a target attribute cannot be read
ATT_BAD_RAW = const(0xFE08)  # raw data cannot be interpreted
ATT_OUT_OF_RANGE = const(0xFE09)  # value out of range
ATT_NOT_EXECUTED = const(0xFE0A)  # request not executed
ATT_BAD_CRC = const(0xFE0B)  # checksum faulty
ATT_UNEXPECTED = const(0xFE0D)  # unexpected SML message
ATT_UNKNOWN_OBJECT = const(0xFE0E)  # unknown object in the profile
ATT_END_BEFORE_START = const(0xFE12)  # end limit before start limit
ATT_NO_ENTRIES = const(0xFE13)  # no entries in the requested range

# Units (DLMS/COSEM unit enumeration, as SML uses it).
UNIT_W = const(27)
UNIT_WH = const(30)
UNIT_A = const(33)
UNIT_V = const(35)
UNIT_HZ = const(44)

TIME_SEC_INDEX = const(1)
TIME_TIMESTAMP = const(2)

MESSAGE_FIELDS = const(6)


def obis(a, b, c, d, e, f=255):
    return bytes((a, b, c, d, e, f))


def attention_number(code):
    return bytes((0x81, 0x81, 0xC7, 0xC7, code >> 8, code & 0xFF))


def begin_message(w, transaction_id, group, tag):
    """Opens a message: everything up to its body's fields; returns where it starts."""
    start = w.n
    w.list(MESSAGE_FIELDS)
    if isinstance(transaction_id, int):
        w.counter_octets(transaction_id, 4)  # the push numbers its messages
    else:
        w.octets(transaction_id)  # an answer echoes the request's
    w.fixed(T_UINT, 1, group)
    w.fixed(T_UINT, 1, 0)  # abortOnError: continue
    w.list(2)
    w.fixed(T_UINT, 4, tag)
    return start


def end_message(w, start):
    """Closes a message begun at start: its CRC and the end-of-message byte."""
    crc = C.crc16(w.buf, start, w.n)
    w.byte(T_UINT | 3)
    w.byte(crc & 0xFF)
    w.byte(crc >> 8)
    w.end()


def sml_time(w, choice, value):
    w.list(2)
    w.fixed(T_UINT, 1, choice)
    w.fixed(T_UINT, 4, value)


def open_res(w, transaction_id, group, req_file_id, server_id, client_id=None):
    start = begin_message(w, transaction_id, group, OPEN_RES)
    w.list(6)
    w.absent()  # codepage
    w.octets(client_id)
    w.octets(req_file_id)
    w.octets(server_id)
    w.absent()  # refTime
    w.absent()  # smlVersion (1 by default)
    end_message(w, start)


def close_res(w, transaction_id, group):
    start = begin_message(w, transaction_id, group, CLOSE_RES)
    w.list(1)
    w.absent()  # globalSignature
    end_message(w, start)


def attention_res(w, transaction_id, group, server_id, code, text=None):
    start = begin_message(w, transaction_id, group, ATTENTION_RES)
    w.list(4)
    w.octets(server_id)
    w.octets(attention_number(code))
    w.octets(text)
    w.absent()  # attentionDetails
    end_message(w, start)


def list_entry(w, name, unit, scaler, kind, width, value, status=-1):
    """One SML_ListEntry with an integer value of `width` bytes (status -1: none)."""
    w.list(7)
    w.octets(name)
    if status < 0:
        w.absent()
    else:
        w.fixed(T_UINT, 4, status)
    w.absent()  # valTime
    w.fixed(T_UINT, 1, unit)
    w.fixed(T_INT, 1, scaler)
    w.fixed(kind, width, value)
    w.absent()  # valueSignature


def octets_entry(w, name, value):
    w.list(7)
    w.octets(name)
    w.absent()
    w.absent()
    w.absent()
    w.absent()
    w.octets(value)
    w.absent()


# -- requests in -----------------------------------------------------------------


class Message:
    __slots__ = ("transaction_id", "group", "abort", "tag", "body")

    def __init__(self, transaction_id, group, abort, tag, body):
        self.transaction_id = transaction_id
        self.group = group
        self.abort = abort
        self.tag = tag
        self.body = body


def _expect(value, kind, what, attention=ATT_BAD_RAW):
    if kind == T_LIST:
        ok = isinstance(value, list)
    elif kind == T_OCTETS:
        ok = isinstance(value, bytes)
    else:
        ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok:
        raise SmlError("bad_field", "%s has the wrong type" % what, attention)
    return value


def parse_message(buf, pos, end):
    """(Message, position after it) for the message at buf[pos]; SmlError if it is bad."""
    start = pos
    if buf[pos] != T_LIST | MESSAGE_FIELDS:
        raise SmlError("bad_message", "a message starts 0x%02x, not 0x76" % buf[pos], ATT_BAD_RAW)
    p = Parser(buf, pos + 1, end)
    transaction_id = p.value(1)
    group = p.value(1)
    abort = p.value(1)
    body = p.value(1)
    crc_at = p.pos
    crc_field = p.value(1)
    if p.pos >= end or buf[p.pos] != 0x00:
        raise SmlError("bad_message", "no end of message after the CRC", ATT_BAD_RAW)
    _expect(transaction_id, T_OCTETS, "transactionId")
    _expect(group, T_UINT, "groupNo")
    _expect(abort, T_UINT, "abortOnError")
    _expect(crc_field, T_UINT, "crc16")
    expected = C.crc16(buf, start, crc_at)
    if crc_field != ((expected & 0xFF) << 8 | expected >> 8):
        raise SmlError("bad_crc", "message CRC does not check", ATT_BAD_CRC)
    _expect(body, T_LIST, "messageBody")
    if len(body) != 2:
        raise SmlError("bad_field", "messageBody of %d fields" % len(body), ATT_BAD_RAW)
    tag = _expect(body[0], T_UINT, "message tag")
    return Message(transaction_id, group, abort, tag, body[1]), p.pos + 1


def parse_file(buf, length, max_messages=16):
    """The messages of a file's payload (transport removed); trailing zero padding ends it."""
    out = []
    pos = 0
    while pos < length and buf[pos] != 0x00:
        if len(out) >= max_messages:
            raise SmlError("too_many", "more than %d messages in a file" % max_messages, ATT_BAD_RAW)
        message, pos = parse_message(buf, pos, length)
        out.append(message)
    while pos < length:
        if buf[pos] != 0x00:
            raise SmlError("bad_message", "bytes after the padding", ATT_BAD_RAW)
        pos += 1
    return out


def fields(body, count, what):
    """A request body's fields, checked to be a list of `count` (refused otherwise)."""
    if not isinstance(body, list) or len(body) != count:
        raise SmlError("bad_field", "%s body is not a list of %d" % (what, count), ATT_BAD_RAW)
    return body


def time_value(value, what):
    """An SML_Time's seconds, with its choice: (choice, seconds); None stays None."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise SmlError("bad_field", "%s is no SML_Time" % what, ATT_BAD_RAW)
    choice, seconds = value
    if choice not in (TIME_SEC_INDEX, TIME_TIMESTAMP) or not isinstance(seconds, int) or isinstance(seconds, bool):
        raise SmlError("bad_field", "%s is no SML_Time" % what, ATT_BAD_RAW)
    return choice, seconds


def tree_path(value, what="parameterTreePath"):
    """A list of octet strings (SML_TreePath)."""
    if not isinstance(value, list) or not value:
        raise SmlError("bad_field", "%s is no tree path" % what, ATT_BAD_RAW)
    for item in value:
        _expect(item, T_OCTETS, what)
    return value



def server_id(manufacturer, serial, version=0, medium=1):
    """The 10-byte server id of DIN 43863-5: 0x0A, medium (1 electricity), the three-letter
    manufacturer (FLAG), the fabrication block (version), the serial number (8 digits)
    as a 4-byte big-endian number; shown by readers as "1 QQQ00 1234 5678"."""
    serial = int(serial)
    if not 0 <= serial <= 99999999 or len(manufacturer) != 3:
        raise ValueError("server id needs a 3-letter manufacturer and an 8-digit serial")
    return bytes((0x0A, medium)) + manufacturer.encode() + bytes((version & 0xFF,)) + \
        bytes(((serial >> 24) & 0xFF, (serial >> 16) & 0xFF, (serial >> 8) & 0xFF, serial & 0xFF))
