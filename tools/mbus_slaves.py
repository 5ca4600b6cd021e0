#!/usr/bin/env python3
"""Simulated wired M-Bus slaves: one process answering on a pty at real byte timing.

    .venv/bin/python tools/mbus_slaves.py --fd N [--baud 2400] [--config FILE] [--echo]
                                          [--fault NAME:KIND[:ARG[:COUNT]]] ...
    .venv/bin/python tools/mbus_slaves.py --pty            # opens a pty and prints its path

--fd N: a pty master (or any byte stream) inherited from the parent, the other end of
the meter's M-Bus port. --pty: open a pty pair and print "pty /dev/pts/N" first.

Every byte takes 11 bit times (8E1) at the baud rate: a request counts as received when
its last byte would have left the wire, each slave answers after its delay, and answers
go out byte by byte at the line rate. When several slaves answer at once their bytes
overlap on the wire bit by bit (a space from either wins) and the characters that
break parity or the stop bit are lost, as a UART loses them: a collision garbles both; --echo sends the
master's own bytes back as an echoing level converter does.

Faults (per device, COUNT answers; 0 or absent: every answer):
    no_answer            ignore requests
    bad_checksum         answer with a wrong checksum
    slow:MS              answer after MS ms instead of the device's delay
    app_error:CODE       answer REQ_UD2 with CI 0x70 and the error code
    busy                 set the status byte's "application busy" bits
A second device answering at once: give two devices the same primary address (--config).

The default bus (gas, water, heat in two telegrams, a second water meter) uses frames
of the libmbus test corpus (BSD 3-Clause, (c) 2010-2012 Raditex Control AB; credit to
rSCADA and Raditex Control, http://www.rSCADA.se), with their access numbers counting.

The model part of this file (Slave, Bus, merge) runs under MicroPython too, so the
firmware's tests use the same slaves over an in-memory link.
"""

import sys
import json

from mbus import frame as F  # lib: .venv's path file, MICROPYPATH, or upy32's --path

BITS_PER_BYTE = 11
_FUNCTION = 0x4F  # C-field bits without FCB and FCV
ACK = F.ACK

# Corpus frames (test-frames/*.hex), kept as received.
FRAMES = {
    "LGB_G350": "68 40 40 68 08 01 72 58 20 08 12 E2 30 40 03 40 00 00 00 2F 2F 4C 13 92 40 83 10 46 6D 00 00 08"
                " 16 27 00 0D 78 11 34 31 38 35 30 32 38 30 32 31 39 35 37 31 30 30 47 89 40 FD 1A 01 01 FD 17 00"
                " 01 FD 67 0F 38 16",
    "ACW_Itron-CYBLE-M-Bus-14": "68 56 56 68 08 01 72 23 15 01 09 77 04 14 07 25 00 00 00 0C 78 23 15 01 09 0D 7C 08"
                                " 44 49 20 2E 74 73 75 63 0A 35 35 37 36 37 30 41 4C 39 30 04 6D 1A 0E CD 13 02 7C"
                                " 09 65 6D 69 74 20 2E 74 61 62 D4 09 04 13 1F 00 00 00 04 93 7F 00 00 00 00 44 13"
                                " 1F 00 00 00 0F 00 01 1F A9 16",
    "SEN_Sensus-PolluStat-E": "68 42 42 68 08 00 72 95 50 26 21 AE 4C 0E 04 B5 10 00 00 0C 06 00 00 00 00 0C 13 00"
                              " 00 00 00 0C 3B 00 00 00 00 0C 2B 00 00 00 00 02 5A C9 00 02 5E CA 00 03 60 00 00 00"
                              " 0C 78 95 50 26 21 0C FD 10 95 50 26 21 1F EC 16",
    "SEN_Sensus-PolluTherm": "68 41 41 68 08 00 72 89 16 35 24 AE 4C 0B 04 54 10 00 00 0C 07 00 00 00 00 0C 14 00"
                             " 00 00 00 0C 3C 00 00 00 00 0C 2C 00 00 00 00 32 5A 00 00 32 5E 00 00 33 60 00 00 00"
                             " 0C 78 89 16 35 24 0C FD 10 89 16 35 24 CE 16",
    "itron_cyble_m-bus_v1.4_water": "68 56 56 68 08 01 72 71 00 00 12 77 04 14 07 0A 30 00 00 0C 78 71 00 00 12 0D 7C"
                                    " 08 44 49 20 2E 74 73 75 63 0A 45 4C 42 59 43 20 54 53 45 54 04 6D 2B 0D 98 11"
                                    " 02 7C 09 65 6D 69 74 20 2E 74 61 62 F2 10 04 14 3D 30 00 00 04 94 7F 14 00 00"
                                    " 00 44 14 00 00 00 00 0F 10 01 1F 2F 16",
}

