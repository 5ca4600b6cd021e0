# The COSEM server: associations (public client 16, management client 1) and the xDLMS
# services GET (normal, with list, block transfer), SET and ACTION over a table of
# COSEM objects. handle(association, apdu) -> response view; the transports (HDLC,
# TCP wrapper) call it with one complete APDU at a time.
#
# Refusals are answers, never exceptions out of handle(): a malformed or unknown APDU
# gets an exception-response, a bad AARQ a rejecting AARE, an access the object or the
# association does not allow its data-access-result. Every refusal is counted.

import os
from micropython import const
from dlms import axdr as X
from dlms import acse
from dlms.axdr import Reader, Writer, DataError
from dlms.cosem import (CosemObject, Refused, READ, WRITE, NO, PUBLIC, MANAGEMENT, OBJECT_UNDEFINED,
                        READ_WRITE_DENIED, OTHER_REASON, TYPE_UNMATCHED, LONG_GET_ABORTED,
                        NO_LONG_GET_IN_PROGRESS, DATA_BLOCK_UNAVAILABLE, expect)
from dlms.security import CipherError, GLO_RESPONSE, GENERAL_GLO

_CIPHERED_RESPONSE = {0xC0: 0xCC, 0xC1: 0xCD, 0xC3: 0xCF}  # get, set, action -> glo-*-response

PUBLIC_SAP = const(16)
MANAGEMENT_SAP = const(1)
SERVER_MAX_PDU = const(1024)  # the largest APDU this server takes or sends
_BLOCK_OVERHEAD = const(48)  # GET-with-block header plus ciphering around one block

_GET_REQUEST = const(0xC0)
_SET_REQUEST = const(0xC1)
_ACTION_REQUEST = const(0xC3)
_GET_RESPONSE = const(0xC4)
_SET_RESPONSE = const(0xC5)
_ACTION_RESPONSE = const(0xC7)
_EXCEPTION_RESPONSE = const(0xD8)

_PUBLIC_CONFORMANCE = (acse.CONF_GET | acse.CONF_SELECTIVE_ACCESS | acse.CONF_BLOCK_GET
                       | acse.CONF_MULTIPLE_REFERENCES)
_MANAGEMENT_CONFORMANCE = _PUBLIC_CONFORMANCE | acse.CONF_SET | acse.CONF_ACTION | acse.CONF_GENERAL_PROTECTION

# exception-response: state-error, service-error
_STATE_NOT_ALLOWED = const(1)
_STATE_UNKNOWN = const(2)
_SERVICE_NOT_POSSIBLE = const(1)
_SERVICE_NOT_SUPPORTED = const(2)
_SERVICE_OTHER = const(3)
_SERVICE_DECIPHERING = const(5)
_SERVICE_INVOCATION_COUNTER = const(6)


class Association:
    """One client's association on one transport connection."""

    def __init__(self, sap):
        self.sap = sap
        self.level = MANAGEMENT if sap == MANAGEMENT_SAP else PUBLIC
        self.associated = False
        self.authenticated = False  # HLS finished (the management client), or not needed
        self.conformance = 0
        self.max_pdu = 0
        self.ciphered = False
        self.client_title = None
        self.challenge_to_client = None  # StoC
        self.challenge_from_client = None  # CtoS
        self.general = False  # the client ciphers with general-glo-ciphering
        self.long_get = None  # (iterator or None, block number, invoke id)
        self.out = Writer(256)  # the response APDU
        self.data = Writer(256)  # data of a GET response, before it is framed or split

    def release(self):
        self.associated = False
        self.authenticated = False
        self.long_get = None


