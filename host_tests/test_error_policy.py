# Every broad except in the device code (lib/, firmware/, boards/) says on its line why it
# must be broad, and none swallows the error with a bare `pass` (docs/architecture.md,
# "Errors"): what is not raised is counted and logged.
import os
from support import REPO

BROAD = ("except Exception", "except BaseException", "except:")


def _python_files(folder):
    for name in sorted(os.listdir(folder)):
        path = folder + "/" + name
        if os.stat(path)[0] & 0x4000:
            yield from _python_files(path)
        elif name.endswith(".py"):
            yield path


def test_every_broad_except_is_commented_and_handles_the_error():
    found = []
    for top in ("lib", "firmware", "boards"):
        for path in _python_files(REPO + "/" + top):
            with open(path) as f:
                lines = f.read().split("\n")
            for i, line in enumerate(lines):
                code, _, comment = line.partition("#")
                if not any(b in code for b in BROAD):
                    continue
                where = "%s:%d" % (path[len(REPO) + 1:], i + 1)
                if not comment.strip():
                    found.append(where + " has no comment saying why it is broad")
                following = [c.split("#")[0].strip() for c in lines[i + 1:i + 3] if c.split("#")[0].strip()]
                if following[:1] == ["pass"]:
                    found.append(where + " swallows the error (pass)")
    assert not found, "broad excepts (narrow them, or say why and count/log):\n" + "\n".join(found)