# name, medium, primary address, frames (the first telegram's header is every telegram's),
# answer delay in ms (EN 13757-2 allows 11 bit times to 330 bit times + 50 ms).
DEFAULT_DEVICES = [
    {"name": "gas", "primary": 1, "frames": ["LGB_G350"], "delay_ms": 20},
    {"name": "water", "primary": 2, "frames": ["ACW_Itron-CYBLE-M-Bus-14"], "delay_ms": 25},
    {"name": "heat", "primary": 3, "frames": ["SEN_Sensus-PolluStat-E", "SEN_Sensus-PolluTherm"], "delay_ms": 30},
    {"name": "water2", "primary": 4, "frames": ["itron_cyble_m-bus_v1.4_water"], "delay_ms": 35},
]

FAULTS = ("no_answer", "bad_checksum", "slow", "app_error", "busy")


def frame_bytes(name_or_hex):
    text = FRAMES.get(name_or_hex, name_or_hex)
    return bytes.fromhex(text.replace(" ", ""))


checksum = F.checksum  # frame checksum, selection matching: the firmware's own (lib/mbus/frame.py)
selects = F.matches


class Slave:
    """One simulated meter: its telegrams, addresses, link state and faults."""

    def __init__(self, name, telegrams, primary=None, delay_ms=20, fault=None, fault_arg=None, fault_count=0,
                 id_digits=None):
        self.name = name
        frames = [bytearray(t) for t in telegrams]
        if id_digits is not None:
            bcd = bytes.fromhex(id_digits)
            frames[0][7:11] = bytes((bcd[3], bcd[2], bcd[1], bcd[0]))
        head = frames[0][7:15]
        for f in frames[1:]:
            f[7:15] = head  # one device: the same ID, manufacturer, version, medium
        self.telegrams = frames
        self.secondary = bytes(head)
        self.primary = primary
        self.delay_ms = delay_ms
        self.fault = fault
        self.fault_arg = fault_arg
        self.fault_left = fault_count  # answers still affected; 0: all
        self.selected = False
        self.last_fcb = None  # None after a link reset: the next REQ_UD2 starts afresh
        self.index = -1  # telegram last sent
        self.access_no = frames[0][15]
        self.requests = 0
        self.answers = 0
        self.resets = 0

    def addressed(self, a):
        return a == self.primary or a == F.ADDR_BROADCAST_REPLY or (a == F.ADDR_SELECTED and self.selected)

    def _fault_now(self, kind):
        if self.fault != kind:
            return False
        if self.fault_left:
            self.fault_left -= 1
            if not self.fault_left:
                self.fault = None
        return True

    def _ack(self):
        if self._fault_now("no_answer"):
            return None
        return self._timed(bytes((ACK,)))

    def _timed(self, data):
        delay = self.delay_ms
        if self._fault_now("slow"):
            delay = int(self.fault_arg or 500)
        self.answers += 1
        return (delay, data)

    def link_reset(self):
        self.last_fcb = None
        self.index = -1
        self.resets += 1

    def rsp_ud(self, fcb, fcv):
        if self._fault_now("no_answer"):
            return None
        if self.fault == "app_error" and self._fault_now("app_error"):
            code = int(self.fault_arg or 0)
            a = self.primary if self.primary is not None else 0
            return self._timed(F.build_long(F.RSP_UD, a, F.CI_APP_ERROR, bytes((code & 0xFF,))))
        if not fcv or self.last_fcb is None or fcb != self.last_fcb:
            # A new FCB (or none): the next telegram, updated; after the last, the first.
            self.index = (self.index + 1) % len(self.telegrams)
            self.access_no = (self.access_no + 1) & 0xFF
        # else the same FCB: the master missed our answer, repeat the telegram
        if fcv:
            self.last_fcb = fcb
        out = bytearray(self.telegrams[self.index])
        out[5] = self.primary if self.primary is not None else 0
        out[15] = self.access_no
        if self._fault_now("busy"):
            out[16] = (out[16] & 0xFC) | 0x01
        n = len(out)
        out[n - 2] = checksum(out, 4, n - 2)
        if self._fault_now("bad_checksum"):
            out[n - 2] = (out[n - 2] + 1) & 0xFF
        return self._timed(bytes(out))


