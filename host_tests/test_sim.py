# test: cpython-only (starts the simulation: MicroPython processes, ptys, a TCP hub)
# The host simulation as a user runs it: `tools/sim.py --seconds 20 --speed 1440 --out DIR`.
import json
import os
import subprocess
import sys
import time

import support

SIM = os.path.join(support.REPO, "tools", "sim.py")


def run_sim(out, seconds, speed, *extra):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, SIM, "--seconds", str(seconds), "--speed", str(speed), "--out", out] + list(extra),
        capture_output=True, text=True, timeout=seconds + 60,
    )
    return done, time.monotonic() - started


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_sim_runs_for_the_given_seconds_and_leaves_its_outputs():
    out = support.tmpdir("sim")
    done, wall_s = run_sim(out, 20, 1440)
    assert done.returncode == 0, done.stdout + done.stderr
    assert wall_s >= 19, "stopped after %.1f s, before the 20 s asked for" % wall_s
    for name in ("meter.log", "mep_device.log", "readings.jsonl", "events.jsonl", "telegrams.hex", "summary.json"):
        assert os.path.exists(os.path.join(out, name)), name

    readings = read_jsonl(os.path.join(out, "readings.jsonl"))
    assert len(readings) >= 10
    last = readings[-1]
    # The host board's default grid: about 230 V, 50 Hz, a load drawing current.
    assert 200 < last["vrms"] < 260
    assert 49.5 < last["freq_hz"] < 50.5
    assert last["irms"] > 0
    # At x1440, 20 s of wall time is about 8 simulated hours: energy accumulates.
    assert last["import_wh"] > readings[0]["import_wh"]
    # Calendar time in the readings runs about 1440 times faster than the wall.
    span_s = readings[-1]["t"] - readings[0]["t"]
    assert span_s > 1440 * 10

    summary = json.load(open(os.path.join(out, "summary.json")))
    assert summary["devices"]["meter"]["starts"] == 1, summary  # no crash, no watchdog reset
    assert summary["devices"]["mep_device"]["starts"] == 1, summary

    # Registers persist: a second run continues from the checkpoint of the first.
    done, _ = run_sim(out, 5, 1440)
    assert done.returncode == 0, done.stdout + done.stderr
    again = read_jsonl(os.path.join(out, "readings.jsonl"))[len(readings):]
    assert again and again[0]["import_wh"] >= last["import_wh"]
    support.rmtree(out)


