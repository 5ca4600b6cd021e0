# The meter: wires the hardware, the metrology and the energy registers into one
# task per concern and runs them under the supervisor.
#
#   metrology   sample blocks -> readings once per period -> energy registers
#   registers   checkpoints the registers every checkpoint_s and at shutdown
#   report      readings, registers and task health as status lines
#   mbus        the wired M-Bus master and poll scheduler (when devices are configured)
#   pulses      the metrology LED, when the board's driver needs a task
#   admin       authenticated commands, time and wake-up (meter/admin.py)
#   sml_push    SML on the optical info port; sml_lmn: SML requests on the wired LMN (meter/sml.py)
#   dlms        DLMS/COSEM on HDLC and the TCP wrapper, and its profiles (meter/dlms.py)

import status
import startup
from supervisor import Supervisor, run_app
from meter.metrology import Metrology
from meter.registers import EnergyRegisters
from metrology.tariff import TariffSchedule
from metrology.calibration import CalibrationStore
from hardware import open_device_logs
from metrology.pulse import PinPulser
from meter.lmn import Transmitter
from ota.settings import service_needed

# Real time a task may go without progress before the watchdog starves, on top of
# its own period (scheduling jitter, slow flash writes).
_STALL_MARGIN_MS = 5000


class Meter:
    def __init__(self, hw, cfg, log):
        self.hw = hw
        self.cfg = cfg
        self.log = log.tagged("meter")
        self.log_root = log
        m = cfg["metrology"]
        try:
            schedule = TariffSchedule(m["tou"], m["tariffs"])
        except ValueError as exc:
            self.log.error("metrology.tou: %s; no time-of-use schedule", exc)
            schedule = TariffSchedule((), m["tariffs"])
        self.registers = EnergyRegisters(hw.storage_root, m["tariffs"], schedule, hw.clock)
        # The calendar never goes backwards across a restart: a clock behind the last checkpoint
        # (no real-time clock, or one that lost power) resumes there, unsynchronised until set-time.
        if self.registers.saved_s is not None and hw.clock.resume_s(self.registers.saved_s):
            self.log.warn("calendar resumed from the last checkpoint (%d); unsynchronised until an authenticated "
                          "set-time", self.registers.saved_s)
        # The device logs (system, consumer, calibration): one writer each, shared by the tasks;
        # the board opens them (a test's hardware without them gets the meter's own).
        self.logs = hw.logs if hw.logs is not None else open_device_logs(hw.storage_root, hw.clock)
        self.calibration = CalibrationStore(hw.storage_root, self.logs.calibration)
        if self.calibration.damaged:
            self.log.error("stored calibration unreadable: default constants in use")
        self.periods = 0
        self.supervisor = Supervisor(watchdog=hw.watchdog, log=log)
        # The board's pulse driver (hw.pulser: PIO, RMT, a counting pin) or a task on the LED pin.
        self.pulser = hw.pulser
        if self.pulser is None and hw.led is not None and hw.samples is not None:
            self.pulser = PinPulser(hw.led, m["pulse_width_ms"])
        samples = hw.samples
        self.metrology = None
        if samples is not None:
            v_per_count = m["v_per_count"] or samples.v_per_count
            i_per_count = m["i_per_count"] or samples.i_per_count
            blocks = max(1, (m["period_ms"] * samples.rate_hz) // (1000 * samples.pairs_per_block))
            self.metrology = Metrology(samples.rate_hz, blocks * samples.pairs_per_block, v_per_count, i_per_count,
                                       self.registers, m, adc_bits=samples.adc_bits,
                                       zero_count=samples.zero_count, skew_us=samples.skew_us,
                                       calibration=self.calibration.calibration,
                                       calendar_ms_per_pair=1000 * hw.clock.speed / samples.rate_hz,
                                       clock=hw.clock, pulses=self.pulser)
            self.period_real_ms = blocks * samples.pairs_per_block * 1000 // samples.rate_hz
        self.mbus = None  # the MEP port reads on demand through self.mbus.request_read(i)
        mbus_cfg = cfg.get("mbus")
        if mbus_cfg and (mbus_cfg["devices"] or mbus_cfg["discover"]):
            if hw.mbus_uart is None:
                self.log.error("M-Bus devices configured but the board has no M-Bus port")
            else:
                from meter.mbus import MBusPort  # only when used: the decoder is big

                self.mbus = MBusPort(hw, cfg, log)
        # The wireless M-Bus transmitter, where the board has a radio.
        self.lmn = None
        if cfg["lmn"]["enabled"] and hw.radio is not None:
            self.lmn = Transmitter(hw, cfg, log, self)

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
        if isinstance(self.pulser, PinPulser):
            sup.add("pulses", self.pulser.run, self.pulser.width_ms * 4 + _STALL_MARGIN_MS)
        if self.lmn is not None:
            sup.add("lmn", self.lmn.task, self.lmn.stall_ms())
        report_ms = self.cfg["report"]["interval_s"] * 1000
        sup.add("report", self.report_task, clock.real_ms(report_ms) * 2 + _STALL_MARGIN_MS)
        if self.mbus is not None:
            sup.add("mbus", self.mbus.task, self.mbus.stall_ms() + _STALL_MARGIN_MS)
        from meter.admin import Admin  # imported after the hardware: its 16 KiB tables find room first

        self.admin = Admin(self.hw, self.cfg, self.log, logs=self.logs)
        self.admin.boot_records()
        sup.add("admin", self.admin.task, _STALL_MARGIN_MS * 2)
        # Updates: serves the update port, confirms a trial version once the others are healthy
        # (imported only when there is something to do: it costs heap).
        if service_needed(self.hw.storage_root, self.cfg["ota"]):
            from ota.health import OtaService

            self.ota = OtaService(self.hw, self.cfg, sup, self.log_root, system_log=self.logs.ota)
            sup.add("ota", self.ota.task, 2000 + _STALL_MARGIN_MS)
        self.mep = self.build_mep(sup)
        self.sml = self.build_sml(sup)
        self.dlms = None
        if self.cfg["dlms"]["enabled"] and self._dlms_port():  # DLMS/COSEM ports and profiles (meter/dlms.py)
            from meter.dlms import add_to

            self.dlms = add_to(self, sup, _STALL_MARGIN_MS, self.admin.commands)
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
            mbus = None
            if self.mbus is not None:
                from meter.mep_mbus import MBusTables

                mbus = MBusTables(self.mbus, self.log.tagged("mep"))
            mep = MeterMEP(self, cfg, key, self.log.tagged("mep"), mbus=mbus)
        except Exception as exc:  # broad on purpose: no key, a damaged store or a bug: the meter meters on (logged)
            self.log.error("MEP port not started: %s", exc)
            return None
        sup.add("mep", mep.serve_task, _STALL_MARGIN_MS)
        sup.add("mep_profile", mep.profile_task, self.hw.clock.real_ms(cfg["profile_period_s"] * 1000) * 2
                + _STALL_MARGIN_MS)
        sup.add("mep_inbox", mep.inbox_task, _STALL_MARGIN_MS)
        return mep

    def _dlms_port(self):
        # DLMS costs heap (its objects, profiles and GCM): only where a client can reach it.
        hw = self.hw
        optical = hw.optical_uart is not None and self.cfg["optical"]["protocol"] == "dlms"
        return hw.dlms_uart is not None or optical or bool(self.cfg["dlms"]["tcp"])

    def build_sml(self, sup):
        """SML on the optical info port and the wired LMN (firmware/meter/sml.py), where present."""
        # Decided before the import: SML's modules cost heap on a meter without its ports.
        hw = self.hw
        optical = hw.optical_uart is not None and self.cfg["optical"]["protocol"] == "sml"
        if not optical and (hw.lmn_uart is None or not self.cfg["sml"]["lmn"]):
            return None
        from meter.sml import MeterSML

        sml = MeterSML(self, self.cfg, self.log.tagged("sml"))
        sml.add_tasks(sup, _STALL_MARGIN_MS)
        if self.admin.commands is not None:
            self.admin.commands.on_unlock = sml.unlock  # the consumer's PIN (UNLOCK command)
        return sml

    async def metrology_task(self, progress):
        samples = self.hw.samples
        metrology = self.metrology
        # Energy is power times the calendar time the samples cover (a clock that is set,
        # or steps, neither invents nor loses energy); blocks the task missed count too,
        # at the power of the period that follows them.
        overruns = samples.overruns
        samples.start()
        try:
            while True:
                block = await samples.read_block()
                missed_pairs = (samples.overruns - overruns) * samples.pairs_per_block
                overruns = samples.overruns
                done = metrology.add_block(block, samples.pairs_per_block, missed_pairs)
                if done:
                    self.periods += done
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
            readings = self.metrology.readings if self.metrology is not None else None
            # No reading while the first periods are still being measured (all zeros, no frequency).
            if readings is None or reading_valid(readings):
                fields = readings.as_dict() if readings is not None else {}
                fields.update(self.registers.as_dict())
                fields["t"] = clock.time_s()
                fields["periods"] = self.periods
                status.emit("reading", fields)
            status.emit("tasks", {"tasks": self.supervisor.status()})
            if self.lmn is not None:
                status.emit("lmn", self.lmn.as_dict())
            progress()


def reading_valid(readings):
    """A reading worth reporting: a whole period measured, with its frequency, unless there
    is no voltage to measure one from (an outage is reported as such)."""
    if readings.periods >= 3:  # (the frequency needs one or two periods; a zero after that is real)
        return True
    return readings.periods > 0 and (readings.freq_hz > 0 or readings.vrms < 1)


def main(hw, cfg):
    """Run the meter until stopped; cfg was checked against SCHEMA (startup.boot does it)."""
    log = startup.open_log(hw, cfg)
    meter = Meter(hw, cfg, log)
    run_app(meter.build(), log)
    return 0
