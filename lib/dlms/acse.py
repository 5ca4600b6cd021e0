# ACSE for DLMS (IEC 62056-5-3): the AARQ a client opens an association with, the AARE
# answer, RLRQ/RLRE to release it, and the xDLMS InitiateRequest/Response they carry.
# BER here (tags, lengths) is the small subset these APDUs use.

from micropython import const
from dlms.axdr import Reader, DataError

AARQ = const(0x60)
AARE = const(0x61)
RLRQ = const(0x62)
RLRE = const(0x63)
GLO_INITIATE_REQUEST = const(0x21)
GLO_INITIATE_RESPONSE = const(0x28)

# Application context names: 2.16.756.5.8.1.x
CONTEXT_LN = const(1)
CONTEXT_LN_CIPHERED = const(3)
_OID_PREFIX = b"\x60\x85\x74\x05\x08"
# Authentication mechanism names: 2.16.756.5.8.2.x
MECH_NONE = const(0)
MECH_LLS = const(1)
MECH_HLS_GMAC = const(5)

# Result source diagnostics (acse-service-user).
DIAG_NULL = const(0)
DIAG_NO_REASON = const(1)
DIAG_CONTEXT_NOT_SUPPORTED = const(2)
DIAG_MECH_NOT_RECOGNISED = const(11)
DIAG_MECH_REQUIRED = const(12)
DIAG_AUTH_FAILURE = const(13)
DIAG_AUTH_REQUIRED = const(14)

# Conformance block bits (24-bit, bit 0 is the most significant).
CONF_GENERAL_PROTECTION = const(1 << 22)
CONF_BLOCK_GET = const(1 << 12)
CONF_MULTIPLE_REFERENCES = const(1 << 9)
CONF_GET = const(1 << 4)
CONF_SET = const(1 << 3)
CONF_SELECTIVE_ACCESS = const(1 << 2)
CONF_ACTION = const(1 << 0)
DLMS_VERSION = const(6)
VAA_NAME_LN = const(0x0007)


class AcseError(ValueError):
    pass


def _oid_last(value, kind):
    # 60 85 74 05 08 <kind> <x>
    if len(value) != 7 or value[:5] != _OID_PREFIX or value[5] != kind:
        raise AcseError("object identifier")
    return value[6]


class Aarq:
    """The fields of an AARQ the server acts on."""

    def __init__(self):
        self.context = None
        self.calling_title = None
        self.mechanism = MECH_NONE
        self.calling_auth = None
        self.user_info = None  # the InitiateRequest, or a glo-initiate-request, as bytes


def parse_aarq(data):
    r = Reader(data)
    try:
        if r.byte() != AARQ:
            raise AcseError("not an AARQ")
        end = r.length()
        end += r.pos
        if end != r.end:
            raise AcseError("AARQ length")
        a = Aarq()
        while r.pos < end:
            tag = r.byte()
            length = r.length()
            value = r.take(length)
            if tag == 0xA1:  # application-context-name: 06 07 <oid>
                if len(value) < 2 or value[0] != 0x06 or value[1] != len(value) - 2:
                    raise AcseError("context name")
                a.context = _oid_last(value[2:], 1)
            elif tag == 0xA6:  # calling-AP-title: 04 len title
                if len(value) < 2 or value[0] != 0x04 or value[1] != len(value) - 2:
                    raise AcseError("calling AP title")
                a.calling_title = value[2:]
            elif tag == 0x8B:  # mechanism-name (implicit OID)
                a.mechanism = _oid_last(value, 2)
            elif tag == 0xAC:  # calling-authentication-value: 80 len value
                if len(value) < 2 or value[0] != 0x80 or value[1] != len(value) - 2:
                    raise AcseError("authentication value")
                a.calling_auth = value[2:]
            elif tag == 0xBE:  # user-information: 04 len <xDLMS APDU>
                if len(value) < 2 or value[0] != 0x04:
                    raise AcseError("user information")
                inner = Reader(value, 1)
                k = inner.length()
                if k != inner.left():
                    raise AcseError("user information length")
                a.user_info = value[inner.pos:]
            # 0x80 protocol version, 0x8A acse requirements and the rest: nothing to act on
        return a
    except DataError as exc:
        raise AcseError(str(exc))


