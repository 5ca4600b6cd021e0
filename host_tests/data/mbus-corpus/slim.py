#!/usr/bin/env python3
# Writes expected.jsonl (one JSON object per frame) from the corpus's
# expected.json, keeping only what the tests compare, so that the MicroPython
# unix port can read it line by line under the test heap cap.
#   python3 host_tests/data/mbus-corpus/slim.py /path/to/mbus-corpus/expected.json

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RECORD_KEYS = ("data", "dib", "function", "storage_number", "tariff", "subunit", "unit", "quantity", "value")
HEADER_KEYS = ("id", "manufacturer", "version", "medium_code", "access_number", "status", "ci")


def main(source):
    with open(source) as f:
        frames = json.load(f)["frames"]
    with open(os.path.join(HERE, "expected.jsonl"), "w") as out:
        for name in sorted(frames):
            entry = frames[name]
            lib = entry["libmbus"]
            slim = {"file": name, "status": lib["status"]}
            if "error_code" in lib:
                slim["error_code"] = lib["error_code"]
            header = entry.get("header")
            if header:
                slim["header"] = {k: header[k] for k in HEADER_KEYS if k in header}
            if entry.get("records"):
                slim["records"] = [{k: r.get(k) for k in RECORD_KEYS} for r in entry["records"]]
            out.write(json.dumps(slim, ensure_ascii=False, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