class AssociationLN(CosemObject):
    """Class 15, version 1: the object list (with access rights) of the asking association,
    the partners, the context, the mechanism, the status; reply_to_HLS_authentication."""

    class_id = 15
    version = 1
    attributes = ((READ, READ), (READ, READ), (READ, READ), (READ, READ), (READ, READ), (READ, READ),
                  (NO, NO), (READ, READ), (READ, READ))
    methods = ((READ, READ),)

    def __init__(self, ln, server):
        super().__init__(ln)
        self.server = server

    def get_value(self, attr, w, selector, params, assoc):
        level = assoc.level
        if attr == 2:
            listed = [o for o in self.server.order if o.listed(level)]
            w.array(len(listed))
            for obj in listed:
                w.structure(4)
                w.integer(X.UINT16, obj.class_id)
                w.integer(X.UINT8, obj.version)
                w.octets(obj.ln)
                w.structure(2)
                w.array(len(obj.attributes))
                for k, modes in enumerate(obj.attributes):
                    w.structure(3)
                    w.integer(X.INT8, k + 1)
                    w.integer(X.ENUM, modes[level])
                    w.null()
                w.array(len(obj.methods))
                for k, modes in enumerate(obj.methods):
                    w.structure(2)
                    w.integer(X.INT8, k + 1)
                    w.integer(X.ENUM, 1 if modes[level] else 0)
        elif attr == 3:
            w.structure(2)
            w.integer(X.INT8, assoc.sap)
            w.integer(X.UINT16, 1)
        elif attr == 4:
            w.octets(b"\x60\x85\x74\x05\x08\x01" + bytes((acse.CONTEXT_LN_CIPHERED if assoc.ciphered
                                                           else acse.CONTEXT_LN,)))
        elif attr == 5:
            w.structure(6)
            w.bit_string(assoc.conformance, 24)
            w.integer(X.UINT16, SERVER_MAX_PDU)
            w.integer(X.UINT16, SERVER_MAX_PDU)
            w.integer(X.UINT8, acse.DLMS_VERSION)
            w.integer(X.INT8, 0)
            w.octets(b"")
        elif attr == 6:
            mech = acse.MECH_HLS_GMAC if assoc.level == MANAGEMENT else acse.MECH_NONE
            w.octets(b"\x60\x85\x74\x05\x08\x02" + bytes((mech,)))
        elif attr == 8:
            w.integer(X.ENUM, 2 if assoc.authenticated else 1)  # associated / pending
        else:
            w.octets(self.server.security_setup_ln)

    def action(self, method, param, w, assoc):
        # reply_to_HLS_authentication: f(StoC) = SC | IC | GMAC(SC | AK | StoC) under the
        # client's title; answered with f(CtoS) under the meter's title.
        server = self.server
        if assoc.level != MANAGEMENT or assoc.authenticated or assoc.challenge_to_client is None:
            raise Refused(READ_WRITE_DENIED)
        reply = expect(param, X.OCTET_STRING)
        sec = server.security
        if len(reply) != 17 or reply[0] != 0x10:
            server.refuse("hls_reply", assoc)
            raise Refused(OTHER_REASON)
        ic = int.from_bytes(reply[1:5], "big")
        expected = sec.gmac(assoc.client_title, ic, assoc.challenge_to_client)
        from crypto.cmac import equal

        if not equal(expected, reply[5:]):
            server.refuse("hls_failed", assoc)
            assoc.release()
            raise Refused(OTHER_REASON)
        assoc.authenticated = True
        my_ic = sec.next_ic()
        tag = sec.gmac(sec.system_title, my_ic, assoc.challenge_from_client)
        w.octets(bytes((0x10,)) + my_ic.to_bytes(4, "big") + tag)
        return True


