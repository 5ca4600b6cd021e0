# One boot of a simulated device for test_ota_crash.py (run under the MicroPython unix port):
#
#   MICROPYPATH=FACTORY_DIR:$(python3 tools/repo_paths.py micropython) \
#       micropython host_tests/ota_crash_device.py ROOT FACTORY_DIR BUNDLE_DIR
#
# Selects the slot as boards/*/main.py does, checks that the code it would run is one whole
# version, confirms a trial version, then downloads the next bundle in chunks (resuming one
# cut short), verifies it and switches. Prints a line at each step; the test kills it anywhere.

import os
import sys

import ota.boot

# The factory folder is on the path (test_ota_crash.py puts it in MICROPYPATH, before lib).
root, factory, bundles = sys.argv[1], sys.argv[2], sys.argv[3]
slot, state = ota.boot.select(root, [factory])
import appver
from ota import slots
from ota.receiver import Receiver

folder = factory if slot not in slots.SLOTS else slots.slot_dir(root, slot)
print("BOOT", slot, appver.VERSION, "trial" if state and state["trial"] else "")


def files_of(path, prefix=""):
    for entry in os.ilistdir(path):
        if entry[1] == 0x4000:
            yield from files_of(path + "/" + entry[0], prefix + entry[0] + "/")
        else:
            yield prefix + entry[0], path + "/" + entry[0]


# Every non-empty file of this version names it: one from another version is a mix.
for rel, full in files_of(folder):
    with open(full) as f:
        text = f.read()
    if text and appver.VERSION not in text:
        print("MIX", rel)
        sys.exit(3)
print("CHECK", appver.VERSION)

if state is not None and state["trial"]:
    state = slots.confirm(root, state)
    print("CONFIRMED", state["version"])

name = "v3.ota" if appver.VERSION == "2.0" else "v2.ota"
with open(bundles + "/" + name, "rb") as f:
    data = f.read()
rx = Receiver(root, "host")
offset = rx.begin(name, len(data))
print("BEGIN", name, offset)
while offset < len(data):
    offset = rx.write(offset, data[offset: offset + 1000])
    print("ACK", offset)
print("VERIFY")
state = rx.finish()
print("SWITCHED", state["version"])
