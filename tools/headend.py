#!/usr/bin/env python3
"""Wireless M-Bus head-end: verifies, decrypts and decodes the meters' telegrams.

    python tools/headend.py --keys headend-keys.json [--state FILE] [--out FILE] [--format auto|A|B|none] FILE.hex...
    python tools/headend.py --keys headend-keys.json --air 127.0.0.1:PORT [...]

Reads telegrams (one hex string per line, L-field first, with the frame format's CRCs
unless --format none) from files, or receives them live from the simulation's air hub
(2-byte big-endian length + frame). For each: checks the CRCs, verifies the mode 7 MAC
BEFORE decrypting, rejects a counter not above the last one accepted from that meter
(kept in --state across runs), decrypts, checks 2F2F and decodes the records. Accepted
telegrams are written to --out (default: stdout) as one JSON object per line; rejected
ones to stderr as {"rejected": <reason>, ...}. Keys are never printed.

Exit status: 0, or 1 with --strict when any telegram was rejected.
"""

import argparse
import asyncio
import json
import os
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

from wmbus import records, telegram
from wmbus.errors import WMBusError, UNSUPPORTED

C_NAMES = {0x44: "SND_NR", 0x46: "SND_IR"}

# (quantity, storage, extra VIFEs) -> reading name, for the records our meters send.
NAMES = {
    ("energy", 0): "import_wh",
    ("energy_backward", 0): "export_wh",
    ("energy", 1): "billing_import_wh",
    ("energy_backward", 1): "billing_export_wh",
    ("date", 1): "billing_date",
    ("reactive_energy", 0): "reactive_kvarh",
    ("power", 0): "power_w",
    ("voltage", 0): "voltage_v",
    ("current", 0): "current_a",
    ("datetime", 0): "meter_datetime",
    ("error_flags", 0): "error_flags",
    ("volume", 0): "volume_m3",
}
_TO_WH = {"Wh": 1, "MWh": 1_000_000}


def load_keys(path):
    """{meter id (8 hex digits, lower case): 16-byte key} from headend-keys.json."""
    with open(path) as f:
        raw = json.load(f)
    keys = {}
    for meter_id, entry in raw.items():
        key = bytes.fromhex(entry["key"])
        if len(key) != 16 or len(meter_id) != 8:
            raise ValueError("headend keys: bad entry for %r" % meter_id)
        keys[meter_id.lower()] = key
    return keys


def readings_of(recs):
    out = {}
    other = []
    for r in recs:
        name = NAMES.get((r["quantity"], r["storage"]))
        if name is None or r["tariff"] or r["subunit"] or name in out:
            other.append({k: r[k] for k in ("quantity", "unit", "storage", "tariff", "subunit", "value")
                          if not isinstance(r[k], Exception)})
            continue
        value = r["value"]
        if name.endswith("_wh") and r["unit"] in _TO_WH:
            value = value * _TO_WH[r["unit"]]
        out[name] = value
    if other:
        out["other_records"] = other
    return out


