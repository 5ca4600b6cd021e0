# OTA updates (lib/ota): install, switch, boot selection, trial, confirm, revert, and every
# refusal (tampering, wrong key, downgrade, other board, truncation), each logged with the
# running version untouched. Bundles: host_tests/data/ota (made by its make.py).

import json
import sys
from support import REPO, tmpdir, rmtree, raises, run, cpython_only
from store.atomic import AtomicRecord
from store.ring import Ring
from ota import bundle, slots, boot
from ota.bundle import Refused
from ota.receiver import Receiver, hash_file

DATA = REPO + "/host_tests/data/ota/"


def _read(name):
    with open(DATA + name, "rb") as f:
        return f.read()


def _device(anchor="test-anchor.pub"):
    root = tmpdir("ota")
    if anchor:
        AtomicRecord(root + "/keys/ota-anchor.pub").write(_read(anchor))
    return root


def _send(root, data, chunk=1000, board="host", rx=None, bundle_id="b1"):
    rx = rx or Receiver(root, board)
    offset = rx.begin(bundle_id, len(data))
    while offset < len(data):
        offset = rx.write(offset, data[offset: offset + chunk])
    return rx.finish()


def _events(root):
    found = []
    try:
        ring = Ring(root + "/log/system", slots.SYSLOG_SEGMENT_BYTES, slots.SYSLOG_SEGMENTS)
    except OSError:
        return found
    for _, payload in ring.records(0):
        record = json.loads(payload)
        if record.get("kind") == "ota":
            found.append(record)
    return found


def _slot_version(root, slot):
    with open(slots.slot_dir(root, slot) + "/appver.py") as f:
        return f.read().split('"')[1]


def test_install_switches_on_trial():
    root = _device()
    state = _send(root, _read("v1.ota"))
    assert state["active"] == "a" and state["version"] == "1.0" and state["trial"]
    assert state["previous"]["active"] == "factory"
    assert slots.read_state(root) == state
    assert _slot_version(root, "a") == "1.0"
    manifest = bundle.parse_manifest(_head(_read("v1.ota")))
    buf = bytearray(256)
    for entry in manifest["files"]:
        assert hash_file(slots.slot_dir(root, "a") + "/" + entry["path"], buf) == (entry["digest"], entry["size"])
    events = [e["event"] for e in _events(root)]
    assert events == ["download", "switched"]
    rmtree(root)


def _head(data):
    return data[: bundle.head_bytes(data[:8])]


def test_chunk_sizes_and_boundaries():
    # One byte at a time across the head, and chunks that end exactly on file boundaries.
    for chunk in (1, 7, 4096, 100000):
        root = _device()
        data = _read("v1.ota")
        if chunk == 1:
            rx = Receiver(root, "host")
            offset = rx.begin("x", len(data))
            head_len = bundle.head_bytes(data[:8])
            while offset < head_len + 10:
                offset = rx.write(offset, data[offset: offset + 1])
            while offset < len(data):
                offset = rx.write(offset, data[offset: offset + 3000])
            state = rx.finish()
        else:
            state = _send(root, data, chunk)
        assert state["version"] == "1.0"
        rmtree(root)


def test_boot_counts_trial_boots_then_reverts():
    root = _device()
    _send(root, _read("v1.ota"))
    for n in (1, 2, 3):
        slot, state = boot.choose(root)
        assert slot == "a" and state["trial"] and state["boots"] == n
    slot, state = boot.choose(root)  # the 4th boot without a confirmation
    assert slot == "factory" and not state["trial"]
    assert state["note"]["event"] == "reverted" and state["note"]["from_version"] == "1.0"
    rmtree(root)


def test_confirm_raises_floor_and_refuses_downgrade():
    root = _device()
    _send(root, _read("v2.ota"))
    state = slots.confirm(root, slots.read_state(root))
    assert state["floor"] == 2 and not state["trial"] and state["previous"] is None
    before = slots.read_state(root)
    exc = raises(Refused, _send, root, _read("v0.ota"))
    assert exc.reason == bundle.DOWNGRADE
    assert slots.read_state(root) == before
    assert _slot_version(root, "a") == "2.0"
    last = _events(root)[-1]
    assert last["event"] == "refused" and last["reason"] == "downgrade"
    # Same security version, newer application: accepted, into the other slot.
    state = _send(root, _read("v3.ota"))
    assert state["active"] == "b" and state["previous"]["active"] == "a"
    assert _slot_version(root, "a") == "2.0" and _slot_version(root, "b") == "3.0"
    rmtree(root)


