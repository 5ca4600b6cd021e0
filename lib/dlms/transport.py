# The two ways to reach the COSEM server: HDLC on a serial port (any object with the
# hardware contract's async read_some/write_all) and the TCP wrapper (asyncio streams).
# Each connection gets its own Association; the server's objects are shared.

import asyncio
import rt
from micropython import const
from dlms.hdlc import HdlcServer
from dlms.server import Association, SERVER_MAX_PDU, PUBLIC_SAP, MANAGEMENT_SAP
from dlms import wrapper

INTER_OCTET_MS = const(1000)  # a frame's bytes further apart than this: the frame is dropped
_SAPS = (PUBLIC_SAP, MANAGEMENT_SAP)


class HdlcPort:
    """One serial port: the HDLC link and the association of the client on it."""

    def __init__(self, server, uart, physical=None, inactivity_ms=120000, max_info=None, progress=None,
                 mode_e=None, max_window=7):
        self.server = server
        self.uart = uart
        self.assoc = None
        self.mode_e = mode_e  # (manufacturer, identification): an IEC 62056-21 mode E opening first
        self._opened = False
        kwargs = {} if max_info is None else {"max_info": max_info}
        self.link = HdlcServer(self._apdu, physical=physical, inactivity_ms=inactivity_ms,
                               on_disconnect=self._disconnected, max_window=max_window, **kwargs)
        self.progress = progress

    def _apdu(self, apdu, sap):
        if sap not in _SAPS:
            self.server.refuse("unknown_client")
            return None
        if self.assoc is None or self.assoc.sap != sap:
            self.assoc = Association(sap)
        return self.server.handle(self.assoc, apdu)

    def _disconnected(self):
        if self.assoc is not None:
            self.assoc.release()
        self.assoc = None
        self._opened = False  # a mode E port goes back to 300 baud for the next sign-on

    async def run(self):
        buf = bytearray(64)
        link = self.link
        uart = self.uart
        idle_ms = 0
        while True:
            if self.mode_e is not None and not self._opened:
                from dlms.mode_e import open_hdlc

                self._opened = await open_hdlc(uart, self.mode_e[0], self.mode_e[1], counts=link.counts)
                idle_ms = 0
                if self.progress is not None:
                    self.progress()
                continue
            wait_ms = INTER_OCTET_MS if link.partial() else link.inactivity_ms - idle_ms
            try:
                n = await rt.wait_for_ms(uart.read_some(buf), max(wait_ms, 1))
            except asyncio.TimeoutError:
                if link.partial():
                    link.abandon_partial()
                    idle_ms += INTER_OCTET_MS
                else:
                    link.timeout()
                    idle_ms = 0
                if self.progress is not None:
                    self.progress()
                continue
            idle_ms = 0
            link.feed(memoryview(buf)[:n])
            if link.out.n:
                await uart.write_all(link.out.view())
                link.out.reset()
            if self.progress is not None:
                self.progress()


MAX_TCP_CLIENTS = const(2)  # each holds an association and its buffers


async def serve_wrapper_client(server, reader, writer, counts, inactivity_ms=120000):
    """One TCP connection: APDUs in wrappers until the client closes, sends garbage or
    stays silent for inactivity_ms."""
    assoc = None
    head = bytearray(wrapper.HEADER_BYTES)
    try:
        while True:
            try:
                hdr = await rt.wait_for_ms(reader.readexactly(wrapper.HEADER_BYTES), inactivity_ms)
            except asyncio.TimeoutError:
                counts["tcp_timeouts"] = counts.get("tcp_timeouts", 0) + 1
                break
            try:
                src, dst, length = wrapper.parse_header(hdr, SERVER_MAX_PDU)
            except wrapper.WrapperError:
                server.refuse("bad_wrapper")
                break  # the stream cannot be resynchronised: close it
            apdu = await reader.readexactly(length)
            if dst != 1 or src not in _SAPS:
                server.refuse("unknown_client")
                continue
            if assoc is None or assoc.sap != src:
                assoc = Association(src)
            response = server.handle(assoc, memoryview(apdu))
            if response is None or not len(response):
                continue
            # One write: a header sent apart from its APDU meets Nagle and the client's delayed
            # ACK (about 40 ms a response on Linux).
            writer.write(bytes(wrapper.header(dst, src, len(response), head)) + bytes(response))
            await writer.drain()
            counts["apdus"] += 1
    except (EOFError, OSError):
        pass
    finally:
        if assoc is not None:
            assoc.release()
        writer.close()
        try:
            await writer.wait_closed()
        except OSError:
            pass


async def start_wrapper(server, host, port, counts, inactivity_ms=120000):
    active = [0]

    async def client(reader, writer):
        counts["connections"] += 1
        if active[0] >= MAX_TCP_CLIENTS:
            server.refuse("tcp_busy")
            writer.close()
            await writer.wait_closed()  # (MicroPython closes the socket here)
            return
        active[0] += 1
        try:
            await serve_wrapper_client(server, reader, writer, counts, inactivity_ms)
        finally:
            active[0] -= 1

    return await asyncio.start_server(client, host, port)
