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
#
# Slots: at most _MAX_CONNECTIONS sessions at once, the call-back's included. A connection
# must deliver an authentic frame (its MAC checks) within first_frame_ms of being accepted,
# or it is closed; one frame that is not authentic closes it too. A new connection that
# finds every slot taken evicts the oldest session that has not authenticated yet, so idle
# or garbage connections can hold the port for at most first_frame_ms and can never keep
# out an authenticated exchange. An authenticated session is closed after idle_ms without
# a frame. Everything refused here is counted and logged through Commands.reject (the
# untrusted log's limiter).

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
_FIRST_FRAME_MS = 2000  # a new connection's deadline for its first authentic frame (tick clock)
_IDLE_MS = 30000  # an authenticated connection quiet this long is closed
_MAX_CONNECTIONS = 2
_MAX_FRAME = C.HEADER_BYTES + C.MAX_PAYLOAD + C.TAG_BYTES
CALIBRATION_FIELDS = ("v_per_count", "i_per_count", "period_ms")
DEFAULTS = {"listen": None, "connect_to": None, "max_age_s": C.DEFAULT_MAX_AGE_S}


def split_address(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


class _Session:
    """One connection in a slot: trusted once a frame passed its MAC check (or the meter
    dialled it after a wake-up)."""

    def __init__(self, task, trusted, opened_ms):
        self.task = task
        self.trusted = trusted
        self.opened_ms = opened_ms


class Admin:
    def __init__(self, hw, cfg, log, status=None, logs=None):
        self.hw = hw
        self.cfg = cfg
        self.log = log.tagged("admin")
        self.settings = cfg.get("admin") or DEFAULTS
        self.logs = logs if logs is not None else Logs(hw.storage_root, hw.clock)
        app_log = getattr(log, "log", log)  # the Log behind a tagged Logger
        if hasattr(app_log, "sinks") and not [s for s in app_log.sinks if isinstance(s, SystemLogSink)]:
            app_log.sinks.append(SystemLogSink(self.logs))  # errors: system log; warnings: untrusted log
        self.commands = None
        self.woken = False
        self.first_frame_ms = _FIRST_FRAME_MS
        self.idle_ms = _IDLE_MS
        self.max_connections = _MAX_CONNECTIONS
        self._sessions = []
        self.listening = False  # the TCP listener is up (tests wait for it)
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

    @property
    def connections(self):
        return len(self._sessions)

    def _admit(self, trusted):
        """A slot for a new connection (evicting the oldest untrusted session if they are
        all taken), or None when every slot holds a trusted session."""
        if len(self._sessions) >= self.max_connections:
            oldest = None
            for s in self._sessions:
                if not s.trusted and (oldest is None or rt.ticks_diff(s.opened_ms, oldest.opened_ms) < 0):
                    oldest = s
            if oldest is None:
                self.commands.reject("busy", None, "every admin slot holds an authenticated session")
                return None
            self._sessions.remove(oldest)
            oldest.task.cancel()
            self.commands.reject("evicted", None, "unauthenticated for %d ms" % rt.ticks_diff(
                rt.ticks_ms(), oldest.opened_ms))
        session = _Session(asyncio.current_task(), trusted, rt.ticks_ms())
        self._sessions.append(session)
        return session

    def _wait_ms(self, session):
        """How long the next read may take: the first-frame deadline until the session is
        trusted (it does not move with garbage), then the idle timeout."""
        if session.trusted:
            return self.idle_ms
        left = rt.ticks_diff(rt.ticks_add(session.opened_ms, self.first_frame_ms), rt.ticks_ms())
        if left <= 0:
            raise asyncio.TimeoutError
        return left

    async def _serve(self, reader, writer, trusted=False):
        """Frames in, answers out, until the peer closes, goes quiet or sends nothing valid."""
        session = self._admit(trusted)
        if session is None:
            await self._close(writer)
            return
        commands = self.commands
        try:
            while True:
                head = await rt.wait_for_ms(reader.readexactly(2), self._wait_ms(session))
                length = head[0] << 8 | head[1]
                if length > _MAX_FRAME:
                    commands.reject("oversize", None, "frame of %d bytes" % length)
                    break
                frame = await rt.wait_for_ms(reader.readexactly(length), self._wait_ms(session))
                reply = commands.handle(frame)
                if commands.authentic:
                    session.trusted = True
                elif not session.trusted:
                    break  # a stranger's frame that is not authentic: free the slot now
                if reply is not None:
                    writer.write(struct.pack(">H", len(reply)) + reply)
                    await writer.drain()
        except asyncio.TimeoutError:
            if not session.trusted:
                commands.reject("no_frame", None, "no authentic frame within %d ms" % self.first_frame_ms)
        except (OSError, EOFError):
            pass
        finally:
            if session in self._sessions:
                self._sessions.remove(session)
            await self._close(writer)

    async def _close(self, writer):
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
        await self._serve(reader, writer, True)  # the meter dialled its own head-end: trusted

    async def task(self, progress):
        if self.commands is None:
            while True:  # nothing to serve; stay supervised and quiet
                await rt.sleep_ms(_POLL_MS * 4)
                self.logs.limiter.flush()
                progress()
        server = None
        listen = self.settings["listen"]
        if listen:
            host, port = split_address(listen)
            server = await asyncio.start_server(self._serve, host, port)
            self.listening = True
            self.log.info("admin commands on %s", listen)
        try:
            while True:
                await rt.sleep_ms(_POLL_MS)
                self.logs.limiter.flush()  # the summary of what a flood had suppressed
                progress()
                if self.woken:
                    self.woken = False
                    asyncio.create_task(self._call_home())
        finally:
            self.listening = False
            if server is not None:
                server.close()
