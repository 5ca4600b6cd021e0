#!/usr/bin/env python3
"""Wireless M-Bus head-end: verifies, decrypts and decodes the meters' telegrams.

    python tools/headend.py --keys headend-keys.json [--state FILE] [--out FILE] [--format auto|A|B|none] FILE.hex...
    python tools/headend.py --keys headend-keys.json --air 127.0.0.1:PORT [...]

Reads telegrams (one hex string per line, L-field first, with the frame format's CRCs
unless --format none) from files, or receives them live from the simulation's air hub
(2-byte big-endian length + frame). For each: checks the CRCs, verifies the mode 7 MAC
BEFORE decrypting, rejects a counter not above the last one accepted from that meter
(kept in --state across runs), decrypts, checks 2F2F and decodes the records. A meter
with a key is accepted only in the security it is configured for ("mode" in the keys
file: 7, the default, 5 or "ell"); anything else from it, e.g. an unencrypted telegram,
is refused as wrong_mode. Compact frames decode with a format learned from the same
meter's verified full frames only. Accepted telegrams are written to --out (default:
stdout) as one JSON object per line; rejected ones to stderr as {"rejected": <reason>,
...}. Keys are never printed.

Exit status: 0, or 1 with --strict when any telegram was rejected.
"""

import argparse
import asyncio
import json
import os
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)

from mbus.vif import VIFE_BACKWARD
from wmbus import parser, records, telegram
from wmbus.errors import WMBusError, UNSUPPORTED, WRONG_MODE

C_NAMES = {0x44: "SND_NR", 0x46: "SND_IR"}
MODES = (7, 5, "ell")  # per meter in the keys file; 7 is the default
_ELL_CTR = 1  # ELL-II security field: AES-CTR

# (quantity, unit, storage, backward flow) -> reading name, for the records our meters send.
# Names and units are the shared record layer's (docs/mbus.md).
NAMES = {
    ("energy", "Wh", 0, False): "import_wh",
    ("energy", "Wh", 0, True): "export_wh",
    ("energy", "Wh", 1, False): "billing_import_wh",
    ("energy", "Wh", 1, True): "billing_export_wh",
    ("date", "", 1, False): "billing_date",
    ("reactive_energy", "varh", 0, False): "reactive_varh",
    ("power", "W", 0, False): "power_w",
    ("voltage", "V", 0, False): "voltage_v",
    ("current", "A", 0, False): "current_a",
    ("datetime", "", 0, False): "meter_datetime",
    ("error_flags", "", 0, False): "error_flags",
    ("volume", "m^3", 0, False): "volume_m3",
}


def _load(path):
    with open(path) as f:
        raw = json.load(f)
    for meter_id, entry in raw.items():
        if len(meter_id) != 8 or len(bytes.fromhex(entry["key"])) != 16:
            raise ValueError("headend keys: bad entry for %r" % meter_id)
        if entry.get("mode", 7) not in MODES:
            raise ValueError("headend keys: mode of %r must be one of %r" % (meter_id, MODES))
    return raw


def load_keys(path):
    """{meter id (8 hex digits, lower case): 16-byte key} from headend-keys.json."""
    return {meter_id.lower(): bytes.fromhex(entry["key"]) for meter_id, entry in _load(path).items()}


def load_modes(path):
    """{meter id: the security it must use (7, 5 or "ell")} from headend-keys.json."""
    return {meter_id.lower(): entry.get("mode", 7) for meter_id, entry in _load(path).items()}


def number(r):
    """A record's value for JSON: exact digits (an int, or the float that prints as the
    decimal text the frame holds), dates and text as strings."""
    n = r.number()
    if n is None:
        v = r.value
        return str(v) if isinstance(v, Exception) else v
    return n[0] * 10 ** n[1] if n[1] >= 0 else float(r.decimal())


def readings_of(recs):
    out = {}
    other = []
    for r in recs:
        name = NAMES.get((r.quantity, r.unit, r.storage, r.has_vife(VIFE_BACKWARD)))
        if name is None or r.tariff or r.subunit or r.function != "instantaneous" or name in out:
            d = r.as_dict()
            d["value"] = number(r)
            other.append(d)
            continue
        out[name] = number(r)
    if other:
        out["other_records"] = other
    return out


def security_of(t):
    """The security a parsed telegram proved: 7 (MAC verified), 5 (decrypted, 2F2F held),
    "ell" (ELL-II AES-CTR decrypted, payload CRC held) or None (nothing verified)."""
    if t.mode == 7 or t.mode == 5:
        return t.mode
    if t.ell_security == _ELL_CTR:
        return "ell"
    return None


class HeadEnd:
    """Accepts telegrams for the meters it has keys for; the last counter per meter persists.
    modes: {meter id: 7, 5 or "ell"}, the security a keyed meter must use (default 7)."""

    def __init__(self, keys, state_path=None, fmt="auto", modes=None):
        self.keys = keys
        self.modes = modes or {}
        self.state_path = state_path
        self.fmt = None if fmt == "none" else fmt
        self.last = {}
        self.formats = {}  # meter id -> {compact signature: DIF/VIF bytes}, from verified frames
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
        t = parser.parse(raw, key, self.fmt, last_counter=self.last.get(dll_id))
        if t.meter_id != dll_id:  # a long TPL header names the meter: its key and counter
            key = self.keys.get(t.meter_id)
            t = parser.parse(raw, key, self.fmt, last_counter=self.last.get(t.meter_id))
        verified = security_of(t)
        if key is not None:
            wanted = self.modes.get(t.meter_id, 7)
            if verified != wanted:
                raise WMBusError(WRONG_MODE, "meter %s must use security %s, telegram has %s"
                                 % (t.meter_id, wanted, "none" if verified is None else verified))
        if t.mode == 7:
            self.last[t.meter_id] = t.counter
            self._save()
        out = {"t": round(time.time(), 3), "meter": t.meter_id, "manufacturer": t.manufacturer,
               "c": C_NAMES.get(t.c_field, "0x%02X" % t.c_field), "format": t.fmt or "none", "mode": t.mode,
               "counter": t.counter, "acc": t.acc, "status": t.status,
               "mac_verified": t.mode == 7, "replay_checked": t.mode == 7,
               "security": "none" if verified is None else verified}
        error = None
        if t.ci in (telegram.CI_COMPACT_NONE, telegram.CI_COMPACT_SHORT, telegram.CI_COMPACT_LONG):
            headers = self.formats.get(t.meter_id, {}).get(t.compact_signature)
            if headers is None:
                raise WMBusError(UNSUPPORTED, "compact frame of meter %s in a format not learned from its verified "
                                 "telegrams (0x%04X)" % (t.meter_id, t.compact_signature))
            recs = records.expand_compact(headers, t.payload)
        elif t.ci in (telegram.CI_TPL_SHORT, telegram.CI_TPL_LONG, telegram.CI_TPL_NONE):
            recs, error = records.decode_partial(t.payload)
            if verified is not None:  # only an authenticated (or decryption-checked) frame teaches a format
                sig, headers = records.signature(recs)
                if sig is not None:
                    self.formats.setdefault(t.meter_id, {})[sig] = headers
        else:
            recs = []
            out["payload"] = t.payload.hex()
        if error is not None:
            out["record_error"] = str(error)
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
    headend = HeadEnd(load_keys(args.keys), state, args.format, load_modes(args.keys))
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
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
