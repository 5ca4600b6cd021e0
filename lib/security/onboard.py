# Provisioning on a device board, driven by tools/provision.py over mpremote:
#
#   factory(utility_hex)    factory line: install the utility key (refused once provisioned)
#   provision(envelope_hex) the PROVISION command, authenticated with the utility key and
#                           carrying the device keys wrapped under it (security/commands.py)
#
# Each prints one line starting "onboard: ok" or "onboard: refused <reason>"; neither
# prints a key. The board module supplies board_secret() and STORAGE_ROOT.

from binascii import unhexlify
import board
from clock import Clock
from store.fs import make_dirs
from security import keys as K
from security import commands as C
from security.keystore import KeyStore
from security.logs import Logs


def _open():
    root = board.STORAGE_ROOT
    make_dirs(root)
    clock = Clock()
    keys = K.DeviceKeys(KeyStore(root + "/keys", board.board_secret()))
    logs = Logs(root, clock)
    return keys, logs, C.Commands(keys, logs, clock, root + "/security")


def factory(utility_hex):
    keys, logs, _ = _open()
    try:
        keys.install_utility(unhexlify(utility_hex))
        print("onboard: ok factory")
    except K.SecurityError as exc:
        print("onboard: refused " + exc.reason)
    finally:
        logs.close()


def provision(envelope_hex):
    keys, logs, commands = _open()
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
        logs.close()
