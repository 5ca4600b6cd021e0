# Provisioning on a device board, driven by tools/provision.py over mpremote:
#
#   factory(hw, utility_hex)    factory line: install the utility key (refused once provisioned)
#   provision(hw, envelope_hex) the PROVISION command, authenticated with the utility key and
#                               carrying the device keys wrapped under it (security/commands.py)
#
# hw is the board's board.make_store_hardware(): a hardware object (lib/hardware.py) with the
# clock, the store, the board secret and the device logs, and no watchdog or ports, so
# nothing here imports a board module. Each prints one line starting "onboard: ok" or
# "onboard: refused <reason>"; neither prints a key.

from binascii import unhexlify
from security import keys as K
from security import commands as C
from security.keystore import KeyStore


def open_device(hw):
    """(device keys, command handler) over hw's store, as the firmware opens them
    (tools/provision.py uses it for a host-board device too)."""
    keys = K.DeviceKeys(KeyStore(hw.storage_root + "/keys", hw.board_secret))
    return keys, C.Commands(keys, hw.logs, hw.clock, hw.storage_root + "/security")


def factory(hw, utility_hex):
    keys, _ = open_device(hw)
    try:
        keys.install_utility(unhexlify(utility_hex))
        print("onboard: ok factory")
    except K.SecurityError as exc:
        print("onboard: refused " + exc.reason)
    finally:
        hw.logs.close()


def provision(hw, envelope_hex):
    keys, commands = open_device(hw)
    try:
        reply = commands.handle(unhexlify(envelope_hex))
        if reply is None:
            print("onboard: refused " + ",".join(commands.rejected))
            return
        payload = C.parse(reply, C.MAX_REPLY_PAYLOAD).payload
        if payload[0] == C.OK:
            print("onboard: ok provisioned")
        else:
            print("onboard: refused " + bytes(payload[1:]).decode())
    finally:
        hw.logs.close()