def test_no_download_during_trial():
    root = _device()
    _send(root, _read("v1.ota"))
    exc = raises(Refused, _send, root, _read("v2.ota"))
    assert exc.reason == bundle.BUSY
    rmtree(root)


def _refused(data, reason, anchor="test-anchor.pub", board="host"):
    root = _device(anchor)
    _send(root, _read("v1.ota"))
    running = slots.confirm(root, slots.read_state(root))
    exc = raises(Refused, _send, root, data, 1000, board)
    assert exc.reason == reason, (exc.reason, reason)
    assert slots.read_state(root) == running
    assert _slot_version(root, "a") == "1.0"
    last = _events(root)[-1]
    assert last["event"] == "refused" and last["reason"] == reason
    rmtree(root)
    return exc


def test_refuses_wrong_key_other_board_and_no_anchor():
    _refused(_read("otherkey.ota"), bundle.BAD_SIGNATURE)
    _refused(_read("esp32.ota"), bundle.WRONG_BOARD)
    root = _device(anchor=None)
    assert raises(Refused, _send, root, _read("v1.ota")).reason == bundle.NO_ANCHOR
    assert slots.read_state(root)["active"] == "factory"
    rmtree(root)


def _flipped(data, pos, bit=0):
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def test_refuses_any_flipped_bit():
    data = _read("v2.ota")
    head_len = bundle.head_bytes(data[:8])
    # Header (magic, format, length), manifest, signature (r and s), and each file's bytes.
    cases = [(0, bundle.BAD_FORMAT), (4, bundle.BAD_FORMAT), (20, bundle.BAD_SIGNATURE),
             (head_len - 100, bundle.BAD_SIGNATURE), (head_len - 64, bundle.BAD_SIGNATURE),
             (head_len - 1, bundle.BAD_SIGNATURE)]
    manifest = bundle.parse_manifest(_head(data))
    start = head_len
    for entry in manifest["files"]:
        if entry["size"]:
            cases.append((start, bundle.FILE_HASH))
            cases.append((start + entry["size"] - 1, bundle.FILE_HASH))
        start += entry["size"]
    for pos, reason in cases:
        _refused(_flipped(data, pos, pos % 8), reason)
    # The manifest's length field: the signature no longer covers what is parsed.
    root = _device()
    assert raises(Refused, _send, root, _flipped(data, 6, 0)).reason in (bundle.BAD_FORMAT, bundle.BAD_SIGNATURE)
    rmtree(root)


def test_refuses_truncated_and_extended():
    data = _read("v2.ota")
    root = _device()
    rx = Receiver(root, "host")
    offset = rx.begin("t", len(data))
    offset = rx.write(offset, data[: len(data) - 10])
    exc = raises(Refused, rx.finish)
    assert exc.reason == bundle.TRUNCATED
    assert slots.read_state(root)["active"] == "factory"
    assert _events(root)[-1]["reason"] == bundle.TRUNCATED
    # A sender announcing fewer bytes than the manifest lists.
    exc = raises(Refused, _send, root, data[:-10])
    assert exc.reason == bundle.BAD_FORMAT
    # Writes out of order are refused without dropping the download.
    rx = Receiver(root, "host")
    offset = rx.begin("o", len(data))
    offset = rx.write(offset, data[:500])
    assert raises(Refused, rx.write, 0, data[:10]).reason == bundle.OUT_OF_ORDER
    offset = rx.write(offset, data[offset:])
    assert rx.finish()["version"] == "2.0"
    rmtree(root)


def test_resume_after_interruption():
    data = _read("v2.ota")
    root = _device()
    rx = Receiver(root, "host")
    offset = rx.begin("r", len(data))
    offset = rx.write(offset, data[:9000])
    # A new process (a restart): same bundle id and size resume inside the file list.
    rx = Receiver(root, "host")
    again = rx.begin("r", len(data))
    assert bundle.head_bytes(data[:8]) <= again <= 9000
    offset = again
    while offset < len(data):
        offset = rx.write(offset, data[offset: offset + 2048])
    assert rx.finish()["version"] == "2.0"
    assert [e["event"] for e in _events(root)] == ["download", "resumed", "switched"]
    # Another bundle id starts again from 0.
    rmtree(root)


def test_storage_failure_is_a_refusal():
    root = _device()
    with open(root + "/slots", "w") as f:  # the slots folder cannot be made
        f.write("x")
    exc = raises(Refused, _send, root, _read("v1.ota"))
    assert exc.reason == bundle.STORAGE
    assert slots.read_state(root)["active"] == "factory"
    assert _events(root)[-1]["reason"] == bundle.STORAGE
    rmtree(root)


