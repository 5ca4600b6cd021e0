# The meter: wires the hardware, the metrology and the energy registers into one
# task per concern and runs them under the supervisor.
#
#   metrology   sample blocks -> readings once per period -> energy registers
#   registers   checkpoints the registers every checkpoint_s and at shutdown
#   report      readings, registers and task health as status lines

import status
import startup
from supervisor import Supervisor, run_app
from meter.config import SCHEMA  # noqa: F401  (startup.boot checks the config with it)
from meter.metrology import Metrology
from meter.registers import EnergyRegisters

# Real time a task may go without progress before the watchdog starves, on top of
# its own period (scheduling jitter, slow flash writes).
_STALL_MARGIN_MS = 5000


class Meter:
    def __init__(self, hw, cfg, log):
        self.hw = hw
        self.cfg = cfg
        self.log = log.tagged("meter")
        self.registers = EnergyRegisters(hw.storage_root)
        self.periods = 0
        self.supervisor = Supervisor(watchdog=hw.watchdog, log=log)
        samples = hw.samples
        self.metrology = None
        if samples is not None:
            m = cfg["metrology"]
            v_per_count = m["v_per_count"] or samples.v_per_count
            i_per_count = m["i_per_count"] or samples.i_per_count
            blocks = max(1, (m["period_ms"] * samples.rate_hz) // (1000 * samples.pairs_per_block))
            self.metrology = Metrology(samples.rate_hz, blocks * samples.pairs_per_block, v_per_count, i_per_count,
                                       offset_counts=samples.zero_count)
            self.period_real_ms = blocks * samples.pairs_per_block * 1000 // samples.rate_hz

    def build(self):
        clock = self.hw.clock
        sup = self.supervisor
        if self.metrology is not None:
            sup.add("metrology", self.metrology_task, self.period_real_ms * 2 + _STALL_MARGIN_MS)
        else:
            self.log.error("no metering front end: metrology not running, registers kept as they are")
        if self.registers.damaged_copies:
            self.log.error("%d damaged copies of the energy registers found; kept the newest valid one",
                           self.registers.damaged_copies)
        checkpoint_ms = self.cfg["metrology"]["checkpoint_s"] * 1000
        sup.add("registers", self.registers_task, clock.real_ms(checkpoint_ms) * 2 + _STALL_MARGIN_MS)
        report_ms = self.cfg["report"]["interval_s"] * 1000
        sup.add("report", self.report_task, clock.real_ms(report_ms) * 2 + _STALL_MARGIN_MS)
        self.mep = self.build_mep(sup)
        self.log.info(
            "meter %s on %s: registers %d/%d Wh",
            self.cfg["meter_id"],
            self.hw.name,
            self.registers.import_wh,
            self.registers.export_wh,
        )
        return sup

    def build_mep(self, sup):
        """The MEP port's tasks (firmware/meter/mep.py), if enabled, wired and keyed."""
        cfg = self.cfg["mep"]
        if not cfg["enabled"] or self.hw.mep_uart is None:
            return None
        from meter.mep import MeterMEP
        from security.keystore import open_board_keys

        try:
            key = open_board_keys(self.hw).get("mep")
            mep = MeterMEP(self, cfg, key, self.log.tagged("mep"))
        except Exception as exc:  # no key provisioned, or a damaged store: the meter runs on without
            self.log.error("MEP port not started: %s", exc)
            return None
        sup.add("mep", mep.serve_task, _STALL_MARGIN_MS)
        sup.add("mep_profile", mep.profile_task, self.hw.clock.real_ms(cfg["profile_period_s"] * 1000) * 2
                + _STALL_MARGIN_MS)
        sup.add("mep_inbox", mep.inbox_task, _STALL_MARGIN_MS)
        return mep

    async def metrology_task(self, progress):
        samples = self.hw.samples
        metrology = self.metrology
        # Energy is power times the time the samples cover (a clock that is set, or
        # steps, neither invents nor loses energy); blocks the task missed count too,
        # at the power of the period that follows them.
        calendar_ms_per_pair = 1000 * self.hw.clock.speed / samples.rate_hz
        overruns = samples.overruns
        samples.start()
        try:
            while True:
                block = await samples.read_block()
                if metrology.add_block(block):
                    missed_pairs = (samples.overruns - overruns) * samples.pairs_per_block
                    overruns = samples.overruns
                    duration_ms = (metrology.readings.pairs + missed_pairs) * calendar_ms_per_pair
                    self.registers.add_power(metrology.readings.p_w, duration_ms)
                    self.periods += 1
                    progress()
        finally:
            samples.stop()

    async def registers_task(self, progress):
        checkpoint_ms = self.cfg["metrology"]["checkpoint_s"] * 1000
        try:
            while True:
                await self.hw.clock.sleep_ms(checkpoint_ms)
                self.registers.checkpoint()
                progress()
        finally:
            # Shutdown (cancellation) also checkpoints, so a clean stop loses nothing.
            self.registers.checkpoint()

    async def report_task(self, progress):
        clock = self.hw.clock
        interval_ms = self.cfg["report"]["interval_s"] * 1000
        while True:
            await clock.sleep_ms(interval_ms)
            fields = self.metrology.readings.as_dict() if self.metrology is not None else {}
            fields.update(self.registers.as_dict())
            fields["t"] = clock.time_s()
            fields["periods"] = self.periods
            status.emit("reading", fields)
            status.emit("tasks", {"tasks": self.supervisor.status()})
            progress()


def main(hw, cfg):
    """Run the meter until stopped; cfg was checked against SCHEMA (startup.boot does it)."""
    log = startup.open_log(hw, cfg)
    meter = Meter(hw, cfg, log)
    run_app(meter.build(), log)
    return 0
