# The radio air of the simulation: a loopback TCP hub every telegram goes through, and the
# head-end (tools/headend.py) listening on it.

import asyncio
import json
import os


class AirHub:
    """The radio air: a loopback TCP hub. Each frame is a 2-byte big-endian length + bytes.

    Every frame is written to telegrams.hex and passed on to every other client (the
    head-end, once there is one). A client that does not read (a meter's radio that
    only sends) gets frames dropped once its send buffer holds MAX_BUFFERED_BYTES,
    so the hub's memory stays bounded.
    """

    MAX_BUFFERED_BYTES = 64 * 1024

    def __init__(self, outputs, headend=None):
        self.outputs = outputs
        self.headend = headend  # a tools/headend.py HeadEnd that hears every frame, or None
        self.clients = set()
        self.frames = 0
        self.dropped = 0
        self.port = None
        self.server = None

    async def start(self):
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader, writer):
        self.clients.add(writer)
        try:
            while True:
                header = await reader.readexactly(2)
                frame = await reader.readexactly(int.from_bytes(header, "big"))
                self.frames += 1
                self.outputs.telegrams.write(frame.hex().upper() + "\n")
                self.outputs.telegrams.flush()
                if self.headend is not None:
                    self.headend.hear(frame)
                for other in list(self.clients):
                    if other is writer:
                        continue
                    if other.transport.get_write_buffer_size() > self.MAX_BUFFERED_BYTES:
                        self.dropped += 1
                    else:
                        other.write(header + frame)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.clients.discard(writer)
            writer.close()

    def close(self):
        if self.server:
            self.server.close()


class SimHeadEnd:
    """The head-end on the air hub: accepted telegrams to headend.jsonl, rejections as events."""

    def __init__(self, outputs, keys_path):
        from headend import HeadEnd, load_keys

        self.outputs = outputs
        self.headend = HeadEnd(load_keys(keys_path), os.path.join(outputs.dir, "headend-state.json"))
        self.file = open(os.path.join(outputs.dir, "headend.jsonl"), "a")

    def hear(self, frame):
        try:
            self.file.write(json.dumps(self.headend.receive(frame)) + "\n")
            self.file.flush()
        except ValueError as exc:  # WMBusError: counted by the head-end, shown as an event
            self.outputs.event("headend", {"kind": "log", "level": "warn", "tag": "headend",
                                           "msg": "telegram rejected: %s" % exc})

    def close(self):
        self.file.close()