def test_service_needed_only_with_something_to_do():
    root = _device()
    from ota.settings import service_needed

    cfg = {"port": 0}
    assert not service_needed(root, cfg)
    assert service_needed(root, {"port": 4000})
    _send(root, _read("v1.ota"))
    assert service_needed(root, cfg)  # a trial to judge
    state = slots.confirm(root, slots.read_state(root))
    assert not service_needed(root, cfg)
    state["note"] = {"event": "reverted"}
    slots.write_state(root, state)
    assert service_needed(root, cfg)  # a note to log
    rmtree(root)


def test_revert_and_note():
    root = _device()
    _send(root, _read("v1.ota"))
    state = slots.revert(root, slots.read_state(root), "test")
    assert state["active"] == "factory" and state["note"]["reason"] == "test"
    assert boot.choose(root)[0] == "factory"
    rmtree(root)


def test_damaged_state_runs_factory():
    root = _device()
    _send(root, _read("v1.ota"))
    path = root + "/ota/state"
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    raw[-2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(raw)
    assert boot.choose(root)[0] == "factory"
    rmtree(root)


def test_select_puts_only_the_slot_on_the_path():
    root = _device()
    _send(root, _read("v2.ota"))
    saved_path = list(sys.path)
    fake_factory = REPO + "/no-such-factory"
    sys.path.append(fake_factory)
    saved_modules = dict(sys.modules)
    try:
        slot, state = boot.select(root, [fake_factory], keep=list(sys.modules))
        assert slot == "a" and sys.path[0] == slots.slot_dir(root, "a") and fake_factory not in sys.path
        import appver

        assert appver.VERSION == "2.0"
    finally:
        sys.path[:] = saved_path
        for name in list(sys.modules):
            if name not in saved_modules:
                del sys.modules[name]
    rmtree(root)


def test_manifest_checks():
    data = _read("v1.ota")
    head = _head(data)
    manifest = bundle.parse_manifest(head)
    assert manifest["board"] == "host" and len(manifest["files"]) == 4
    assert raises(Refused, bundle.parse_manifest, head[:-1]).reason == bundle.BAD_FORMAT
    assert raises(Refused, bundle.manifest_length, b"MOTA\x02\x00\x10\x00").reason == bundle.BAD_FORMAT
    assert raises(Refused, bundle.manifest_length, b"MOTA\x01\x00\x00\x00").reason == bundle.BAD_FORMAT

    def head_of(obj):
        text = json.dumps(obj).encode()
        return b"MOTA\x01\x00" + bytes([len(text) & 0xFF, len(text) >> 8]) + text + bytes(64)

    good = {"board": "host", "version": "1", "security_version": 1,
            "files": [{"path": "a.py", "size": 1, "sha256": "00" * 32}]}
    assert bundle.parse_manifest(head_of(good))["files"][0]["digest"] == bytes(32)
    bad_paths = ["../x.py", "/abs.py", "a//b.py", "a/./b", "sp ace.py", "", "x" * 97]
    for path in bad_paths:
        m = json.loads(json.dumps(good))
        m["files"][0]["path"] = path
        assert raises(Refused, bundle.parse_manifest, head_of(m)).reason == bundle.BAD_FORMAT
    for key, value in (("security_version", -1), ("security_version", True), ("board", 3), ("version", ""),
                       ("files", []), ("extra", 1)):
        m = json.loads(json.dumps(good))
        m[key] = value
        assert raises(Refused, bundle.parse_manifest, head_of(m)).reason == bundle.BAD_FORMAT
    m = json.loads(json.dumps(good))
    m["files"][0]["sha256"] = "zz" * 32
    assert raises(Refused, bundle.parse_manifest, head_of(m)).reason == bundle.BAD_FORMAT
    m["files"] = [good["files"][0], good["files"][0]]
    assert raises(Refused, bundle.parse_manifest, head_of(m)).reason == bundle.BAD_FORMAT


def _free_port():
    import socket

    s = socket.socket()
    s.bind(socket.getaddrinfo("127.0.0.1", 0)[0][-1])
    port = None
    if hasattr(s, "getsockname"):
        port = s.getsockname()[1]
    s.close()
    if not port:  # the unix port's socket has no getsockname: pick one
        port = 20000 + int.from_bytes(__import__("os").urandom(2), "little") % 20000
    return port


def test_protocol_over_tcp():
    import asyncio
    from ota.server import serve_stream

    root = _device()
    data = _read("v2.ota")
    rx = Receiver(root, "host")
    switched = []
    port = _free_port()

    async def on_switched(state):
        switched.append(state["version"])

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def ask(line, payload=b""):
            writer.write(line.encode() + b"\n" + payload)
            await writer.drain()
            return (await reader.readline()).decode().strip()

        assert (await ask("STATUS")).startswith("STATUS ")
        assert (await ask("BOGUS")).startswith("REFUSED bad-format")
        assert (await ask("DATA 0 5000")).startswith("REFUSED bad-format")
        assert (await ask("HELLO \xff\xfe")).startswith("REFUSED bad-format")
        writer.write(b"\xff\xfe\n")
        assert (await reader.readline()).startswith(b"REFUSED bad-format")
        offset = int((await ask("HELLO id1 %d" % len(data))).split()[1])
        assert offset == 0
        while offset < len(data):
            chunk = data[offset: offset + 4096]
            offset = int((await ask("DATA %d %d" % (offset, len(chunk)), chunk)).split()[1])
        reply = await ask("END")
        writer.close()
        return reply

    async def main():
        server = await asyncio.start_server(lambda r, w: serve_stream(r, w, rx, on_switched), "127.0.0.1", port)
        try:
            return await client()
        finally:
            server.close()

    assert run(main()) == "SWITCHED 2.0" and switched == ["2.0"]
    assert slots.read_state(root)["version"] == "2.0"
    rmtree(root)


def test_protocol_refuses_when_the_heap_is_short():
    # A MemoryError while serving a request is answered, not left to kill the connection.
    import asyncio
    from ota.server import serve_stream, NO_MEMORY

    class ShortOfMemory:
        def status(self):
            raise MemoryError

    port = _free_port()

    async def main():
        server = await asyncio.start_server(lambda r, w: serve_stream(r, w, ShortOfMemory()), "127.0.0.1", port)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"STATUS\n")
            await writer.drain()
            reply = (await reader.readline()).decode().strip()
            writer.close()
            return reply
        finally:
            server.close()

    assert run(main()).startswith("REFUSED " + NO_MEMORY)