class Bus:
    """The slaves on one bus: each request goes to every slave; a list of answers
    (delay_ms, bytes) comes back (more than one: they collide on the wire)."""

    def __init__(self, slaves, echo=False):
        self.slaves = slaves
        self.echo = echo
        self.requests = 0
        self.collisions = 0

    def handle(self, request):
        """request: one complete, checked master frame. Returns [(delay_ms, bytes)]."""
        self.requests += 1
        answers = []
        if request[0] == F.START_SHORT:
            c, a = request[1], request[2]
            ci = None
            data = b""
        else:
            c, a, ci = request[4], request[5], request[6]
            data = request[7:len(request) - 2]
        function = c & _FUNCTION  # without FCB and FCV
        for s in self.slaves:
            answer = None
            if function == F.SND_NKE and s.addressed(a):
                s.requests += 1
                s.link_reset()
                if a == F.ADDR_SELECTED:
                    s.selected = False  # SND_NKE to 253 ends the selection
                answer = s._ack()
            elif function == F.REQ_UD2 & _FUNCTION and s.addressed(a):
                s.requests += 1
                answer = s.rsp_ud((c >> 5) & 1, (c >> 4) & 1)
            elif function == F.SND_UD & _FUNCTION and ci == F.CI_SELECT and a == F.ADDR_SELECTED and len(data) >= 8:
                s.selected = selects(data[:8], s.secondary)
                if s.selected:
                    s.requests += 1
                    answer = s._ack()
            elif function == F.SND_UD & _FUNCTION and ci == F.CI_DESELECT and a == F.ADDR_SELECTED and len(data) >= 8:
                if selects(data[:8], s.secondary):
                    s.selected = False
                    answer = s._ack()
            elif function == F.SND_UD & _FUNCTION and s.addressed(a):  # application reset, data, baud
                s.requests += 1
                if ci == F.CI_APP_RESET:
                    s.index = -1
                answer = s._ack()
            if answer is not None and a != F.ADDR_BROADCAST:  # broadcasts get no answer
                answers.append(answer)
        if len(answers) > 1:
            self.collisions += 1
        return answers


def merge(answers, byte_ms):
    """Answers (delay_ms, bytes) as the master's UART receives them: [(time_ms, byte)]
    in time order. One answer passes as it is. Answers that overlap are combined bit
    by bit (8E1 characters; a bit is a space if any slave sends a space, as with current
    modulation), and the combined line is decoded as a UART does: a character with a
    parity or stop-bit error is lost. So a collision drops and garbles bytes."""
    if len(answers) == 1:
        delay_ms, data = answers[0]
        return [(delay_ms + i * byte_ms, data[i]) for i in range(len(data))]
    if not answers:
        return []
    bit_ms = byte_ms / BITS_PER_BYTE
    starts = [int(delay_ms / bit_ms + 0.5) for delay_ms, _ in answers]
    total = max(s + len(d) * BITS_PER_BYTE for s, (_, d) in zip(starts, answers)) + BITS_PER_BYTE
    line = bytearray(b"\x01" * total)  # idle: mark
    for start, (_, data) in zip(starts, answers):
        p = start
        for byte in data:
            bits = _char_bits(byte)
            for i in range(BITS_PER_BYTE):
                if not (bits >> i) & 1:
                    line[p + i] = 0
            p += BITS_PER_BYTE
    out = []
    p = 0
    while p + BITS_PER_BYTE <= total:
        if line[p]:
            p += 1
            continue
        value = 0
        ones = 0
        for i in range(8):
            if line[p + 1 + i]:
                value |= 1 << i
                ones += 1
        if (ones + line[p + 9]) & 1 == 0 and line[p + 10]:
            out.append((p * bit_ms, value))
            p += BITS_PER_BYTE
        else:
            p += 1  # parity or framing error: the character is lost, hunt for the next start
    return out


def _char_bits(byte):
    """An 8E1 character, first bit in bit 0: start 0, data LSB first, even parity, stop 1."""
    parity = 0
    for i in range(8):
        parity ^= (byte >> i) & 1
    return (byte << 1) | (parity << 9) | (1 << 10)


def frame_length(buf):
    """Length of the frame at buf[0]: >0 known, 0 need more, -1 no frame start."""
    return F.frame_length(buf, len(buf))


valid_request = F.is_request


class RequestAssembler:
    """Master frames from a byte stream; anything else is skipped and counted."""

    def __init__(self):
        self.buf = bytearray()
        self.garbage = 0

    def push(self, data):
        """Add bytes; return the complete valid requests found."""
        buf = self.buf + data  # (MicroPython: no del on bytearray slices)
        found = []
        p = 0
        while p < len(buf):
            need = frame_length(buf[p:p + 2])
            if need < 0:
                p += 1
                self.garbage += 1
                continue
            if need == 0 or len(buf) - p < need:
                break
            candidate = bytes(buf[p:p + need])
            if valid_request(candidate):
                found.append(candidate)
                p += need
            else:
                p += 1
                self.garbage += 1
        self.buf = bytearray(buf[p:])
        return found


