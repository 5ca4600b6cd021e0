# What the simulation shows and keeps: its output files, the live view of the devices'
# status lines, and the MEP link's part of summary.json.

import json
import os
import sys
import time


class Outputs:
    """The files the simulation leaves in --out."""

    def __init__(self, out_dir):
        self.dir = out_dir
        os.makedirs(out_dir, exist_ok=True)
        self.readings = open(os.path.join(out_dir, "readings.jsonl"), "a")
        self.events = open(os.path.join(out_dir, "events.jsonl"), "a")
        self.telegrams = open(os.path.join(out_dir, "telegrams.hex"), "a")

    def event(self, source, fields):
        fields = dict(fields, source=source, wall=round(time.time(), 3))
        self.events.write(json.dumps(fields) + "\n")
        self.events.flush()

    def telegram_lines(self):
        """Telegrams in telegrams.hex: every run's (summary.json's "telegrams" is this run's)."""
        with open(os.path.join(self.dir, "telegrams.hex")) as f:
            return sum(1 for line in f if line.strip())

    def close(self):
        for f in (self.readings, self.events, self.telegrams):
            f.close()


class LiveView:
    """What the devices are doing: the latest reading, device status, recent events."""

    def __init__(self, outputs, speed):
        self.outputs = outputs
        self.speed = speed
        self.reading = None
        self.device = None
        self.tasks = {}
        self.events = []
        self.readings = 0
        self.tty = sys.stdout.isatty()
        self.lines_drawn = 0
        self.mbus = {}  # wired M-Bus device name -> its last read
        self.mbus_reads = 0
        self.mbus_events = 0
        self.mep = {}

    def on_status(self, source, fields):
        kind = fields.get("kind")
        if kind == "reading":
            self.reading = fields
            self.readings += 1
            self.outputs.readings.write(json.dumps(fields) + "\n")
            self.outputs.readings.flush()
        elif kind == "device":
            self.device = fields
        elif kind in ("display", "thermostat", "urgent", "mep_urgent_ack", "display_message", "mep"):
            self.mep[kind] = fields
            if kind != "display" and kind != "mep":
                self.outputs.event(source, fields)
        elif kind == "tasks":
            self.tasks[source] = fields.get("tasks", {})
        elif kind in ("mbus_read", "mbus_event", "mbus_discovery"):
            self.on_mbus(source, kind, fields)
        elif kind == "log" or kind == "restart":
            level = fields.get("level", "warn")
            if kind == "restart" or level in ("warn", "error"):
                self.outputs.event(source, fields)
                self.events.append("%s %s %s" % (source, fields.get("tag", kind), fields.get("msg", fields.get("why"))))
                self.events = self.events[-4:]
            if not self.tty and kind == "log":
                print("[%s] %s %s %s" % (source, level, fields.get("tag", ""), fields.get("msg", "")), flush=True)

    def on_mbus(self, source, kind, fields):
        """Wired M-Bus reads and events: into events.jsonl and the live view."""
        self.outputs.event(source, fields)
        if kind == "mbus_read":
            self.mbus_reads += 1
            self.mbus[fields.get("name")] = fields
            text = "%s %s read %s" % (fields.get("name"), fields.get("read"), fields.get("result"))
        elif kind == "mbus_event":
            self.mbus_events += 1
            text = "%s %s %s" % (fields.get("name"), fields.get("event"), fields.get("state"))
        else:
            text = "scan found " + (", ".join(fields.get("found", [])) or "nothing")
        if kind != "mbus_read" or fields.get("result") != "ok":
            self.events.append("%s mbus %s" % (source, text))
            self.events = self.events[-4:]
        if not self.tty:
            print("[%s] mbus %s" % (source, text), flush=True)

    def mbus_line(self):
        if not self.mbus:
            return "mbus: waiting for the first read"
        parts = ["%s %s %s %s" % (name, r.get("read"), r.get("result"), iso(r.get("t", 0))[11:16])
                 for name, r in sorted(self.mbus.items())]
        return "mbus  " + "  |  ".join(parts)

    def lines(self, elapsed_s):
        r = self.reading
        if r:
            meter = "meter %s  %.1f V  %.3f A  %.1f W  PF %.3f  %.2f Hz  import %d Wh  export %d Wh" % (
                iso(r.get("t", 0)), r["vrms"], r["irms"], r["p_w"], r["pf"], r["freq_hz"],
                r["import_wh"], r["export_wh"],
            )
        else:
            meter = "meter: starting"
        d = self.device
        device = "mep_device uptime %ds" % d["uptime_s"] if d else "mep_device: starting"
        head = "sim %5.0fs wall  speed x%g  readings %d" % (elapsed_s, self.speed, self.readings)
        shown = [head, meter]
        if r and "q_var" in r:  # reactive power and energy, the tariff (metrology)
            shown.append("      Q %.1f var  S %.1f VA  Q1..Q4 %s varh  tariff %s" % (
                r["q_var"], r.get("s_va", 0.0), "/".join(str(r.get("q%d_varh" % k, 0)) for k in range(1, 5)),
                r.get("tariff", 0)))
        return shown + [device, self.mbus_line()] + mep_lines(self.mep) + ["  ! " + e for e in self.events]

    def draw(self, elapsed_s):
        lines = self.lines(elapsed_s)
        if self.tty:
            if self.lines_drawn:
                sys.stdout.write("\x1b[%dA" % self.lines_drawn)
            sys.stdout.write("".join("\x1b[2K" + line[:160] + "\n" for line in lines))
            self.lines_drawn = len(lines)
        else:
            print(" | ".join(lines[:3] + mep_lines(self.mep)[:2]), flush=True)


def mep_lines(seen):
    """The MEP device's view: what its display and thermostat last said."""
    lines = []
    d = seen.get("display")
    if d:
        lines.append("display  link %s  %s W  today %s Wh  tariff %s  messages %s  M-Bus %s" % (
            d.get("link"), d.get("p_w"), d.get("today_wh"), d.get("tariff"), d.get("messages"), d.get("mbus_meters")))
    t = seen.get("thermostat")
    if t:
        lines.append("thermostat  set point %s C  (tariff %s, %s)" % (t.get("setpoint_c"), t.get("tariff"), t.get("why")))
    m = seen.get("display_message")
    if m:
        lines.append("message  %s" % m.get("text"))
    return lines


def mep_summary(link, meter_status):
    """The MEP link in summary.json: the meter's own counters (frames, requests, failures;
    its last "mep" status line) and, where this process relays the bytes, their counts."""
    summary = {"link": "socat" if link.bytes_a_to_b is None else "relay"}
    if meter_status:
        summary["meter"] = {k: v for k, v in meter_status.items() if k != "kind"}
    if link.bytes_a_to_b is not None:  # socat does not count
        summary["bytes"] = {"meter_to_device": link.bytes_a_to_b, "device_to_meter": link.bytes_b_to_a,
                            "dropped_meter_to_device": link.dropped_a_to_b,
                            "dropped_device_to_meter": link.dropped_b_to_a}
    return summary


def iso(epoch_s):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch_s))
