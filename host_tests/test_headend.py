# test: cpython-only
# The head-end (tools/headend.py) and the simulation's telegrams: accepted with the key
# from headend-keys.json (MAC verified), counters strictly increasing across a restart
# of the meter process, replays rejected with the counter persisted, keys never printed.

import json
import os
import subprocess
import sys

import support
from headend import HeadEnd, load_keys
from wmbus import records, telegram
from wmbus.errors import WMBusError

PY = sys.executable
KEY = bytes(range(0x30, 0x40))


def _telegrams(counters, key=KEY, meter_id="12345678", fmt="A"):
    b = telegram.Builder("QQQ", meter_id, 1, 2, key, mode=7, fmt=fmt)
    out = []
    for c in counters:
        buf = b.payload_buffer()
        pos = records.put_dif(buf, 0, records.INT32, records.VIF_ENERGY_WH)
        pos = records.put_int(buf, pos, 1000 + c, 4)
        out.append(bytes(b.build(pos, c)))
    return out


def _keys_file(folder, key=KEY, meter_id="12345678"):
    path = folder + "/headend-keys.json"
    with open(path, "w") as f:
        json.dump({meter_id: {"key": key.hex().upper()}}, f)
    return path


def test_accepts_then_rejects_replays_across_restarts():
    folder = support.tmpdir("he")
    keys = load_keys(_keys_file(folder))
    state = folder + "/state.json"
    t1, t2, t3 = _telegrams([5, 6, 7])
    he = HeadEnd(keys, state)
    assert he.receive(t2)["import_wh"] == 1006
    assert support.raises(WMBusError, he.receive, t1).reason == "replay"
    again = HeadEnd(keys, state)  # a restarted head-end remembers the last counter
    assert support.raises(WMBusError, again.receive, t2).reason == "replay"
    out = again.receive(t3)
    assert out["counter"] == 7 and out["mac_verified"] and out["meter"] == "12345678"
    assert again.rejected == {"replay": 1}
    support.rmtree(folder)


def test_wrong_key_and_unknown_meter():
    folder = support.tmpdir("he")
    he = HeadEnd(load_keys(_keys_file(folder, key=bytes(16))), None)
    (t,) = _telegrams([1])
    assert support.raises(WMBusError, he.receive, t).reason == "bad_mac"
    (other,) = _telegrams([1], meter_id="99999999")
    assert support.raises(WMBusError, he.receive, other).reason == "no_key"
    corrupt = bytearray(t)
    corrupt[20] ^= 1
    assert support.raises(WMBusError, he.receive, bytes(corrupt)).reason == "bad_crc"
    support.rmtree(folder)


