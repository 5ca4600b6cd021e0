# A scripted MEP device for the two-process tests (run under the MicroPython unix port):
#
#   MICROPYPATH=$(python3 tools/repo_paths.py micropython) micropython host_tests/mep_probe.py PTY STORAGE_DIR [bench N]
#
# Opens the MEP port on the pty with the host board's UART, takes the MEP key from the
# key store in STORAGE_DIR, runs the steps below against a real meter process and prints
# one JSON line per step. With "bench N" it times N real-time table reads instead.

import sys

import asyncio
import json
import struct
import rt
from hostuart import HostUART
from board import board_secret
from security.keystore import KeyStore
from mep import tables as T
from mep.client import Client
from mep.secure import LinkKeys


def say(step, **fields):
    fields["step"] = step
    print(json.dumps(fields))


async def steps(c):
    ident = T.decode_ident(await c.read(T.IDENT))
    say("ident", meter_id=ident["meter_id"], resyncs=c.resyncs)
    for _ in range(40):  # the meter's first measurement period may not have ended yet
        values = T.decode_realtime(await c.read(T.REALTIME))
        if values["vrms"] > 0:
            break
        await asyncio.sleep(0.25)
    say("realtime", vrms=values["vrms"], import_wh=values["import_wh"])
    say("partial", data=(await c.read(T.IDENT, 4, 4)).hex())
    await c.write(T.OVERRIDES, T.encode_overrides(T.OVERRIDE_SETPOINT, 19.5, 4000000000))
    say("override", setpoint_c=T.decode_overrides(await c.read(T.OVERRIDES))["setpoint_c"])
    try:
        await c.write(T.TARIFF, b"\x02")
        say("readonly", code=0)
    except Exception as exc:
        say("readonly", code=getattr(exc, "code", -1))
    answer = await c.procedure(T.PROC_ACK_ALERT, bytes([0x1E]))
    say("procedure", result=answer["result"])
    say("ready")
    alerts = 0
    for _ in range(20):  # other alerts (events of the steps above) may come first
        if await c.listen(2000):
            alerts += 1
        c.alert_pending = False
        st = T.decode_status(await c.read(T.ALERT_STATUS))
        if st["flags"] & T.ALERT_URGENT:
            break
        await c.procedure(T.PROC_ACK_ALERT, bytes([st["flags"] & 0x1E]))
    say("alert", alert=alerts > 0, flags=st["flags"], queued=st["urgent_queued"])
    entry = T.decode_urgent(await c.read(T.URGENT))
    answer = await c.procedure(T.PROC_ACK_URGENT, struct.pack(">IB", entry["id"], 0))
    after = T.decode_urgent(await c.read(T.URGENT))
    say("urgent", text=entry["data"].decode(), ack=answer["result"], after=after)
    texts = []
    for _ in range(3):
        area = T.decode_nonurgent(await c.read(T.NONURGENT))
        texts.append([item[1].decode() for item in area["items"]])
    say("nonurgent", reads=texts, generation=area["generation"])
    say("tariff", active=T.decode_tariff(await c.read(T.TARIFF))["active"])
    say("done", counters=c.counters())


async def bench(c, n):
    await c.read(T.REALTIME)  # resynchronise first
    times_us = []
    sizes = (0, 0)
    for _ in range(n):
        sent = c.port.tx_bytes
        got = c.port.rx_bytes
        t0 = rt.ticks_us()
        await c.read(T.REALTIME)
        times_us.append(rt.ticks_diff(rt.ticks_us(), t0))
        sizes = (c.port.tx_bytes - sent, c.port.rx_bytes - got)
    times_us.sort()
    say("bench", reads=n, median_us=times_us[n // 2], p95_us=times_us[n * 95 // 100], max_us=times_us[-1],
        request_bytes=sizes[0], response_bytes=sizes[1], timeouts=c.timeouts)


def main():
    pty, storage = sys.argv[1], sys.argv[2]
    key = KeyStore(storage + "/keys", board_secret(storage + "/board.secret")).get("mep")
    port = HostUART("pty:" + pty, baudrate=9600)
    c = Client(port, LinkKeys(key), storage + "/probe-seq", timeout_ms=2000, retries=2, backoff_ms=100)
    if len(sys.argv) > 4 and sys.argv[3] == "bench":
        asyncio.run(bench(c, int(sys.argv[4])))
    else:
        asyncio.run(steps(c))


main()
