# The unmodified Gurux client (gurux-dlms, GXDLMSClient) over a TCP socket (the wrapper)
# or a pty's file descriptor (HDLC; no pyserial, so no DTR a pty would refuse), driven
# the way Gurux's own reader example drives it: send a request, feed what arrives into
# getData() until the reply is whole, ask for more while the reply says there is more.
# Test tooling only (CPython); firmware never imports it.

import os
import select
import socket
import time
from gurux_dlms import GXDLMSClient, GXReplyData, GXByteBuffer, GXDLMSException
from gurux_dlms.enums import InterfaceType, Authentication, Security
from gurux_dlms.secure import GXDLMSSecureClient


class _SocketIO:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)

    def send(self, data):
        self.sock.sendall(bytes(data))

    def recv(self, timeout_s):
        self.sock.settimeout(timeout_s)
        data = self.sock.recv(4096)
        if not data:
            raise EOFError("meter closed the connection")
        return data

    def close(self):
        self.sock.close()


class _FdIO:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)

    def send(self, data):
        os.write(self.fd, bytes(data))

    def recv(self, timeout_s):
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        if not ready:
            raise TimeoutError("no answer from the meter in %s s" % timeout_s)
        return os.read(self.fd, 4096)

    def close(self):
        os.close(self.fd)


class GuruxReader:
    """tcp_port or pty path; client 16 (public) or 1 with HLS-GMAC and suite 0 keys."""

    def __init__(self, tcp_port=None, pty=None, client=16, keys=None, title=b"GRX12345", physical=None,
                 invocation_counter=1, timeout_s=20):
        hdlc = pty is not None
        kind = InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER
        server = 1 if physical is None else GXDLMSClient.getServerAddress(1, physical)
        if keys is None:
            self.client = GXDLMSClient(True, client, server, Authentication.NONE, None, kind)
        else:
            self.client = GXDLMSSecureClient(True, client, server, Authentication.HIGH_GMAC, None, kind)
            c = self.client.ciphering
            c.security = Security.AUTHENTICATION_ENCRYPTION
            c.systemTitle = title
            c.blockCipherKey = keys[0]
            c.authenticationKey = keys[1]
            c.invocationCounter = invocation_counter
        self.hdlc = hdlc
        self.io = _FdIO(pty) if hdlc else _SocketIO(tcp_port)
        self.timeout_s = timeout_s
        self._rx = GXByteBuffer()

    def _packet(self, data, reply):
        notify = GXReplyData()
        reply.error = 0
        if data is not None:
            self.io.send(data)
        # Frames that arrived behind the one getData() took (a window of several) stay
        # in self._rx for the next call, as a serial reader would still find them queued.
        buf = self._rx
        deadline = time.monotonic() + self.timeout_s
        while True:
            if buf.available() and self.client.getData(buf, reply, notify):
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("reply incomplete after %s s: %s" % (self.timeout_s, buf))
            buf.set(self.io.recv(left))
        buf.trim()
        if reply.error != 0:
            raise GXDLMSException(reply.error)

    def _block(self, data, reply):
        if isinstance(data, list):
            for item in data:
                reply.clear()
                self._block(item, reply)
            return
        self._packet(data, reply)
        while reply.isMoreData():
            self._packet(None if reply.isStreaming() else self.client.receiverReady(reply), reply)

    def connect(self):
        reply = GXReplyData()
        if self.hdlc:
            self._packet(self.client.snrmRequest(), reply)
            self.client.parseUAResponse(reply.data)
            reply.clear()
        self._block(self.client.aarqRequest(), reply)
        self.client.parseAareResponse(reply.data)
        reply.clear()
        if self.client.getIsAuthenticationRequired():
            for request in self.client.getApplicationAssociationRequest():
                self._packet(request, reply)
                self.client.parseApplicationAssociationResponse(reply.data)
                reply.clear()

    def read(self, obj, attr):
        reply = GXReplyData()
        self._block(self.client.read(obj, attr), reply)
        return self.client.updateValue(obj, attr, reply.value)

    def read_list(self, items):
        reply = GXReplyData()
        values = []
        for request in self.client.readList(items):
            reply.clear()
            self._block(request, reply)
            values.extend(reply.value)
        self.client.updateValues(items, values)
        return values

    def write(self, obj, attr):
        reply = GXReplyData()
        self._block(self.client.write(obj, attr), reply)

    def method(self, obj, index, data, type_):
        reply = GXReplyData()
        self._block(self.client.method(obj, index, data, type_), reply)
        return reply.value

    def rows_by_range(self, pg, start, end):
        reply = GXReplyData()
        self._block(self.client.readRowsByRange(pg, start, end), reply)
        self.client.updateValue(pg, 2, reply.value)
        return pg.buffer

    def rows_by_entry(self, pg, index, count):
        reply = GXReplyData()
        self._block(self.client.readRowsByEntry(pg, index, count), reply)
        self.client.updateValue(pg, 2, reply.value)
        return pg.buffer

    def objects(self):
        reply = GXReplyData()
        self._block(self.client.getObjectsRequest(), reply)
        return self.client.parseObjects(reply.data, True, False)

    def close(self):
        try:
            reply = GXReplyData()
            try:
                self._block(self.client.releaseRequest(), reply)
            except (GXDLMSException, TimeoutError, EOFError):
                pass
            if self.hdlc:
                reply.clear()
                self._packet(self.client.disconnectRequest(), reply)
        finally:
            self.io.close()