class Server:
    def __init__(self, security=None, log=None, security_setup_ln=b"\x00\x00\x2b\x00\x00\xff"):
        self.objects = {}  # logical name -> object
        self.order = []  # the objects in the order they were added (the object list's order)
        self.security = security
        self.log = log
        self.security_setup_ln = security_setup_ln
        self.counts = {"requests": 0, "refused": 0}
        self.add(AssociationLN("0-0:40.0.0", self))

    def add(self, obj):
        self.objects[bytes(obj.ln)] = obj
        self.order.append(obj)
        return obj

    def refuse(self, reason, assoc=None):
        self.counts["refused"] += 1
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if self.log is not None:
            self.log.warn("dlms: refused %s (client %s)", reason, assoc.sap if assoc is not None else "?")

    # ---- entry point
    def handle(self, assoc, apdu):
        """The response to one request APDU (a memoryview of assoc.out), or None if the
        request needs no answer."""
        self.counts["requests"] += 1
        out = assoc.out
        out.reset()
        try:
            tag = apdu[0] if len(apdu) else -1
            if tag == acse.AARQ:
                self._aarq(assoc, apdu)
            elif tag == acse.RLRQ:
                self._rlrq(assoc, apdu)
            elif not assoc.associated:
                self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_NOT_POSSIBLE, "not_associated")
            elif tag in GLO_RESPONSE or tag == GENERAL_GLO:
                self._ciphered(assoc, apdu)
            elif assoc.ciphered:
                self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_NOT_POSSIBLE, "plain_in_ciphered")
            else:
                self._service(assoc, apdu)
        except (DataError, acse.AcseError, IndexError):
            out.reset()
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_OTHER, "malformed")
        except MemoryError:
            out.reset()
            assoc.long_get = None
            self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_NOT_POSSIBLE, "no_memory")
        except Exception as exc:  # a value the meter cannot encode, a store error: answer, keep the port
            out.reset()
            assoc.long_get = None
            if self.log is not None:
                self.log.error("dlms: request failed: %r", exc)
            self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_OTHER, "internal_error")
        return out.view()

    def _exception(self, assoc, state, service, reason):
        self.refuse(reason, assoc)
        assoc.out.reset()
        assoc.out.byte(_EXCEPTION_RESPONSE)
        assoc.out.byte(state)
        assoc.out.byte(service)

    # ---- association
    def _aarq(self, assoc, apdu):
        out = assoc.out
        try:
            a = acse.parse_aarq(apdu)
        except acse.AcseError:
            self.refuse("bad_aarq", assoc)
            acse.aare(out, acse.CONTEXT_LN, 1, acse.DIAG_NO_REASON)
            return
        assoc.release()
        management = assoc.level == MANAGEMENT
        want_context = acse.CONTEXT_LN_CIPHERED if management else acse.CONTEXT_LN
        if a.context != want_context:
            self.refuse("context", assoc)
            acse.aare(out, want_context, 1, acse.DIAG_CONTEXT_NOT_SUPPORTED)
            return
        if management:
            if self.security is None:
                self.refuse("no_keys", assoc)
                acse.aare(out, want_context, 1, acse.DIAG_NO_REASON)
                return
            if a.mechanism != acse.MECH_HLS_GMAC:
                self.refuse("mechanism", assoc)
                acse.aare(out, want_context, 1, acse.DIAG_MECH_NOT_RECOGNISED if a.mechanism else acse.DIAG_MECH_REQUIRED)
                return
            if a.calling_title is None or len(a.calling_title) != 8 or not a.calling_auth \
                    or not 8 <= len(a.calling_auth) <= 64:
                self.refuse("hls_fields", assoc)
                acse.aare(out, want_context, 1, acse.DIAG_AUTH_FAILURE)
                return
        elif a.mechanism != acse.MECH_NONE:
            self.refuse("mechanism", assoc)
            acse.aare(out, want_context, 1, acse.DIAG_MECH_NOT_RECOGNISED)
            return
        info = a.user_info
        if info is None:
            self.refuse("no_initiate", assoc)
            acse.aare(out, want_context, 1, acse.DIAG_NO_REASON)
            return
        if management:
            assoc.client_title = a.calling_title
            if info[0] != acse.GLO_INITIATE_REQUEST:
                self.refuse("plain_initiate", assoc)
                acse.aare(out, want_context, 1, acse.DIAG_NO_REASON)
                return
            try:
                info = self._decipher_body(assoc, info, 1)
            except CipherError as exc:
                self.refuse("initiate_" + exc.reason, assoc)
                acse.aare(out, want_context, 1, acse.DIAG_AUTH_FAILURE)
                return
        init = acse.parse_initiate(info)
        ours = _MANAGEMENT_CONFORMANCE if management else _PUBLIC_CONFORMANCE
        conformance = init.conformance & ours
        if init.max_pdu < 64:
            self.refuse("pdu_size", assoc)
            w = Writer(8)
            acse.confirmed_service_error_initiate(w, 3)
            acse.aare(out, want_context, 1, acse.DIAG_NO_REASON, bytes(w.view()))
            return
        if not conformance & acse.CONF_GET:
            self.refuse("conformance", assoc)
            w = Writer(8)
            acse.confirmed_service_error_initiate(w, 2)
            acse.aare(out, want_context, 1, acse.DIAG_NO_REASON, bytes(w.view()))
            return
        assoc.conformance = conformance
        assoc.max_pdu = min(init.max_pdu, SERVER_MAX_PDU)
        resp = Writer(32)
        acse.initiate_response(resp, conformance, SERVER_MAX_PDU)
        assoc.associated = True
        if not management:
            assoc.authenticated = True
            acse.aare(out, want_context, 0, acse.DIAG_NULL, bytes(resp.view()))
            return
        assoc.ciphered = True
        assoc.challenge_from_client = a.calling_auth
        assoc.challenge_to_client = os.urandom(16)
        sc, ic, body = self.security.encrypt(bytes(resp.view()))
        ciphered = Writer(64)
        ciphered.byte(acse.GLO_INITIATE_RESPONSE)
        ciphered.length(5 + len(body))
        ciphered.byte(sc)
        ciphered.u32(ic)
        ciphered.raw(body)
        acse.aare(out, want_context, 0, acse.DIAG_AUTH_REQUIRED, bytes(ciphered.view()), acse.MECH_HLS_GMAC,
                  self.security.system_title, assoc.challenge_to_client)

    def _rlrq(self, assoc, apdu):
        acse.parse_rlrq(apdu)
        assoc.release()
        acse.rlre(assoc.out)

    # ---- ciphering
    def _decipher_body(self, assoc, data, start):
        """Plaintext of <len> SC IC ciphertext tag at data[start:]."""
        r = Reader(data, start)
        k = r.length()
        if k != r.left() or k < 5:
            raise CipherError("header")
        sc = r.byte()
        ic = r.u32()
        return self.security.decrypt(sc, ic, assoc.client_title, memoryview(data)[r.pos:])

    def _ciphered(self, assoc, apdu):
        tag = apdu[0]
        try:
            if tag == GENERAL_GLO:
                r = Reader(apdu, 1)
                title = r.take(r.length())
                if assoc.client_title is not None and title != assoc.client_title:
                    raise CipherError("header")
                plain = self._decipher_body(assoc, apdu, r.pos)
                assoc.general = True
            else:
                plain = self._decipher_body(assoc, apdu, 1)
                assoc.general = False
        except CipherError as exc:
            self.refuse(exc.reason, assoc)
            service = _SERVICE_INVOCATION_COUNTER if exc.reason == "replay" else _SERVICE_DECIPHERING
            self._exception(assoc, _STATE_NOT_ALLOWED, service, exc.reason)
            return
        if not plain or plain[0] not in _CIPHERED_RESPONSE:
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_NOT_SUPPORTED, "unknown_service")
            return
        if not assoc.authenticated and not (plain[0] == _ACTION_REQUEST and self._is_hls_reply(plain)):
            self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_NOT_POSSIBLE, "not_authenticated")
            return
        self._service(assoc, plain)
        inner = bytes(assoc.out.view())
        if inner[0] == _EXCEPTION_RESPONSE:
            return  # exception-responses go back in the clear
        sc, ic, body = self.security.encrypt(inner)
        out = assoc.out
        out.reset()
        if assoc.general:
            out.byte(GENERAL_GLO)
            out.length(len(self.security.system_title))
            out.raw(self.security.system_title)
        else:
            out.byte(_CIPHERED_RESPONSE[plain[0]])
        out.length(5 + len(body))
        out.byte(sc)
        out.u32(ic)
        out.raw(body)

    def _is_hls_reply(self, plain):
        # action-request-normal on 0-0:40.0.0 (class 15) method 1
        return len(plain) >= 13 and plain[1] == 1 and plain[3:5] == b"\x00\x0f" and \
            plain[5:11] == b"\x00\x00\x28\x00\x00\xff" and plain[11] == 1

    # ---- services
    def _service(self, assoc, apdu):
        tag = apdu[0]
        if tag == _GET_REQUEST and assoc.conformance & acse.CONF_GET:
            self._get(assoc, apdu)
        elif tag == _SET_REQUEST and assoc.conformance & acse.CONF_SET:
            self._set(assoc, apdu)
        elif tag == _ACTION_REQUEST and (assoc.conformance & acse.CONF_ACTION or self._is_hls_reply(apdu)):
            self._action(assoc, apdu)
        elif tag in (_GET_REQUEST, _SET_REQUEST, _ACTION_REQUEST):
            self._exception(assoc, _STATE_NOT_ALLOWED, _SERVICE_NOT_SUPPORTED, "not_negotiated")
        else:
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_NOT_SUPPORTED, "unknown_service")

    def _descriptor(self, r):
        class_id = r.u16()
        ln = r.take(6)
        attr = r.unpack(">b", 1)
        return class_id, ln, attr

    def _selection(self, r):
        if r.byte():
            selector = r.byte()
            return selector, X.decode(r)
        return None, None

    def _object(self, assoc, class_id, ln):
        obj = self.objects.get(ln)
        if obj is None or obj.class_id != class_id or not obj.listed(assoc.level):
            raise Refused(OBJECT_UNDEFINED)
        return obj

    def _read(self, assoc, class_id, ln, attr, selector, params, w):
        """Write one attribute's value into w; returns a continuation iterator or None."""
        obj = self._object(assoc, class_id, ln)
        if not obj.attribute_mode(attr, assoc.level) & READ:
            raise Refused(READ_WRITE_DENIED)
        if selector is not None and not assoc.conformance & acse.CONF_SELECTIVE_ACCESS:
            raise Refused(READ_WRITE_DENIED)
        return obj.get(attr, w, selector, params, assoc)

    def _block_bytes(self, assoc):
        return assoc.max_pdu - _BLOCK_OVERHEAD

    def _get(self, assoc, apdu):
        r = Reader(apdu, 1)
        kind = r.byte()
        invoke = r.byte()
        out = assoc.out
        data = assoc.data
        if kind == 1:  # normal
            class_id, ln, attr = self._descriptor(r)
            selector, params = self._selection(r)
            if r.left():
                raise DataError("trailing bytes")
            assoc.long_get = None
            data.reset()
            try:
                more = self._read(assoc, class_id, ln, attr, selector, params, data)
            except Refused as exc:
                self._count_refusal(exc.code, assoc)
                out.raw(bytes((_GET_RESPONSE, 1, invoke, 1, exc.code)))
                return
            if self._fill(assoc, more) and data.n + 4 <= assoc.max_pdu:
                out.raw(bytes((_GET_RESPONSE, 1, invoke, 0)))
                out.raw(data.view())
                return
            self._next_block(assoc, invoke, 0, more)
        elif kind == 2:  # next block
            number = r.u32()
            if r.left():
                raise DataError("trailing bytes")
            state = assoc.long_get
            if state is None:
                self._count_refusal(NO_LONG_GET_IN_PROGRESS, assoc)
                self._block_error(assoc, invoke, number, NO_LONG_GET_IN_PROGRESS)
                return
            if number != state[1]:
                assoc.long_get = None
                self._count_refusal(DATA_BLOCK_UNAVAILABLE, assoc)
                self._block_error(assoc, invoke, number, LONG_GET_ABORTED)
                return
            self._next_block(assoc, invoke, number, state[0])
        elif kind == 3:  # with list
            count = r.length()
            if count > r.left() // 9:
                raise DataError("count beyond data")
            items = []
            for _ in range(count):
                class_id, ln, attr = self._descriptor(r)
                selector, params = self._selection(r)
                items.append((class_id, ln, attr, selector, params))
            if r.left():
                raise DataError("trailing bytes")
            assoc.long_get = None
            data.reset()
            data.length(count)
            for class_id, ln, attr, selector, params in items:
                mark = data.n
                data.byte(0)
                try:
                    more = self._read(assoc, class_id, ln, attr, selector, params, data)
                    if more is not None:
                        for _ in more:
                            pass
                except Refused as exc:
                    self._count_refusal(exc.code, assoc)
                    data.n = mark
                    data.byte(1)
                    data.byte(exc.code)
            if data.n + 3 <= assoc.max_pdu:
                out.raw(bytes((_GET_RESPONSE, 3, invoke)))
                out.raw(data.view())
                return
            self._next_block(assoc, invoke, 0, None)
        else:
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_NOT_SUPPORTED, "get_choice")

    def _count_refusal(self, code, assoc):
        self.refuse({OBJECT_UNDEFINED: "object_undefined", READ_WRITE_DENIED: "read_write_denied",
                     TYPE_UNMATCHED: "type_unmatched"}.get(code, "access_%d" % code), assoc)

    def _fill(self, assoc, more):
        """Run a long value's writer until a block's worth is buffered (or it is done)."""
        data = assoc.data
        limit = self._block_bytes(assoc)
        if more is None:
            return True
        while data.n < limit:
            try:
                next(more)
            except StopIteration:
                return True
        return False

    def _next_block(self, assoc, invoke, last_number, more):
        data = assoc.data
        done = self._fill(assoc, more)
        size = self._block_bytes(assoc)
        last = done and data.n <= size
        take = data.n if last else size
        number = last_number + 1
        out = assoc.out
        out.raw(bytes((_GET_RESPONSE, 2, invoke, 1 if last else 0)))
        out.u32(number)
        out.byte(0)  # raw-data
        out.length(take)
        out.raw(data.view(0, take))
        # Keep what is left for the next block at the start of the buffer.
        rest = data.n - take
        if rest:
            data.buf[0:rest] = data.buf[take: data.n]
        data.n = rest
        assoc.long_get = None if last else (None if done else more, number, invoke)

    def _block_error(self, assoc, invoke, number, code):
        out = assoc.out
        out.raw(bytes((_GET_RESPONSE, 2, invoke, 1)))
        out.u32(number)
        out.byte(1)
        out.byte(code)

    def _set(self, assoc, apdu):
        r = Reader(apdu, 1)
        kind = r.byte()
        invoke = r.byte()
        if kind != 1:
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_NOT_SUPPORTED, "set_choice")
            return
        class_id, ln, attr = self._descriptor(r)
        selector, _params = self._selection(r)
        value = X.decode(r)
        if r.left():
            raise DataError("trailing bytes")
        code = 0
        try:
            obj = self._object(assoc, class_id, ln)
            if not obj.attribute_mode(attr, assoc.level) & WRITE or selector is not None:
                raise Refused(READ_WRITE_DENIED)
            obj.set(attr, value, assoc)
        except Refused as exc:
            self._count_refusal(exc.code, assoc)
            code = exc.code
        assoc.out.raw(bytes((_SET_RESPONSE, 1, invoke, code)))

    def _action(self, assoc, apdu):
        r = Reader(apdu, 1)
        kind = r.byte()
        invoke = r.byte()
        if kind != 1:
            self._exception(assoc, _STATE_UNKNOWN, _SERVICE_NOT_SUPPORTED, "action_choice")
            return
        class_id = r.u16()
        ln = r.take(6)
        method = r.unpack(">b", 1)
        param = X.decode(r) if r.byte() else (X.NULL, None)
        if r.left():
            raise DataError("trailing bytes")
        data = assoc.data
        data.reset()
        code = 0
        has_data = False
        try:
            obj = self._object(assoc, class_id, ln)
            if not obj.method_mode(method, assoc.level):
                raise Refused(READ_WRITE_DENIED)
            has_data = obj.action(method, param, data, assoc)
        except Refused as exc:
            self._count_refusal(exc.code, assoc)
            code = exc.code
            has_data = False
        out = assoc.out
        out.raw(bytes((_ACTION_RESPONSE, 1, invoke, code)))
        if has_data:
            out.raw(b"\x01\x00")
            out.raw(data.view())
        else:
            out.byte(0)
