# test: cpython-only
# The head-end (tools/headend.py) and the simulation's telegrams: accepted with the key
# from headend-keys.json (MAC verified), counters strictly increasing across a restart
# of the meter process, replays rejected with the counter persisted, keys never printed.

import json
import os
import subprocess
import sys

import support
from headend import HeadEnd, load_keys, load_modes
from wmbus import builder, frame, records
from wmbus.errors import WMBusError

PY = sys.executable
KEY = bytes(range(0x30, 0x40))


def _telegrams(counters, key=KEY, meter_id="12345678", fmt="A"):
    b = builder.Builder("QQQ", meter_id, 1, 2, key, mode=7, fmt=fmt)
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


# -- issue 12 items 1-2: downgrades, a rewritten AFL CI and a poisoned compact-format cache --

# Meter 12345678, no AFL, no MAC, TPL mode 0: import_wh 999999999 (the reproduction).
UNENCRYPTED = "144431467856341201023BF67A010000000403FFC99A3B68C8"
# A full frame of meter 99999999 (no key) whose DIF/VIF bytes give R14's compact signature.
POISON = "25448b069999999901077a0100000032ff6c0000041600000000243c00000000614300310200"


def _run_cli(folder, keys, lines, *extra):
    with open(folder + "/t.hex", "w") as f:
        f.write("\n".join(lines) + "\n")
    command = [PY, support.REPO + "/tools/headend.py", "--keys", keys, "--state", folder + "/s.json"]
    proc = subprocess.run(command + list(extra) + [folder + "/t.hex"], capture_output=True, text=True, timeout=60)
    out = [json.loads(x) for x in proc.stdout.splitlines()]
    err = [json.loads(x) for x in proc.stderr.splitlines()]
    return proc.returncode, out, err


def test_unencrypted_telegram_of_a_keyed_meter_is_refused_and_strict_fails():
    folder = support.tmpdir("he")
    keys = _keys_file(folder)
    code, out, err = _run_cli(folder, keys, [UNENCRYPTED], "--strict")
    assert out == [], "an unauthenticated reading of a keyed meter was accepted: %r" % out
    assert err[0]["rejected"] == "wrong_mode" and "must use security 7" in err[0]["detail"], err
    assert err[-1]["summary"] == {"accepted": 0, "rejected": {"wrong_mode": 1}}
    assert code == 1, "--strict must exit 1 on a refusal"
    support.rmtree(folder)


def _with_afl_ci(air, ci):
    """The telegram with its AFL CI byte replaced and the format A CRCs made right again."""
    plain = bytearray(frame.strip_crcs(air, "A"))
    at = plain.index(0x90, 10)  # after L C M A (and the ELL), the AFL
    plain[at] = ci
    out = bytearray(frame.on_air_len(len(plain), "A"))
    return bytes(out[:frame.add_crcs(plain, len(plain), out, "A")])


def test_changed_afl_ci_is_refused_every_time():
    folder = support.tmpdir("he")
    he = HeadEnd(load_keys(_keys_file(folder)), None)
    (genuine,) = _telegrams([7])
    forged = _with_afl_ci(genuine, 0x91)
    for _ in range(3):  # not once: a replay of it is refused as well
        assert support.raises(WMBusError, he.receive, forged).reason == "wrong_mode"
    assert he.receive(genuine)["counter"] == 7
    assert he.rejected == {"wrong_mode": 3} and he.accepted == 1
    support.rmtree(folder)


def test_mode_5_meter_refuses_mode_7_and_plain_telegrams():
    folder = support.tmpdir("he")
    path = folder + "/keys.json"
    with open(path, "w") as f:
        json.dump({"12345678": {"key": KEY.hex(), "mode": 5}}, f)
    he = HeadEnd(load_keys(path), None, modes=load_modes(path))
    (seven,) = _telegrams([3])
    assert support.raises(WMBusError, he.receive, seven).reason == "wrong_mode"
    b = builder.Builder("QQQ", "12345678", 1, 2, KEY, mode=5, fmt="A")
    pos = records.put_dif(b.payload_buffer(), 0, records.INT32, records.VIF_ENERGY_WH)
    pos = records.put_int(b.payload_buffer(), pos, 42, 4)
    out = he.receive(bytes(b.build(pos, 1)))
    assert out["import_wh"] == 42 and out["security"] == 5
    assert support.raises(WMBusError, he.receive, bytes.fromhex(UNENCRYPTED)).reason == "wrong_mode"
    support.rmtree(folder)


def test_compact_format_cache_is_per_meter_and_learns_only_verified_frames():
    with open(support.REPO + "/host_tests/data/wmbus/wmbus-vectors.json") as f:
        vectors = {v["name"]: v for v in json.load(f)}
    r13, r14 = vectors["R13"], vectors["R14"]
    folder = support.tmpdir("he")
    keys = folder + "/keys.json"
    with open(keys, "w") as f:  # R13/R14: ELL-II AES-CTR, TPL mode 0
        json.dump({"76348799": {"key": r13["key"], "mode": "ell"}}, f)
    code, out, err = _run_cli(folder, keys, [r13["hex"], POISON, r14["hex"]], "--format", "none")
    r14_out = [x for x in out if x["meter"] == "76348799"][-1]
    assert r14_out["volume_m3"] == 6.409, "R14 decoded with a format another meter taught: %r" % r14_out
    # The same three with the poison first and R13 missing: R14's format is unknown, not borrowed.
    code, out, err = _run_cli(folder, keys, [POISON, r14["hex"]], "--format", "none")
    assert [x["meter"] for x in out] == ["99999999"] and out[0]["security"] == "none"
    assert err[0]["rejected"] == "unsupported" and "not learned" in err[0]["detail"], err
    support.rmtree(folder)
