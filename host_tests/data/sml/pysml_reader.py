# pysml as Home Assistant's EDL21 integration runs it: its asyncio SmlSerialProtocol on a
# serial device, with a dispatch callback per message body. Started by
# host_tests/test_sml_readers.py in a process of its own (this repository's lib/sml would
# shadow pysml's top-level "sml" package in the test process).
#
#   python pysml_reader.py PATH FILES   prints each GetList.Res body as one JSON line
import asyncio
import json
import os
import sys

# The virtualenv's path file puts the repository's folders first (lib/sml among them):
# drop them so "sml" is pysml's package.
_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
_OURS = tuple(os.path.join(_REPO, f) for f in ("lib", "firmware", "boards", "host_tests", "tools"))
sys.path[:] = [p for p in sys.path if not os.path.abspath(p or ".").startswith(_OURS)]

from sml.asyncio import SmlSerialProtocol  # after the path is cleaned (ruff skips host_tests/data)


async def main(path, files):
    done = asyncio.Event()
    count = [0]

    def dispatch(body):
        if "valList" in body:
            print(json.dumps(body, default=str), flush=True)
            count[0] += 1
            if count[0] >= files:
                done.set()

    proto = SmlSerialProtocol(path, dispatch, wait_time=0)
    await proto.connect()
    await done.wait()
    await proto._disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
