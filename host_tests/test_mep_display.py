# test: cpython-only
# The in-home display page in headless Chromium (Debian's chromium, driven by
# Playwright): the simulation runs the meter and the MEP device; the page loads, shows
# what the meter reports, and updates in place when the tariff changes and a message
# arrives.

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import mep_sim
import support

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _state(url):
    with urllib.request.urlopen(url + "api/state", timeout=2) as r:
        return json.loads(r.read())


# Limits that only end a hang: a loaded machine starts the simulation (meter, MEP device,
# M-Bus slaves, display) and its periods slowly, and a browser on top of it is slower still.
HANG_S = 180


def _wait_page(page, expression, what):
    """Wait until the page's expression holds; on a hang, fail saying what the page showed."""
    from playwright.sync_api import TimeoutError as PageTimeout
    try:
        page.wait_for_function(expression, timeout=HANG_S * 1000)
    except PageTimeout:
        raise AssertionError("%s: not within %d s; the page showed %r" % (
            what, HANG_S, page.text_content("body"))) from None


def _read_jsonl(path):
    with open(path) as f:
        # (complete lines only: the meter may be writing the last one)
        return [json.loads(line) for line in f if line.endswith("\n") and line.strip()]


def test_display_page_shows_meter_values_and_updates_without_reload():
    if not os.path.exists(CHROMIUM) or not shutil.which("socat"):
        support.skip("needs Debian's chromium and socat")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        support.skip("playwright is not installed")
    out = support.tmpdir("mepdisp")
    port = mep_sim.free_port()
    url = "http://127.0.0.1:%d/" % port
    sim = subprocess.Popen([sys.executable, "tools/sim.py", "--seconds", "0", "--speed", "60", "--out", out,
                            "--display-port", str(port), "--tariff-every", "0"],
                           cwd=support.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # (--seconds 0: the simulation runs until the SIGINT below, however slow the machine)
        deadline = time.monotonic() + HANG_S
        seen = "no answer yet"
        while True:
            try:
                state = _state(url)
                if state["link"] == "up":
                    break
                seen = "state %r" % (state,)
            except OSError as exc:
                seen = "%s: %s" % (type(exc).__name__, exc)
            assert sim.poll() is None, "the simulation ended (exit %r) before the display's link came up; last: %s" % (
                sim.returncode, seen)
            assert time.monotonic() < deadline, "display link not up within %d s; last: %s" % (HANG_S, seen)
            time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(url)
            # (up once the meter's first measurement period has ended)
            _wait_page(page, "document.getElementById('link').textContent === 'up'"
                       " && Number(document.getElementById('voltage').textContent) > 0", "link up with a voltage")
            assert page.text_content("#meter_id") == "12345678"
            shown_volts = float(page.text_content("#voltage"))
            assert 200 < shown_volts < 260
            assert page.text_content("#tariff").startswith("day")
            page.evaluate("window.notReloaded = 1")
            # The page's import lies within what the meter reported itself (its readings):
            # a condition, since the page may hold a value from before the meter's first
            # reading, or one the readings file has not caught up with yet.
            readings_path = os.path.join(out, "readings.jsonl")
            deadline = time.monotonic() + HANG_S
            while True:
                shown_import = int(page.text_content("#import"))
                imports = [r["import_wh"] for r in _read_jsonl(readings_path)] if os.path.exists(readings_path) else []
                if imports and min(imports) <= shown_import <= max(imports):
                    break
                assert time.monotonic() < deadline, "page import %d Wh never within the meter's readings %r" % (
                    shown_import, imports)
                time.sleep(0.5)
            first_power = page.text_content("#power")
            # The utility changes the tariff and sends a message: the page follows in place.
            mep_sim.write_inbox(os.path.join(out, mep_sim.INBOX), {"tariff": 2})
            mep_sim.write_inbox(os.path.join(out, mep_sim.INBOX),
                                {"nonurgent": [{"app": 1, "text": "Peak hours start now"}]})
            _wait_page(page, "document.getElementById('tariff').textContent.indexOf('peak') === 0",
                       "the peak tariff shown")
            _wait_page(page, "document.getElementById('messages').textContent.indexOf('Peak hours') >= 0",
                       "the utility's message listed")
            _wait_page(page, "document.getElementById('power').textContent !== %s" % json.dumps(first_power),
                       "the power updated in place from %s" % first_power)
            # Only texts in the message list (the welcome note's thermostat setting is not one);
            # M-Bus meters by medium name, with their manufacturer once read.
            shown = page.text_content("#messages")
            assert "offset_c" not in shown and "Welcome" in shown, "message list: %r" % shown
            _wait_page(page, "document.getElementById('mbus').textContent.indexOf('gas meter') >= 0",
                       "the gas meter listed by medium name")
            assert "medium " not in page.text_content("#mbus"), page.text_content("#mbus")
            assert page.evaluate("window.notReloaded") == 1
            # The thermostat (asleep part of the time; its tariff change waits in the
            # dispatcher) follows the tariff: 21 C base, -3 C in the peak tariff.
            _wait_page(page, "Number(document.getElementById('setpoint').textContent) === 18",
                       "the thermostat's setpoint 18 C in the peak tariff")
            # The customer's override goes back to the meter (ET21).
            answer = page.evaluate("fetch('/api/override?setpoint_c=22.5&hours=1', {method: 'POST'})"
                                   ".then(function (r) { return r.json(); })")
            assert answer["setpoint_c"] == 22.5
            _wait_page(page, "Number(document.getElementById('setpoint').textContent) === 22.5",
                       "the customer's override 22.5 C shown")
            browser.close()
        deadline = time.monotonic() + HANG_S
        while True:
            with open(os.path.join(out, "meter.log")) as f:
                overrides = [json.loads(x) for x in f if x.startswith('{"') and '"mep_override"' in x]
            if overrides:
                break
            assert time.monotonic() < deadline, "no mep_override record in meter.log within %d s" % HANG_S
            time.sleep(0.5)
        assert overrides[-1]["setpoint_c"] == 22.5
    finally:
        sim.send_signal(signal.SIGINT)
        try:
            sim.wait(20)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait()
    _assert_key_in_no_output(out)
    support.rmtree(out)


def _assert_key_in_no_output(out):
    """The MEP key is in both key stores (sealed) and nowhere else the run left, but for
    the files whose job is to hand keys to the utility's tools (test_security_sim.EXEMPT)."""
    from board import board_secret
    from security.keystore import KeyStore
    from test_security_sim import EXEMPT

    data = os.path.join(out, "meter", "data")
    key = KeyStore(os.path.join(data, "keys"), board_secret(os.path.join(data, "board.secret"))).get("mep")
    forms = (key, key.hex().encode(), key.hex().upper().encode())
    for folder, _, files in os.walk(out):
        for name in files:
            if os.path.relpath(os.path.join(folder, name), out) in EXEMPT:
                continue
            with open(os.path.join(folder, name), "rb") as f:
                content = f.read()
            for form in forms:
                assert form not in content, os.path.join(folder, name)
