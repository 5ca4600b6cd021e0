# The configurations the simulation writes for its devices, its calendar, and the
# provisioning, admin and update-port set-up of the meter.

import json
import os
import socket
import time

import mep_sim
import provision
from simulation.processes import MBUS_BAUD

METER_ID = "12345678"


def meter_config(args, storage_dir, air_port, mbus_path, mep_path):
    return {
        "app": "meter",
        "meter_id": METER_ID,
        "log_level": "info",
        "watchdog_ms": 8000,
        # Three tariffs (day, night, peak as the MEP names them): night 22:00-06:00,
        # peak 17:00-20:00, day otherwise; the utility demo also switches them by command.
        "metrology": {"period_ms": 1000, "checkpoint_s": 300, "tariffs": 3,
                      "tou": [[0, 1], [360, 0], [1020, 2], [1200, 0], [1320, 1]]},
        "report": {"interval_s": max(1, int(args.speed))},
        "board": {
            "speed": args.speed,
            "console": "json",
            "storage_dir": storage_dir,
            "air": "127.0.0.1:%d" % air_port,
            "mbus_uart": "pty:" + mbus_path,
            "mep_uart": "pty:" + mep_path,
            "unique_id": METER_ID,
        },
        "mbus": mbus_config(),
        "mep": mep_sim.meter_section(os.path.abspath(args.out), args.speed),
    }


def mbus_config():
    """The four simulated meters (tools/mbus_slaves.py DEFAULT_DEVICES), two by primary
    and two by secondary address, on hourly, daily and weekly schedules."""
    hourly = {"every": "hourly"}
    return {
        "baud": MBUS_BAUD,
        "devices": [
            {"address": 1, "name": "gas", "medium": "gas", "schedule": dict(hourly, minute=0),
             "status_interval_s": 6 * 3600},
            {"address": "0901152304771407", "name": "water", "medium": "water",
             "schedule": {"every": "daily", "hour": 6}, "status_interval_s": 6 * 3600},
            {"address": 3, "name": "heat", "medium": "heat", "schedule": dict(hourly, minute=30),
             "status_interval_s": 6 * 3600},
            {"address": "1200007104771407", "name": "water2", "medium": "water",
             "schedule": {"every": "weekly", "weekday": 0, "hour": 6}, "status_interval_s": 6 * 3600},
        ],
    }


def mep_device_config(args, storage_dir, mep_path, http_port=None):
    return dict(mep_sim.device_sections(http_port, args.speed), **{
        "app": "mep_device",
        "log_level": "info",
        "watchdog_ms": 8000,
        "report": {"interval_s": max(1, int(args.speed))},
        "board": {
            "speed": args.speed,
            "console": "json",
            "storage_dir": storage_dir,
            "air": None,
            "mbus_uart": None,
            "mep_uart": "pty:" + mep_path,
            "unique_id": "87654321",
        },
    })


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Calendar:
    """The simulation's calendar: origin_s at wall time origin_wall, running `speed` times
    faster. Every device restart continues it (the host board's start_s and start_wall, a
    real-time clock that kept running), and a new run starts where the last one stopped
    (summary.json's calendar_end_s) if that is ahead of the wall: it never goes backwards."""

    def __init__(self, out_dir, speed):
        self.speed = speed
        self.origin_wall = time.time()
        self.origin_s = max(int(self.origin_wall), self._last_end_s(out_dir))

    @staticmethod
    def _last_end_s(out_dir):
        try:
            with open(os.path.join(out_dir, "summary.json")) as f:
                end_s = json.load(f).get("calendar_end_s")
        except (OSError, ValueError, AttributeError):
            return 0
        return end_s if isinstance(end_s, int) else 0

    def now_s(self):
        return self.origin_s + int((time.time() - self.origin_wall) * self.speed)

    def board(self):
        """The host board's keys for this calendar."""
        return {"speed": self.speed, "start_s": self.origin_s, "start_wall": self.origin_wall}


def admin_setup(args, outputs, calendar):
    """Provision both devices (tools/provision.py) and give the meter an admin listener;
    keys/admin.json tells tools/admin.py where it is and how the sim's calendar runs."""
    provision.provision_sim(args.out, os.path.join(args.out, "meter", "data"),
                            os.path.join(args.out, "mep_device", "data"), METER_ID)
    listen = "127.0.0.1:%d" % free_port()
    call_home = "127.0.0.1:%d" % free_port()
    info = {"meter_id": METER_ID, "address": listen, "call_home": call_home, "start_s": calendar.origin_s,
            "start_wall": calendar.origin_wall, "speed": args.speed,
            "headend_keys": os.path.join(os.path.abspath(args.out), "headend-keys.json")}
    with open(os.path.join(args.out, "keys", "admin.json"), "w") as f:
        json.dump(info, f, indent=1)
    return {"listen": listen, "connect_to": call_home, "max_age_s": 300}


def ota_setup(args, storage_dir):
    """The meter's update port (docs/ota.md). Provisioning (provision_sim) made the signing
    key OUT/keys/ota-signing.pem and installed its public half as the meter's trust anchor,
    so `flash.py sign --key OUT/keys/ota-signing.pem` makes bundles this meter takes;
    --ota-anchor FILE installs another anchor instead."""
    if args.ota_anchor:
        import otatool

        with open(args.ota_anchor, "rb") as f:
            otatool.write_anchor(storage_dir, f.read())
    port = args.ota_port
    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    print("sim: meter update port 127.0.0.1:%d (python tools/flash.py ota --sim %s BUNDLE)" % (port, args.out))
    return {"port": port, "confirm_s": args.ota_confirm_s}