class Initiate:
    def __init__(self, conformance, max_pdu, dedicated_key=None):
        self.conformance = conformance
        self.max_pdu = max_pdu
        self.dedicated_key = dedicated_key


def parse_initiate(data):
    """An xDLMS InitiateRequest (tag 01)."""
    r = Reader(data)
    try:
        if r.byte() != 0x01:
            raise AcseError("not an InitiateRequest")
        key = None
        if r.byte():
            key = r.take(r.byte())
        if r.byte():
            r.byte()  # response-allowed
        if r.byte():
            r.byte()  # proposed quality of service
        if r.byte() != DLMS_VERSION:
            raise AcseError("dlms version")
        if r.take(4) != b"\x5f\x1f\x04\x00":
            raise AcseError("conformance")
        c = r.take(3)
        conformance = (c[0] << 16) | (c[1] << 8) | c[2]
        max_pdu = r.u16()
        if r.left():
            raise AcseError("trailing bytes")
        return Initiate(conformance, max_pdu, key)
    except DataError as exc:
        raise AcseError(str(exc))


def initiate_response(w, conformance, max_pdu):
    w.byte(0x08)
    w.byte(0x00)  # negotiated quality of service absent
    w.byte(DLMS_VERSION)
    w.raw(b"\x5f\x1f\x04\x00")
    w.byte((conformance >> 16) & 0xFF)
    w.byte((conformance >> 8) & 0xFF)
    w.byte(conformance & 0xFF)
    w.u16(max_pdu)
    w.u16(VAA_NAME_LN)


def confirmed_service_error_initiate(w, code):
    """ConfirmedServiceError: initiateError, initiate (06), code (1 dlms-version-too-low,
    2 incompatible-conformance, 3 pdu-size-too-short, 4 refused-by-the-VDE-Handler)."""
    w.raw(b"\x0e\x01\x06")
    w.byte(code)


def _tlv(w, tag, body):
    w.byte(tag)
    w.byte(len(body))
    w.raw(body)


def aare(w, context, result, diagnostic, user_info=b"", mechanism=None, responding_title=None,
         server_challenge=None):
    """Write an AARE. user_info: the encoded InitiateResponse (or its ciphered form) or a
    ConfirmedServiceError."""
    body = bytearray()
    body += b"\xa1\x09\x06\x07" + _OID_PREFIX + bytes((1, context))
    body += bytes((0xA2, 3, 0x02, 1, result))
    body += bytes((0xA3, 5, 0xA1, 3, 0x02, 1, diagnostic))
    if responding_title is not None:
        body += bytes((0xA4, len(responding_title) + 2, 0x04, len(responding_title))) + responding_title
    if mechanism is not None and mechanism != MECH_NONE:
        body += b"\x88\x02\x07\x80"
        body += b"\x89\x07" + _OID_PREFIX + bytes((2, mechanism))
    if server_challenge is not None:
        body += bytes((0xAA, len(server_challenge) + 2, 0x80, len(server_challenge))) + server_challenge
    if user_info:
        body += bytes((0xBE, len(user_info) + 2, 0x04, len(user_info))) + user_info
    if len(body) > 0x7F:
        w.byte(AARE)
        w.byte(0x81)
        w.byte(len(body))
    else:
        w.byte(AARE)
        w.byte(len(body))
    w.raw(body)


def parse_rlrq(data):
    """The RLRQ's user information (bytes) if it carries one, else None."""
    r = Reader(data)
    try:
        if r.byte() != RLRQ:
            raise AcseError("not an RLRQ")
        end = r.length() + r.pos
        if end != r.end:
            raise AcseError("RLRQ length")
        info = None
        while r.pos < end:
            tag = r.byte()
            value = r.take(r.length())
            if tag == 0xBE and len(value) >= 2 and value[0] == 0x04:
                info = value[2:]
        return info
    except DataError as exc:
        raise AcseError(str(exc))


def rlre(w, user_info=b""):
    if user_info:
        body = b"\x80\x01\x00" + bytes((0xBE, len(user_info) + 2, 0x04, len(user_info))) + user_info
    else:
        body = b"\x80\x01\x00"
    w.byte(RLRE)
    w.byte(len(body))
    w.raw(body)