def test_cli_reads_a_hex_file():
    folder = support.tmpdir("he")
    keys = _keys_file(folder)
    with open(folder + "/t.hex", "w") as f:
        for t in _telegrams([1, 2, 2, 3], fmt="B"):
            f.write(t.hex().upper() + "\n")
        f.write("zz\n")
    proc = subprocess.run([PY, support.REPO + "/tools/headend.py", "--keys", keys, folder + "/t.hex"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["counter"] for x in lines] == [1, 2, 3]
    summary = json.loads(proc.stderr.splitlines()[-1])["summary"]
    assert summary == {"accepted": 3, "rejected": {"replay": 1, "not_hex": 1}}
    assert KEY.hex() not in (proc.stdout + proc.stderr).lower()
    support.rmtree(folder)


def _sim(out, seconds):
    proc = subprocess.run([PY, support.REPO + "/tools/sim.py", "--seconds", str(seconds), "--speed", "60",
                           "--out", out, "--no-mep-device"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def test_sim_telegrams_accepted_and_counters_rise_across_a_restart():
    out = support.tmpdir("sim")
    printed = _sim(out, 8)
    with open(out + "/telegrams.hex") as f:
        first_run = len(f.read().split())
    printed += _sim(out, 8)  # the meter process starts again on the same storage
    with open(out + "/headend-keys.json") as f:
        keys = json.load(f)
    assert list(keys) == ["12345678"] and len(keys["12345678"]["key"]) == 32
    proc = subprocess.run([PY, support.REPO + "/tools/headend.py", "--keys", out + "/headend-keys.json",
                           "--state", out + "/fresh-state.json", "--strict", out + "/telegrams.hex"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    total = len(lines)
    assert first_run >= 3 and total - first_run >= 3
    counters = [x["counter"] for x in lines]
    assert all(a < b for a, b in zip(counters, counters[1:])), counters
    assert all(x["mode"] == 7 and x["mac_verified"] and x["format"] == "A" for x in lines)
    assert lines[-1]["import_wh"] >= lines[0]["import_wh"]
    # The live head-end in the simulation accepted them too, and nothing printed the key.
    with open(out + "/summary.json") as f:
        assert json.load(f)["headend"]["rejected"] == {}
    key_hex = keys["12345678"]["key"].lower()
    for name in os.listdir(out):
        path = out + "/" + name
        if os.path.isfile(path) and name != "headend-keys.json":
            with open(path, errors="replace") as f:
                assert key_hex not in f.read().lower(), name
    assert key_hex not in printed.lower()
    support.rmtree(out)


def test_live_air_reception():
    import asyncio
    import io
    from headend import run_air

    frames = _telegrams([1, 2, 1])
    folder = support.tmpdir("he")
    he = HeadEnd(load_keys(_keys_file(folder)), None)

    async def hub(reader, writer):
        for f in frames:
            writer.write(len(f).to_bytes(2, "big") + f)
        await writer.drain()
        writer.close()

    async def main():
        server = await asyncio.start_server(hub, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        out, err = io.StringIO(), io.StringIO()
        await run_air(he, "127.0.0.1:%d" % port, out, err, seconds=5)
        server.close()
        return out.getvalue(), err.getvalue()

    out, err = asyncio.run(main())
    assert [json.loads(x)["counter"] for x in out.splitlines()] == [1, 2]
    assert json.loads(err)["rejected"] == "replay"
    support.rmtree(folder)


def test_counter_rises_across_a_kill_of_the_meter_process():
    # The meter under the MicroPython unix port, SIGKILLed mid-run (a power cut) and
    # started again on the same storage: no counter repeats, the gap is under one block.
    import asyncio
    import signal
    import sim
    from meter.lmn import COUNTER_BLOCK

    out = support.tmpdir("kill")
    storage = out + "/data"
    import provision

    provision.provision_sim(out, storage, out + "/mep", "12345678")
    keys = load_keys(out + "/headend-keys.json")
    frames = []

    async def hub(reader, writer):
        try:
            while True:
                header = await reader.readexactly(2)
                frames.append(await reader.readexactly(int.from_bytes(header, "big")))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    async def boot_and_kill(port, wanted):
        config = {"app": "meter", "meter_id": "12345678",
                  "board": {"speed": 600, "console": "json", "storage_dir": storage, "air": "127.0.0.1:%d" % port}}
        with open(out + "/config.json", "w") as f:
            json.dump(config, f)
        proc = await asyncio.create_subprocess_exec(
            sim.find_micropython(), "-X", "heapsize=512K", sim.HOST_MAIN, "--config", out + "/config.json",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, cwd=support.REPO)
        for _ in range(300):
            if len(frames) >= wanted:
                break
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()

    async def main():
        server = await asyncio.start_server(hub, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        await boot_and_kill(port, 4)
        first = len(frames)
        await boot_and_kill(port, first + 4)
        server.close()
        return first

    first = asyncio.run(main())
    he = HeadEnd(keys, None)
    counters = [he.receive(f)["counter"] for f in frames]  # raises on a replay or a bad MAC
    assert first >= 4 and len(counters) >= first + 4
    assert counters[first] - counters[first - 1] <= COUNTER_BLOCK
    support.rmtree(out)