def test_sim_help_names_the_signing_key_where_the_first_run_makes_it():
    done = subprocess.run([sys.executable, SIM, "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    assert "OUT/keys/ota-signing.pem" in text, "expected --help to name OUT/keys/ota-signing.pem: %s" % text


def test_sim_refuses_a_speed_below_one():
    done = subprocess.run([sys.executable, SIM, "--speed", "0"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--speed" in done.stderr


def test_air_hub_logs_and_forwards_frames_and_bounds_what_it_buffers():
    import asyncio
    import sim

    out = support.tmpdir("air")

    async def main():
        outputs = sim.Outputs(out)
        hub = sim.AirHub(outputs)
        hub.MAX_BUFFERED_BYTES = 1024
        await hub.start()
        _, sender = await asyncio.open_connection("127.0.0.1", hub.port)
        import socket

        small = socket.socket()
        small.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills up fast once unread
        small.connect(("127.0.0.1", hub.port))
        listener, listener_w = await asyncio.open_connection(sock=small)
        await asyncio.sleep(0.05)
        frame = bytes.fromhex("2E4493157856341233037A2A0020")
        sender.write(len(frame).to_bytes(2, "big") + frame)
        await sender.drain()
        got = await asyncio.wait_for(listener.readexactly(2 + len(frame)), 2)
        assert got[2:] == frame
        # The listener stops reading: the hub keeps at most about MAX_BUFFERED_BYTES for it.
        big = bytes(1000)
        for _ in range(20):
            for _ in range(1000):
                sender.write(len(big).to_bytes(2, "big") + big)
            await sender.drain()
        for _ in range(200):
            if hub.frames == 20001:
                break
            await asyncio.sleep(0.05)
        assert hub.frames == 20001
        assert hub.dropped > 0
        sender.close()
        listener_w.close()
        hub.close()
        outputs.close()

    asyncio.run(main())
    with open(os.path.join(out, "telegrams.hex")) as f:
        lines = f.read().split()
    assert lines[0] == "2E4493157856341233037A2A0020"
    assert len(lines) == 20001
    support.rmtree(out)


def test_ctrl_c_at_the_terminal_stops_every_device_cleanly():
    import signal

    out = support.tmpdir("simint")
    # A terminal's Ctrl-C signals the whole foreground process group.
    sim = subprocess.Popen([sys.executable, SIM, "--speed", "600", "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 30
    readings = os.path.join(out, "readings.jsonl")
    while time.monotonic() < deadline and not (os.path.exists(readings) and os.path.getsize(readings)):
        time.sleep(0.2)
    os.killpg(sim.pid, signal.SIGINT)
    output, _ = sim.communicate(timeout=30)
    assert sim.returncode == 0, output
    summary = json.load(open(os.path.join(out, "summary.json")))
    for name, device in summary["devices"].items():
        assert device["starts"] == 1 and device["exit_codes"] == [0], (name, device)
    with open(os.path.join(out, "meter.log")) as f:
        assert "stopped by keyboard interrupt" in f.read()
    support.rmtree(out)


def test_a_device_that_exits_is_restarted_and_the_restart_is_an_event():
    import asyncio
    import sim

    out = support.tmpdir("restart")
    # Stands in for a firmware whose watchdog fires once: exits 76, then runs.
    script = os.path.join(out, "device.py")
    with open(script, "w") as f:
        f.write(
            "import os, sys, time\n"
            "flag = %r\n"
            "if not os.path.exists(flag):\n"
            "    open(flag, 'w').close()\n"
            "    print('{\"kind\": \"log\", \"level\": \"error\", \"tag\": \"wdt\", \"msg\": \"starved\"}', flush=True)\n"
            "    sys.exit(76)\n"
            "print('{\"kind\": \"device\", \"t\": 0, \"uptime_s\": 1}', flush=True)\n"
            "time.sleep(30)\n" % os.path.join(out, "ran-once")
        )

    class ScriptDevice(sim.Device):
        def argv(self):
            return [sys.executable, script]

    async def main():
        outputs = sim.Outputs(out)
        view = sim.LiveView(outputs, 1)
        seen = []

        def on_status(source, fields):
            seen.append(fields)
            view.on_status(source, fields)

        device = ScriptDevice("dev", sys.executable, "512K", {}, outputs, on_status)
        run = asyncio.create_task(device.run())
        for _ in range(100):
            if any(f.get("kind") == "device" for f in seen):
                break
            await asyncio.sleep(0.05)
        await device.stop()
        await run
        device.close()
        outputs.close()
        return device, seen

    device, seen = asyncio.run(main())
    assert device.starts == 2
    assert device.exits[0] == 76
    assert {"kind": "restart", "why": "watchdog"} in seen
    events = read_jsonl(os.path.join(out, "events.jsonl"))
    assert [(e["source"], e.get("msg")) for e in events if e["kind"] == "log"] == [("dev", "starved")]
    assert [(e["source"], e["why"]) for e in events if e["kind"] == "restart"] == [("dev", "watchdog")]
    support.rmtree(out)


def _run_loop_in_thread(main, timeout_s):
    """Run main() on its own loop in a daemon thread; None if it did not finish in time
    (a loop blocked in a system call can only be abandoned, not cancelled)."""
    import asyncio
    import threading

    result = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(main())), daemon=True)
    thread.start()
    thread.join(timeout_s)
    return result[0] if result else None


def test_pty_link_bounds_what_it_buffers_for_a_device_that_does_not_read():
    import asyncio
    import sim

    link = sim.PtyLink("t")
    # The meter writes to its end; nobody reads the other end (no --mep-device, or restarting).
    writer = os.open(link.a_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)

    async def main():
        loop = asyncio.get_running_loop()
        link.start(loop)
        ticks = 0
        sent = 0
        chunk = bytes(range(256)) * 16
        while sent < 300 * 1024:
            try:
                sent += os.write(writer, chunk)
            except BlockingIOError:
                pass
            await asyncio.sleep(0.002)
            ticks += 1
        for _ in range(50):  # let the relay catch up with what is in the pty
            await asyncio.sleep(0.01)
        link.close(loop)
        return sent, ticks

    try:
        done = _run_loop_in_thread(main, 30)
        assert done is not None, "the event loop blocked writing into a full pty master"
        sent, ticks = done
        assert link.bytes_a_to_b == sent
        assert link.dropped_a_to_b > 0
        assert link.buffered <= link.MAX_BUFFERED_BYTES
        assert link.dropped_b_to_a == 0 and link.bytes_b_to_a == 0
    finally:
        os.close(writer)


def test_pty_masters_that_fail_reads_are_not_polled_in_a_busy_loop():
    import asyncio
    import sim

    link = sim.PtyLink("t")
    port = sim.PtyPort("p")
    # No slave open at all: reading a master fails with EIO, and it polls readable forever.
    for owner, attr in ((link, "a_slave"), (link, "b_slave"), (port, "slave")):
        os.close(getattr(owner, attr))
        setattr(owner, attr, os.open(os.devnull, os.O_RDONLY))  # for close() to close
    calls = {"link": 0, "port": 0}
    relay, drain = link._relay, port._drain

    def counting_relay(*args):
        calls["link"] += 1
        relay(*args)

    def counting_drain():
        calls["port"] += 1
        drain()

    link._relay, port._drain = counting_relay, counting_drain

    async def main():
        loop = asyncio.get_running_loop()
        link.start(loop)
        port.start(loop)
        await asyncio.sleep(1.2)
        link.close(loop)
        port.close(loop)
        return True

    assert _run_loop_in_thread(main, 30)
    # A busy loop calls each thousands of times a second; with the back-off, a few times.
    assert 1 <= calls["link"] <= 2 * 5, calls
    assert 1 <= calls["port"] <= 5, calls


def test_a_device_printing_an_over_long_line_is_still_read_to_the_end():
    import asyncio
    import sim

    out = support.tmpdir("longline")
    script = os.path.join(out, "device.py")
    with open(script, "w") as f:
        f.write(
            "import sys\n"
            "print('{\"kind\": \"device\", \"t\": 0, \"uptime_s\": 0}', flush=True)\n"
            "print('x' * 100000, flush=True)\n"  # a 100 KB line: over asyncio's 64 KiB limit
            "for i in range(1, 2001):\n"  # then more than a pipe holds: blocks if not drained
            "    print('{\"kind\": \"device\", \"t\": 0, \"uptime_s\": %d}' % i)\n"
            "sys.stdout.flush()\n"
        )

    class ScriptDevice(sim.Device):
        def argv(self):
            return [sys.executable, script]

    async def main():
        outputs = sim.Outputs(out)
        seen = []
        device = ScriptDevice("dev", sys.executable, "512K", {}, outputs, lambda s, f: seen.append(f))
        run = asyncio.create_task(device.run())
        for _ in range(200):
            if device.exits:
                break
            await asyncio.sleep(0.05)
        await device.stop()
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        device.close()
        outputs.close()
        return device, seen

    device, seen = asyncio.run(main())
    assert device.exits and device.exits[0] == 0, device.exits  # it ran to the end, not blocked
    assert [f["uptime_s"] for f in seen if f.get("kind") == "device"] == list(range(2001))
    with open(os.path.join(out, "dev.log")) as f:
        log = f.read().splitlines()
    assert log[1] == "[sim] skipped an over-long line of 100000 bytes (limit 65536)"
    assert log[2] == '{"kind": "device", "t": 0, "uptime_s": 1}'
    support.rmtree(out)


def test_a_new_users_run_utility_messages_summary_and_outputs():
    # Issue 12, what a new user trips on: mep_utility.py says what it sent and what became
    # of it; summary.json has no null MEP entry and counts this run's telegrams and those
    # telegrams.hex holds (every run's); the first reading is a valid one.
    import signal

    out = support.tmpdir("simuser")
    utility = os.path.join(support.REPO, "tools", "mep_utility.py")
    telegrams = []  # each run's count
    for run in range(2):
        sim = subprocess.Popen([sys.executable, SIM, "--speed", "60", "--out", out, "--tariff-every", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            readings = os.path.join(out, "readings.jsonl")
            while not (os.path.exists(readings) and os.path.getsize(readings)):
                assert time.monotonic() < deadline, "no reading within 60 s"
                time.sleep(0.2)
            if run == 0:
                first = read_jsonl(readings)[0]
                assert first["vrms"] > 0 and first["freq_hz"] > 0, "the first reading is not a valid one: %r" % first
                done = subprocess.run([sys.executable, utility, "--out", out, "urgent", "--app", "1", "Grid notice"],
                                      capture_output=True, text=True, timeout=120)
                assert done.returncode == 0, done.stdout + done.stderr
                assert 'sent {"urgent": {"app": 1, "text": "Grid notice"}}' in done.stdout, done.stdout
                assert "acknowledged by the MEP device: success" in done.stdout, done.stdout
                done = subprocess.run([sys.executable, utility, "--out", out, "tariff", "2"],
                                      capture_output=True, text=True, timeout=120)
                assert done.returncode == 0 and "taken by the meter" in done.stdout, done.stdout + done.stderr
            else:
                time.sleep(3)  # a short second run
        finally:
            sim.send_signal(signal.SIGINT)
            output, _ = sim.communicate(timeout=60)
        assert sim.returncode == 0, output
        summary = json.load(open(os.path.join(out, "summary.json")))
        with open(os.path.join(out, "telegrams.hex")) as f:
            lines = f.read().split()
        assert summary["telegrams_in_file"] == len(lines), "summary counts %d telegrams, telegrams.hex holds %d" % (
            summary["telegrams_in_file"], len(lines))
        telegrams.append(summary["telegrams"])
        assert sum(telegrams) == len(lines), "this run's telegrams %r do not add up to the file's %d" % (
            telegrams, len(lines))
        assert "mep_bytes" not in summary and summary["mep"]["link"] in ("socat", "relay"), summary.get("mep")
        assert None not in summary["mep"].values(), summary["mep"]
    support.rmtree(out)
