#!/usr/bin/env python3
"""Send the meter utility-side MEP data during a simulation (the head-end's role).

    python tools/mep_utility.py [--out DIR] tariff INDEX
    python tools/mep_utility.py [--out DIR] urgent --app N TEXT
    python tools/mep_utility.py [--out DIR] nonurgent --app N TEXT

Drops one JSON message in DIR/utility-inbox (DIR: the simulation's --out, default
sim-out), which the simulated meter picks up within a second; the MEP device reads it
over the MEP. Prints what was sent, then whether the meter took it (or refused it, and
why) and, for an urgent entry, the MEP device's acknowledgement (success or failure).
Exit status 1 if the meter did not take it within --wait seconds or refused it.
"""

import argparse
import json
import os
import sys
import time

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)
import mep_sim


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=os.path.join(mep_sim.REPO, "sim-out"), help="the simulation's --out folder")
    p.add_argument("--wait", type=float, default=30, help="seconds to wait for the meter (and the device)")
    sub = p.add_subparsers(dest="what", required=True)
    t = sub.add_parser("tariff")
    t.add_argument("index", type=int)
    for name in ("urgent", "nonurgent"):
        s = sub.add_parser(name)
        s.add_argument("--app", type=int, default=1)
        s.add_argument("text")
    args = p.parse_args(argv)
    if args.what == "tariff":
        message = {"tariff": args.index}
    elif args.what == "urgent":
        message = {"urgent": {"app": args.app, "text": args.text}}
    else:
        message = {"nonurgent": [{"app": args.app, "text": args.text}]}
    events_path = os.path.join(args.out, "events.jsonl")
    events_from = os.path.getsize(events_path) if os.path.exists(events_path) else 0
    path = mep_sim.write_inbox(os.path.join(args.out, mep_sim.INBOX), message)
    print("sent %s as %s" % (json.dumps(message), os.path.relpath(path)), flush=True)
    return report(path, events_path, events_from, args.what == "urgent", args.wait)


_REFUSAL_GRACE_S = 1.5  # the meter logs a refusal as it takes the file; the simulation writes it out soon after


def _new_events(path, offset):
    try:
        with open(path) as f:
            f.seek(offset)
            lines = f.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            pass  # a line still being written
    return found


def report(path, events_path, events_from, urgent, wait_s):
    """Wait for the meter to take the message (it removes the file), then for what it said."""
    name = os.path.basename(path)
    deadline = time.monotonic() + wait_s
    while os.path.exists(path):
        if time.monotonic() > deadline:
            print("not taken by the meter within %g s: is the simulation running with --out %s?"
                  % (wait_s, os.path.dirname(os.path.dirname(path))), file=sys.stderr)
            return 1
        time.sleep(0.1)
    taken_at = time.monotonic()
    while True:
        for event in _new_events(events_path, events_from):
            if "inbox %s rejected" % name in str(event.get("msg", "")):
                print("refused by the meter: %s" % event["msg"], file=sys.stderr)
                return 1
            if urgent and event.get("kind") == "mep_urgent_ack":
                print("acknowledged by the MEP device: %s (entry %s)" % (event.get("outcome"), event.get("id")))
                return 0 if event.get("outcome") == "success" else 1
        if not urgent and time.monotonic() > taken_at + _REFUSAL_GRACE_S:
            print("taken by the meter; the MEP device reads it at its next poll")
            return 0
        if urgent and time.monotonic() > deadline:
            print("taken by the meter; no acknowledgement from the MEP device within %g s" % wait_s)
            return 1
        time.sleep(0.2)


if __name__ == "__main__":
    import toolenv

    toolenv.ensure()  # under .venv/bin/python, whatever python started it
    sys.exit(main())