def test_protocol_answers_when_the_request_line_finds_no_memory():
    # The request line itself is read inside the handler: a MemoryError there is answered
    # (no-memory, the sender resumes) and the connection closed, not dropped silently.
    from ota.server import serve_stream, NO_MEMORY

    class Reader:
        async def readline(self):
            raise MemoryError

    class Writer:
        def __init__(self):
            self.out = b""
            self.closed = False

        def write(self, data):
            self.out += data

        async def drain(self):
            pass

        def close(self):
            self.closed = True

        async def wait_closed(self):
            pass

    w = Writer()
    run(serve_stream(Reader(), w, None))
    assert w.out.startswith(b"REFUSED " + NO_MEMORY.encode()), "expected a no-memory refusal, got %r" % w.out
    assert w.closed, "expected the connection closed after the refusal"


def test_a_deeply_nested_signed_manifest_is_refused_before_it_is_parsed():
    # Issue 12 item 6: 8 000 nested `[` under a good signature made the parser raise
    # MemoryError (or RecursionError) after seconds; the server answered `no-memory`,
    # which tells a sender to resume. It is a bad-format refusal now, found before parsing.
    data = _read("deep-manifest.ota")
    root = _device()
    exc = raises(Refused, _send, root, data, 4096)
    assert exc.reason == bundle.BAD_FORMAT and "nested" in exc.detail, str(exc)
    assert slots.read_state(root)["active"] == "factory", "nothing was installed"
    last = _events(root)[-1]
    assert last["event"] == "refused" and last["reason"] == bundle.BAD_FORMAT, last
    rmtree(root)
    # Every bound, one at a time, on an unsigned head (parse_manifest checks no signature).
    good = b'{"board":"host","version":"1","security_version":1,"files":[{"path":"a.py","size":1,"sha256":"' \
        + b"00" * 32 + b'"}]}'

    def head_of(text):
        return b"MOTA\x01\x00" + bytes([len(text) & 0xFF, len(text) >> 8]) + text + bytes(64)

    assert bundle.parse_manifest(head_of(good))["board"] == "host"
    deeper = good.replace(b'"size":1', b'"size":[1]')
    assert "nested" in raises(Refused, bundle.parse_manifest, head_of(deeper)).detail
    brackets_in_strings = good.replace(b'"version":"1"', b'"version":"[[[[{{{{"')
    assert bundle.parse_manifest(head_of(brackets_in_strings))["version"] == "[[[[{{{{"
    escaped_quote = good.replace(b'"version":"1"', b'"version":"\\"[[[["')
    assert bundle.parse_manifest(head_of(escaped_quote))["version"] == '"[[[['
    wide = b'{"files":[' + b"0," * bundle.MANIFEST_ITEMS_MAX + b"0]}"
    assert "values" in raises(Refused, bundle.parse_manifest, head_of(wide)).detail