def build_devices(specs, faults=()):
    """Slaves from device specs (dicts as DEFAULT_DEVICES) and fault strings
    "NAME:KIND[:ARG[:COUNT]]"."""
    slaves = []
    for spec in specs:
        slaves.append(Slave(spec["name"], [frame_bytes(f) for f in spec["frames"]], primary=spec.get("primary"),
                            delay_ms=spec.get("delay_ms", 20), fault=spec.get("fault"),
                            fault_arg=spec.get("fault_arg"), fault_count=spec.get("fault_count", 0),
                            id_digits=spec.get("id")))
    for text in faults:
        parts = text.split(":")
        if len(parts) < 2 or parts[1] not in FAULTS:
            raise ValueError("fault must be NAME:KIND[:ARG[:COUNT]] with KIND in %s: %r" % (", ".join(FAULTS), text))
        for s in slaves:
            if s.name == parts[0]:
                s.fault = parts[1]
                s.fault_arg = parts[2] if len(parts) > 2 and parts[2] else None
                s.fault_left = int(parts[3]) if len(parts) > 3 else 0
                break
        else:
            raise ValueError("no device named %r" % parts[0])
    return slaves


# -- the process: a pty at real byte timing (CPython) ---------------------------------


def serve(fd, bus, baudrate, log=None, stop_after_s=None):
    """Answer requests on fd until it closes (or stop_after_s): paced at the baud rate."""
    import os
    import select
    import time

    byte_s = BITS_PER_BYTE / baudrate
    assembler = RequestAssembler()
    out = []  # [(due_monotonic, byte)], in time order
    first_byte_at = None  # when the request being received began
    began = time.monotonic()
    os.set_blocking(fd, False)
    while True:
        now = time.monotonic()
        if stop_after_s is not None and now - began > stop_after_s:
            return
        # Bytes due on the wire now go out together (one write per wake-up).
        due = 0
        while due < len(out) and out[due][0] <= now:
            due += 1
        if due:
            chunk = bytes(b for _, b in out[:due])
            del out[:due]
            try:
                os.write(fd, chunk)
            except BlockingIOError:
                pass
            except OSError:
                return
        timeout = max(0.0, out[0][0] - time.monotonic()) if out else 1.0
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            continue
        except OSError:
            return  # the far end is gone
        if not data:
            return
        now = time.monotonic()
        if first_byte_at is None or not assembler.buf:
            first_byte_at = now
        if bus.echo:
            at = max(now, out[-1][0] + byte_s) if out else now
            out.extend((at + (i + 1) * byte_s, b) for i, b in enumerate(data))
        for request in assembler.push(data):
            # The request has left the wire when its last byte would have at the line rate.
            wire_end = max(now, first_byte_at + len(request) * byte_s)
            answers = bus.handle(request)
            if log:
                log("%.3f rx %s -> %d answer(s)" % (now - began, request.hex(), len(answers)))
            # A UART hands a byte over when its stop bit has ended: one byte time after it began.
            for t_ms, b in merge(answers, byte_s * 1000):
                out.append((wire_end + t_ms / 1000 + byte_s, b))
            out.sort(key=lambda e: e[0])
            first_byte_at = now


def main(argv=None):
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--fd", type=int, help="inherited pty master (or stream) file descriptor")
    where.add_argument("--pty", action="store_true", help="open a pty pair; print its slave path first")
    parser.add_argument("--baud", type=int, default=2400, choices=(300, 2400, 9600))
    parser.add_argument("--config", help="JSON file: a list of devices like DEFAULT_DEVICES")
    parser.add_argument("--echo", action="store_true", help="echo the master's bytes (level converter)")
    parser.add_argument("--fault", action="append", default=[], help="NAME:KIND[:ARG[:COUNT]]")
    parser.add_argument("--verbose", action="store_true", help="log each request on stderr")
    parser.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    args = parser.parse_args(argv)
    specs = DEFAULT_DEVICES
    if args.config:
        with open(args.config) as f:
            specs = json.load(f)
    try:
        bus = Bus(build_devices(specs, args.fault), echo=args.echo)
    except (ValueError, KeyError) as exc:
        parser.error(str(exc))
    fd = args.fd
    if args.pty:
        import tty

        fd, slave = os.openpty()
        tty.setraw(slave)
        print("pty " + os.ttyname(slave), flush=True)
    for s in bus.slaves:
        sec = s.secondary
        print("slave %s primary %s secondary %02X%02X%02X%02X delay %d ms%s" % (
            s.name, s.primary, sec[3], sec[2], sec[1], sec[0], s.delay_ms,
            " fault " + s.fault if s.fault else ""), file=sys.stderr, flush=True)

    def log(text):
        print(text, file=sys.stderr, flush=True)

    log("ready: %d slaves at %d baud%s" % (len(bus.slaves), args.baud, ", echo" if bus.echo else ""))

    try:
        serve(fd, bus, args.baud, log if args.verbose else None, args.seconds)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
