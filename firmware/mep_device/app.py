# The MEP device: one task per concern under the supervisor. This issue gives it the
# skeleton and a status task; the MEP link master and the example applications
# (in-home display, thermostat) join it as tasks of their own.

import status
import startup
from supervisor import Supervisor, run_app
from ota.settings import service_needed

_STALL_MARGIN_MS = 5000


class MEPDevice:
    def __init__(self, hw, cfg, log):
        self.hw = hw
        self.cfg = cfg
        self.log = log.tagged("mep_device")
        self.log_root = log
        self.started_s = hw.clock.time_s()
        self.supervisor = Supervisor(watchdog=hw.watchdog, log=log)

    def build(self):
        report_ms = self.cfg["report"]["interval_s"] * 1000
        self.supervisor.add("status", self.status_task, self.hw.clock.real_ms(report_ms) * 2 + _STALL_MARGIN_MS)
        # Updates: serves the update port, confirms a trial version once the others are healthy
        # (imported only when there is something to do: it costs heap).
        if service_needed(self.hw.storage_root, self.cfg["ota"]):
            from ota.health import OtaService

            logs = self.hw.logs  # the board's device logs: one writer per log, refusals rate-limited
            self.ota = OtaService(self.hw, self.cfg, self.supervisor, self.log_root,
                                  system_log=logs.ota if logs is not None else None)
            self.supervisor.add("ota", self.ota.task, 2000 + _STALL_MARGIN_MS)
        self.link = self.build_mep(self.supervisor)
        self.log.info("MEP device on %s", self.hw.name)
        return self.supervisor

    def build_mep(self, sup):
        """The link master and the example applications (display, thermostat)."""
        from mep_device.apps import build_apps

        return build_apps(self, sup, _STALL_MARGIN_MS)

    async def status_task(self, progress):
        clock = self.hw.clock
        interval_ms = self.cfg["report"]["interval_s"] * 1000
        while True:
            await clock.sleep_ms(interval_ms)
            now_s = clock.time_s()
            fields = {"t": now_s, "uptime_s": now_s - self.started_s, "tasks": self.supervisor.status()}
            if self.link is not None:
                fields["mep"] = self.link.client.counters()
                fields["mep"]["polls"] = self.link.polls
            status.emit("device", fields)
            progress()


def main(hw, cfg):
    """Run the MEP device until stopped; cfg was checked against SCHEMA (startup.boot does it)."""
    log = startup.open_log(hw, cfg)
    run_app(MEPDevice(hw, cfg, log).build(), log)
    return 0
