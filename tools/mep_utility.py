#!/usr/bin/env python3
"""Send the meter utility-side MEP data during a simulation (the head-end's role).

    python tools/mep_utility.py [--out DIR] tariff INDEX
    python tools/mep_utility.py [--out DIR] urgent --app N TEXT
    python tools/mep_utility.py [--out DIR] nonurgent --app N TEXT

Drops one JSON message in DIR/utility-inbox (DIR: the simulation's --out, default
sim-out), which the simulated meter picks up within a second; the MEP device reads it
over the MEP. An urgent entry's outcome shows in the meter's log as mep_urgent_ack.
"""

import argparse
import os
import sys

import repo_paths  # noqa: F401  (the tree's folders on sys.path under any python: tools/repo_paths.py)
import mep_sim


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--out", default=os.path.join(mep_sim.REPO, "sim-out"))
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
    mep_sim.write_inbox(os.path.join(args.out, mep_sim.INBOX), message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