def test_protocol_refuses_a_deep_manifest_for_good_not_for_want_of_memory():
    import asyncio
    from ota.server import serve_stream

    root = _device()
    data = _read("deep-manifest.ota")
    rx = Receiver(root, "host")
    port = _free_port()

    async def client():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def ask(line, payload=b""):
            writer.write(line.encode() + b"\n" + payload)
            await writer.drain()
            return (await reader.readline()).decode().strip()

        replies = [await ask("HELLO deep %d" % (len(data) + 10))]
        offset = 0
        while offset < len(data):
            chunk = data[offset: offset + 4096]
            reply = await ask("DATA %d %d" % (offset, len(chunk)), chunk)
            replies.append(reply)
            if not reply.startswith("OFFSET"):
                break
            offset = int(reply.split()[1])
        # Sending it again starts from scratch (nothing to resume) and is refused the same way.
        replies.append(await ask("HELLO deep %d" % (len(data) + 10)))
        writer.close()
        return replies

    async def main():
        server = await asyncio.start_server(lambda r, w: serve_stream(r, w, rx), "127.0.0.1", port)
        try:
            return await client()
        finally:
            server.close()

    replies = run(main())
    assert replies[-2].startswith("REFUSED bad-format manifest nested deeper"), replies
    assert replies[-1] == "OFFSET 0", replies
    rmtree(root)


@cpython_only
def test_the_sender_stops_on_the_refusal():
    # tools/otatool.py push_tcp (what flash.py ota uses) against the device's server: one
    # attempt, an error naming the reason, no retry.
    import asyncio
    import threading
    from ota.server import serve_stream
    import otatool

    root = _device()
    data = _read("deep-manifest.ota") + bytes(10)
    rx = Receiver(root, "host")
    port = _free_port()
    hellos = []
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    class Counting:
        def __getattr__(self, name):
            return getattr(rx, name)

        def begin(self, bundle_id, total):
            hellos.append(bundle_id)
            return rx.begin(bundle_id, total)

    stop = []

    async def serve():
        server = await asyncio.start_server(lambda r, w: serve_stream(r, w, Counting()), "127.0.0.1", port)
        stop.append(loop.create_future())
        ready.set()
        await stop[0]
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=lambda: loop.run_until_complete(serve()), daemon=True)
    thread.start()
    try:
        assert ready.wait(60), "the test server did not start"
        exc = raises(otatool.OtaToolError, otatool.push_tcp, data, "127.0.0.1", port, lambda *a: None)
        assert "bad-format manifest nested deeper" in str(exc), str(exc)
        assert len(hellos) == 1, "the sender tried once: %r" % hellos
    finally:
        if stop:
            loop.call_soon_threadsafe(stop[0].set_result, None)
        thread.join(60)
        loop.close()
        rmtree(root)


def test_refusals_on_the_update_port_go_through_the_limiter_not_into_the_system_log():
    # Issue 12 item 3: anyone who reaches the update port can make the device refuse (and a
    # signed bundle is public), so refusals must not rotate the system log.
    from security.logs import Logs, UNTRUSTED_PER_MINUTE

    class Fixed:
        t_s = 1_750_000_010

        def time_s(self):
            return self.t_s

    root = _device()
    clock = Fixed()
    logs = Logs(root, clock)
    logs.event("boot")
    rx = Receiver(root, "host", clock)
    rx.system_log = logs.ota
    tries = UNTRUSTED_PER_MINUTE + 10
    for _ in range(tries):
        assert raises(Refused, _send, root, _read("otherkey.ota"), 4096, "host", rx).reason == bundle.BAD_SIGNATURE
    _send(root, _read("v1.ota"), 4096, "host", rx)
    system = [r for _, r in logs.system.records(0, 32)]
    assert [(r["kind"], r.get("event")) for r in system] == [("boot", None), ("ota", "switched")], system
    clock.t_s += 60
    logs.limiter.flush()
    untrusted = [r for _, r in logs.untrusted.records(0, 32)]
    assert [r.get("event") for r in untrusted] == ["refused"] * UNTRUSTED_PER_MINUTE + [None], untrusted
    assert untrusted[-1]["what"] == {"ota_refused_bad-signature": 10, "ota_download": 1}, untrusted[-1]
    logs.close()
    rmtree(root)
