# Stage results for `make test`: each stage leaves one JSON file in build/test-results/,
# and `make test` ends by printing them together, so the last screen of a run names every
# failing test (module::test) whatever stage it came from. CPython only (the test tooling).
#
#   python host_tests/results.py clear                          # at the start of `make test`
#   python host_tests/results.py junit cpython FILE.xml STATUS  # pytest's --junitxml report
#   python host_tests/results.py log targets FILE.log STATUS    # a stage's captured output
#   python host_tests/results.py summary                        # the end: exit 1 if anything failed
#
# The MicroPython runners write their own file with write(). A stage that ended without
# leaving a file (killed, timed out, crashed) is reported as failed, never as passed.

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.join(os.path.dirname(HERE), "build", "test-results")
# Stages in the order make test runs them; the summary names any that left no result.
STAGES = ("cpython", "micropython", "micropython32", "targets", "lint")


def write(stage, title, passed, failed, skipped, failures=(), notes=(), status=None):
    """Record one stage: counts, the failing tests (module::test) and notes (what was skipped and why)."""
    os.makedirs(DIR, exist_ok=True)
    record = {"stage": stage, "title": title, "passed": passed, "failed": failed, "skipped": skipped,
              "failures": list(failures), "notes": list(notes),
              "status": (1 if failed or failures else 0) if status is None else status}
    part = os.path.join(DIR, stage + ".json.part")
    with open(part, "w") as f:
        json.dump(record, f, indent=1)
    os.replace(part, os.path.join(DIR, stage + ".json"))


def clear():
    if os.path.isdir(DIR):
        for name in os.listdir(DIR):
            os.remove(os.path.join(DIR, name))


def failures_from_runner_output(text):
    """The `FAIL module.test` / `FAIL module (why)` lines of run_upy.py, as module::test."""
    found = []
    for line in text.splitlines():
        m = re.match(r"^FAIL (\w+)\.(\w+)$", line)
        if m:
            found.append("%s::%s" % m.groups())
            continue
        m = re.match(r"^FAIL (\w+) \((.*)\)$", line)
        if m:
            found.append("%s (%s)" % m.groups())
    return found


def from_junit(stage, path, status):
    """pytest --junitxml: counts and every failed or erroring test as module::test."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        write(stage, stage, 0, 1, 0, ["(no pytest report: %s)" % exc], status=status or 1)
        return
    passed = failed = skipped = 0
    failures = []
    for case in root.iter("testcase"):
        # classname is "host_tests.test_x" for functions ("host_tests.test_x.Class" for methods)
        parts = (case.get("classname") or "?").split(".")
        module = ([p for p in parts if p.startswith("test_")] or parts[-1:])[0]
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
            failures.append("%s::%s" % (module, case.get("name")))
        elif "skipped" in kinds:
            skipped += 1
        else:
            passed += 1
    write(stage, "cpython (pytest)", passed, failed, skipped, failures,
          status=status if status else (1 if failures else 0))


def from_log(stage, path, status):
    """A stage known only by its output and exit status (mpy-cross targets, ruff)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = ""
    failures, notes = [], []
    if stage == "targets":
        # "mpy-cross ARCH: path/to/module.py" precedes each failed module's error text.
        failures = ["%s (mpy-cross %s)" % (m.group(2), m.group(1))
                    for m in re.finditer(r"^mpy-cross (\w+): (\S+\.py)$", text, re.M)]
        notes = [line for line in text.splitlines() if re.match(r"^mpy-cross \w+: \d+ modules", line)]
    elif stage == "lint":
        failures = re.findall(r"^(\S+:\d+:\d+: \w+)", text, re.M)
    if status and not failures:
        failures = ["(%s exited with status %s)" % (stage, status)]
    title = {"targets": "targets (mpy-cross)", "lint": "lint (ruff)"}.get(stage, stage)
    write(stage, title, 0, len(failures), 0, failures, notes, status=status)


def summary():
    """Print every stage's line and failures; exit status 1 if any stage failed or left nothing."""
    records = {}
    if os.path.isdir(DIR):
        for name in os.listdir(DIR):
            if name.endswith(".json"):
                with open(os.path.join(DIR, name)) as f:
                    record = json.load(f)
                records[record["stage"]] = record
    order = [s for s in STAGES if s in records] + sorted(s for s in records if s not in STAGES)
    bad = 0
    print("==== make test: summary of all stages")
    for stage in order:
        r = records[stage]
        verdict = "FAILED" if r["status"] else "ok"
        if r["stage"] in ("targets", "lint") and not r["passed"]:
            print("%-7s %s: %d failed" % (verdict, r["title"], r["failed"]))
        else:
            print("%-7s %s: %d passed, %d failed, %d skipped" % (verdict, r["title"], r["passed"], r["failed"],
                                                               r["skipped"]))
        for note in r["notes"]:
            print("          %s" % note)
        for failure in r["failures"]:
            print("    FAIL  %s" % failure)
        bad |= bool(r["status"])
    for stage in STAGES:
        if stage not in records and stage != "lint":
            print("FAILED  %s: left no result (the stage did not run to its end)" % stage)
            bad = 1
    print("==== %s" % ("FAILED" if bad else "all stages passed"))
    return 1 if bad else 0


def main(argv):
    if argv[:1] == ["clear"]:
        clear()
        return 0
    if argv[:1] == ["summary"]:
        return summary()
    if len(argv) == 4 and argv[0] in ("junit", "log"):
        (from_junit if argv[0] == "junit" else from_log)(argv[1], argv[2], int(argv[3]))
        return 0
    sys.stderr.write("usage: results.py clear | summary | junit STAGE FILE STATUS | log STAGE FILE STATUS\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