class HeadEnd:
    """Accepts telegrams for the meters it has keys for; the last counter per meter persists."""

    def __init__(self, keys, state_path=None, fmt="auto"):
        self.keys = keys
        self.state_path = state_path
        self.fmt = None if fmt == "none" else fmt
        self.last = {}
        self.signatures = {}
        self.accepted = 0
        self.rejected = {}
        if state_path and os.path.exists(state_path):
            with open(state_path) as f:
                self.last = {k: int(v) for k, v in json.load(f).items()}

    def _save(self):
        if not self.state_path:
            return
        tmp = self.state_path + ".new"
        with open(tmp, "w") as f:
            json.dump(self.last, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    def receive(self, raw):
        """One telegram -> a JSON-ready dict; raises WMBusError (counted by reason)."""
        try:
            return self._receive(bytes(raw))
        except WMBusError as exc:
            self.rejected[exc.reason] = self.rejected.get(exc.reason, 0) + 1
            raise

    def _receive(self, raw):
        if len(raw) < 10:
            raise WMBusError("truncated", "telegram of %d bytes" % len(raw))
        dll_id = telegram.id_text(raw, 4)  # block 1 carries no CRC inside it: same place in every format
        key = self.keys.get(dll_id)
        t = telegram.parse(raw, key, self.fmt, last_counter=self.last.get(dll_id))
        if t.meter_id != dll_id:  # a long TPL header names the meter: its key and counter
            key = self.keys.get(t.meter_id)
            t = telegram.parse(raw, key, self.fmt, last_counter=self.last.get(t.meter_id))
        if t.mode == 7:
            self.last[t.meter_id] = t.counter
            self._save()
        out = {"t": round(time.time(), 3), "meter": t.meter_id, "manufacturer": t.manufacturer,
               "c": C_NAMES.get(t.c_field, "0x%02X" % t.c_field), "format": t.fmt or "none", "mode": t.mode,
               "counter": t.counter, "acc": t.acc, "status": t.status,
               "mac_verified": t.mode == 7, "replay_checked": t.mode == 7}
        if t.ci in (telegram.CI_COMPACT_NONE, telegram.CI_COMPACT_SHORT, telegram.CI_COMPACT_LONG):
            headers = self.signatures.get(t.compact_signature)
            if headers is None:
                raise WMBusError(UNSUPPORTED, "compact frame of unknown format 0x%04X" % t.compact_signature)
            recs = records.expand_compact(headers, t.payload)
        elif t.ci in (telegram.CI_TPL_SHORT, telegram.CI_TPL_LONG, telegram.CI_TPL_NONE):
            recs = records.decode(t.payload, strict=False)
            sig, headers = records.signature([r for r in recs if r["quantity"] != "error"])
            self.signatures[sig] = headers
        else:
            recs = []
            out["payload"] = t.payload.hex()
        if recs and recs[-1]["quantity"] == "error":
            out["record_error"] = str(recs.pop()["value"])
        out.update(readings_of(recs))
        self.accepted += 1
        return out


def _reject(exc, where, err):
    err.write(json.dumps({"rejected": exc.reason, "detail": str(exc), "at": where}) + "\n")
    err.flush()


def run_files(headend, paths, out, err):
    for path in paths:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                text = line.strip()
                if not text or text.startswith("#"):
                    continue
                where = "%s:%d" % (path, number)
                try:
                    raw = bytes.fromhex(text)
                except ValueError:
                    headend.rejected["not_hex"] = headend.rejected.get("not_hex", 0) + 1
                    err.write(json.dumps({"rejected": "not_hex", "at": where}) + "\n")
                    continue
                try:
                    out.write(json.dumps(headend.receive(raw)) + "\n")
                    out.flush()
                except WMBusError as exc:
                    _reject(exc, where, err)


async def run_air(headend, address, out, err, seconds=0):
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    deadline = time.monotonic() + seconds if seconds else None
    try:
        while True:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            header = await asyncio.wait_for(reader.readexactly(2), timeout)
            raw = await reader.readexactly(int.from_bytes(header, "big"))
            try:
                out.write(json.dumps(headend.receive(raw)) + "\n")
                out.flush()
            except WMBusError as exc:
                _reject(exc, "air", err)
    except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", help="telegrams.hex files")
    parser.add_argument("--keys", required=True, help="headend-keys.json")
    parser.add_argument("--state", help="last accepted counter per meter (default: beside --keys)")
    parser.add_argument("--out", help="readings, one JSON object per line (default: stdout)")
    parser.add_argument("--format", default="auto", choices=("auto", "A", "B", "none"))
    parser.add_argument("--air", help="receive live from the air hub HOST:PORT")
    parser.add_argument("--seconds", type=float, default=0, help="with --air: stop after S seconds")
    parser.add_argument("--strict", action="store_true", help="exit 1 if any telegram was rejected")
    args = parser.parse_args(argv)
    if not args.files and not args.air:
        parser.error("give telegram files or --air")
    state = args.state or os.path.join(os.path.dirname(os.path.abspath(args.keys)), "headend-state.json")
    headend = HeadEnd(load_keys(args.keys), state, args.format)
    out = open(args.out, "a") if args.out else sys.stdout
    try:
        if args.files:
            run_files(headend, args.files, out, sys.stderr)
        if args.air:
            asyncio.run(run_air(headend, args.air, out, sys.stderr, args.seconds))
    finally:
        if args.out:
            out.close()
    summary = {"accepted": headend.accepted, "rejected": headend.rejected}
    sys.stderr.write(json.dumps({"summary": summary}) + "\n")
    return 1 if args.strict and headend.rejected else 0


if __name__ == "__main__":
    sys.exit(main())
