# Wireless M-Bus telegrams (EN 13757-4, OMS security modes 5 and 7): what the meter's
# builder (wmbus.builder) and the head-end's parser (wmbus.parser) share: the link and
# transport constants and the address fields.
#
#   L C M(2) A(6) | [ELL 8C CC ACC] | [AFL 90 0F 00 2C 25 MCR(4) MAC(8)] | TPL | APL
#   TPL short: 7A ACC STS CFG(2) [CFG-ext]   long: 72 ID(4) M(2) VER TYPE ACC STS CFG(2) [CFG-ext]
#
# Mode 5: AES-128-CBC under the key, IV = M ID VER TYPE + ACC x 8, no MAC.
# Mode 7: per-message K_enc/K_mac = AES-CMAC(key, DC MCR ID 07..07) (crypto.oms); AES-CBC
# under K_enc with a zero IV; MAC = AES-CMAC(K_mac, MCL MCR TPL...)[:8] in the AFL
# (encrypt-then-MAC; crypto.cmac). Both: the plaintext starts with 2F 2F and is padded
# with 2F to whole blocks. The AFL message-length field (ML) is never sent (the reference
# decoder rejects it).

from micropython import const
from wmbus.errors import WMBusError, MALFORMED

SND_NR = const(0x44)  # the meter's periodic telegram
SND_IR = const(0x46)  # installation request
CI_TPL_SHORT = const(0x7A)
CI_TPL_LONG = const(0x72)
CI_TPL_NONE = const(0x78)
CI_COMPACT_NONE = const(0x79)
CI_COMPACT_SHORT = const(0x7B)
CI_COMPACT_LONG = const(0x73)
CI_ELL_I = const(0x8C)
CI_ELL_II = const(0x8D)
CI_AFL = const(0x90)
DEVICE_ELECTRICITY = const(0x02)
MAC_BYTES = const(8)
MCL = const(0x25)  # MCR present, AES-CMAC truncated to 8 bytes
FCL = const(0x2C00)  # MCL, MCR and MAC present; one fragment
FILLER = const(0x2F)  # the 2F 2F check bytes and the padding


def manufacturer_code(letters):
    """Three letters 'A'..'Z' -> the 16-bit M-field value."""
    if len(letters) != 3:
        raise WMBusError(MALFORMED, "manufacturer must be 3 letters")
    value = 0
    for ch in letters:
        c = ord(ch) - 64
        if not 1 <= c <= 26:
            raise WMBusError(MALFORMED, "manufacturer must be 3 letters A-Z")
        value = (value << 5) | c
    return value


def id_wire(id_text):
    """'12345678' -> b'\\x78\\x56\\x34\\x12' (BCD, least significant byte first)."""
    if len(id_text) != 8:
        raise WMBusError(MALFORMED, "meter id must be 8 digits")
    try:
        raw = bytes.fromhex(id_text)
    except ValueError:
        raise WMBusError(MALFORMED, "meter id must be 8 hex digits")
    return bytes((raw[3], raw[2], raw[1], raw[0]))


def id_text(wire, pos=0):
    return "%02x%02x%02x%02x" % (wire[pos + 3], wire[pos + 2], wire[pos + 1], wire[pos])
