# The meter's administration task: authenticated commands (security/commands.py) over a
# transport, wake-up, and the boot-time records of the security logs.
#
# Transport on the host board: a TCP listener on admin.listen ("HOST:PORT", loopback in
# the simulation); each frame is a 2-byte big-endian length and one envelope, each answer
# the same (a wake-up, or a frame whose MAC fails, gets none). After an accepted wake-up
# the meter connects to admin.connect_to, sends a HELLO (an envelope under the admin
# key's reply MAC, with a counter of its own) and serves commands on that connection.
# On ESP32/RP2040 the same envelopes arrive over the MEP link and the LMN downlink
# (Commands.handle takes the bytes, whoever carried them); listen stays null there.

import asyncio
import struct
import rt
from store import Counter
from store.fs import StoreError
from security import commands as C
from security import keys as K
from security.keystore import KeyStoreError
from security.logs import Logs, LogError, LogFull, SystemLogSink

_POLL_MS = 250  # how often the task looks for a wake-up (and reports progress)
_READ_TIMEOUT_MS = 30000  # an idle connection is closed
_MAX_CONNECTIONS = 2
_MAX_FRAME = C.HEADER_BYTES + C.MAX_PAYLOAD + C.TAG_BYTES
CALIBRATION_FIELDS = ("v_per_count", "i_per_count", "period_ms")
DEFAULTS = {"listen": None, "connect_to": None, "max_age_s": C.DEFAULT_MAX_AGE_S}


def split_address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


class Admin:
    def __init__(self, hw, cfg, log, status=None, logs=None):
        self.hw = hw
        self.cfg = cfg
        self.log = log.tagged("admin")
        self.settings = cfg.get("admin") or DEFAULTS
        self.logs = logs if logs is not None else Logs(hw.storage_root, hw.clock)
        app_log = getattr(log, "log", log)  # the Log behind a tagged Logger
        if hasattr(app_log, "sinks") and not [s for s in app_log.sinks if isinstance(s, SystemLogSink)]:
            app_log.sinks.append(SystemLogSink(self.logs))  # warnings and errors into the system log
        self.commands = None
        self.woken = False
        self.connections = 0
        try:
            device_keys = K.open_device_keys(hw)
        except KeyStoreError as exc:
            self.log.error("no key store (%s): authenticated commands disabled", exc)
            return
        self.commands = C.Commands(device_keys, self.logs, hw.clock, hw.storage_root + "/security",
                                   self.settings["max_age_s"], on_wake=self._wake, status=status)
        self.commands.notify = self._rejected
        self._hello = Counter(hw.storage_root + "/security/hello-counter")

    def boot_records(self, version=""):
        """The system log's boot record, and a calibration record if the metrology's
        calibration differs from the last one recorded (every metrological change)."""
        keys = self.commands.keys if self.commands else None
        self.logs.event("boot", {"app": "meter", "version": version,
                                 "provisioned": bool(keys and keys.provisioned)})
        m = self.cfg.get("metrology") or {}
        now = {}
        samples = self.hw.samples
        for name in CALIBRATION_FIELDS:
            now[name] = m.get(name)
            if not now[name] and name != "period_ms" and samples is not None:
                now[name] = getattr(samples, name)  # 0 in the config: the board's constant is in use
        cal = self.logs.calibration
        last = cal.records(cal.last_seq - 1, 1) if cal.last_seq else []
        before = last[0][1] if last else None
        if before is not None and all(before.get(n) == now[n] for n in CALIBRATION_FIELDS):
            return
        try:
            cal.append("calibration", now)
            self.log.info("calibration recorded: %s", now)
        except LogFull:
            self.log.error("calibration log full: this change is not recorded")
        except (LogError, OSError) as exc:
            self.log.error("calibration not recorded: %s", exc)

    def _rejected(self, reason, fields):
        self.log.warn("command refused: %s (key %s, counter %s)", reason, fields.get("key"), fields.get("counter"))

    def _wake(self):
        self.woken = True

    async def _serve(self, reader, writer):
        """Frames in, answers out, until the peer closes or goes quiet."""
        if self.connections >= _MAX_CONNECTIONS:
            writer.close()
            await writer.wait_closed()
            return
        self.connections += 1
        try:
            while True:
                head = await rt.wait_for_ms(reader.readexactly(2), _READ_TIMEOUT_MS)
                length = head[0] << 8 | head[1]
                if length > _MAX_FRAME:
                    self.logs.event("rejected", {"reason": "oversize", "bytes": length})
                    break
                frame = await rt.wait_for_ms(reader.readexactly(length), _READ_TIMEOUT_MS)
                reply = self.commands.handle(frame)
                if reply is not None:
                    writer.write(struct.pack(">H", len(reply)) + reply)
                    await writer.drain()
        except (OSError, EOFError, asyncio.TimeoutError):
            pass
        finally:
            self.connections -= 1
            try:
                writer.close()
                await writer.wait_closed()
            except OSError:
                pass

    def hello(self):
        """The envelope the meter sends first on a connection it made after a wake-up."""
        keys = self.commands.keys
        key = keys.key(K.ADMIN, K.WAKE)
        env = C.Envelope(K.KEY_ID_OF[K.ADMIN], C.HELLO, self._hello.next(), self.hw.clock.time_s(),
                         self.cfg["meter_id"].encode(), C.FLAG_REPLY)
        return C.seal(key, env)

    async def _call_home(self):
        target = self.settings["connect_to"]
        if not target:
            self.log.warn("woken up, but no admin.connect_to configured")
            return
        host, port = split_address(target)
        try:
            reader, writer = await rt.wait_for_ms(asyncio.open_connection(host, port), 10000)
        except (OSError, asyncio.TimeoutError) as exc:
            self.logs.event("wake_failed", {"to": target, "error": str(exc)[:60]})
            return
        try:
            hello = self.hello()
        except (K.SecurityError, StoreError) as exc:
            self.log.error("cannot say hello: %s", exc)
            writer.close()
            return
        writer.write(struct.pack(">H", len(hello)) + hello)
        await writer.drain()
        self.logs.event("connected", {"to": target})
        await self._serve(reader, writer)

    async def task(self, progress):
        if self.commands is None:
            while True:  # nothing to serve; stay supervised and quiet
                await rt.sleep_ms(_POLL_MS * 4)
                progress()
        server = None
        listen = self.settings["listen"]
        if listen:
            host, port = split_address(listen)
            server = await asyncio.start_server(self._serve, host, port)
            self.log.info("admin commands on %s", listen)
        try:
            while True:
                await rt.sleep_ms(_POLL_MS)
                progress()
                if self.woken:
                    self.woken = False
                    asyncio.create_task(self._call_home())
        finally:
            if server is not None:
                server.close()
