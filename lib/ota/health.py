# The OTA task: confirms a trial version once the application is healthy, reverts one that
# is not, logs what the boot selector did, and serves the update port (if configured).
#
# Healthy: every other supervised task running, never restarted, not stalled, for confirm_s
# seconds in a row (real time). A trial version not confirmed within trial_s is reverted and
# the board reset; one that crashes before that is reverted by boot.py after max_boots boots.

import asyncio
import rt
from ota import slots

# The receiver, the protocol and the verifier are imported only when an update arrives:
# at boot this task needs the state record alone (heap matters more than import time here).

_POLL_MS = 1000


def healthy(statuses, own_name):
    for name in statuses:
        if name == own_name:
            continue
        s = statuses[name]
        if s["restarts"] or s["last_error"] is not None or s["stalled"] or not s["running"]:
            return False
    return True


class OtaService:
    def __init__(self, hw, cfg, supervisor, log, name="ota", system_log=None):
        self.hw = hw
        self.system_log = system_log  # the app's (security.logs), so the log has one writer
        self.root = hw.storage_root
        self.cfg = cfg["ota"]
        self.supervisor = supervisor
        self.log = log.tagged("ota")
        self.name = name
        self._receiver = None
        self.server = None
        self.poll_ms = _POLL_MS
        self.log_failures = 0  # events the system log did not take (the receiver counts its own)

    @property
    def receiver(self):
        if self._receiver is None:
            from ota.receiver import Receiver

            self._receiver = Receiver(self.root, self.hw.name, self.hw.clock, self.cfg["max_boots"])
            self._receiver.notify = self._notify
            self._receiver.system_log = self.system_log
        return self._receiver

    def _notify(self, fields):
        event = fields["event"]
        if event == "refused":
            self.log.warn("update refused: %s %s (version %s)", fields["reason"], fields["detail"], fields["version"])
        elif event in ("log-failed", "resume-dropped"):
            self.log.error("update %s: %s", event, fields["detail"])
        else:
            self.log.info("update %s: version %s", event, fields.get("version"))

    def event(self, fields):
        error = slots.log_event(self.root, self.hw.clock.time_s(), fields, self.system_log)
        if error is not None:
            self.log_failures += 1
            self.log.error("OTA event %s not in the system log: %s", fields["event"], error)

    def report_boot(self):
        """Log the boot selector's note (a revert) once, then clear it."""
        try:
            state = slots.read_state(self.root)
        except Exception as exc:  # broad on purpose: a record of any damage or shape is reported, not fatal
            self.log.error("OTA state record damaged (%s): running the factory version", exc)
            self.event({"event": "state-damaged"})
            return None
        note = state.get("note")
        if note:
            self.log.error("OTA: reverted from %s to %s: %s", note["from_version"], note["to_version"], note["reason"])
            fields = dict(note)
            self.event(fields)
            state["note"] = None
            slots.write_state(self.root, state)
        self.log.info("running version %s (slot %s%s)", state["version"], state["active"],
                      ", trial boot %d of %d" % (state["boots"], state["max_boots"]) if state["trial"] else "")
        return state

    async def _switched(self, state):
        self.log.info("switched to %s in slot %s: resetting to run it on trial", state["version"], state["active"])
        await rt.sleep_ms(200)  # let the reply reach the sender
        self.hw.reset()

    async def _client(self, reader, writer):
        from ota.server import serve_stream

        await serve_stream(reader, writer, self.receiver, self._switched)

    async def task(self, progress):
        state = self.report_boot()
        port = self.cfg["port"]
        if port and self.server is None:
            self.server = await asyncio.start_server(self._client, "127.0.0.1", port)
            self.log.info("update port 127.0.0.1:%d", port)
        try:
            if state is not None and state["trial"]:
                await self._trial(state, progress)
            while True:
                await rt.sleep_ms(self.poll_ms)
                progress()
        finally:
            if self.server is not None:
                self.server.close()
                self.server = None

    def _confirm_image(self):
        """A full-image update: the board's bootloader keeps it too (hw.confirm_image, ESP32)."""
        if self.hw.confirm_image is None:
            self.log.error("a full image confirmed on a board without image confirmation (%s)", self.hw.name)
        elif not self.hw.confirm_image():
            self.log.warn("bootloader has no rollback to cancel")

    async def _trial(self, state, progress):
        confirm_ms = self.cfg["confirm_s"] * 1000
        start = rt.ticks_ms()
        healthy_since = start
        while True:
            await rt.sleep_ms(self.poll_ms)
            progress()
            now = rt.ticks_ms()
            if not healthy(self.supervisor.status(), self.name):
                healthy_since = now
            elif rt.ticks_diff(now, healthy_since) >= confirm_ms:
                slots.confirm(self.root, state)
                if state["active"] == "image":
                    self._confirm_image()
                self.log.info("version %s confirmed (healthy for %d s)", state["version"], self.cfg["confirm_s"])
                self.event({"event": "confirmed", "version": state["version"],
                            "security_version": state["security_version"]})
                return
            if rt.ticks_diff(now, start) >= self.cfg["trial_s"] * 1000:
                reason = "not healthy for %d s within %d s" % (self.cfg["confirm_s"], self.cfg["trial_s"])
                slots.revert(self.root, state, reason)
                self.log.error("version %s failed its trial (%s): reverting", state["version"], reason)
                self.hw.reset()
                return
