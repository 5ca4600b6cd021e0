# The key model: which key may do what, provisioning, and wrapped key changes.
#
#   utility  from the factory, shared by one utility's meters; may only provision. Erased
#            for good once provisioning succeeded (the state record says so, and a utility
#            key found after that, a crash between the two, is erased at the next open).
#   admin    device-unique; time, wake-up, key changes, status, every log.
#   mep      device-unique, shared with the MEP device; the MEP link, status, the
#            consumer and calibration logs (the customer's view).
#   lmn      device-unique; the wireless M-Bus master key (OMS). Authorises nothing.
#   OTA trust anchor: an ECDSA P-256 public key (65 bytes 04||X||Y) installed with the
#            keys; only a bundle signed by its private key updates firmware: no symmetric
#            key, the utility key least of all, can authorise an update.
#
# Permissions are enforced here: every command handler asks authorize(key, action) first.
#
# Key changes (RFC 3394 AES key wrap): the new key of <name> arrives wrapped under a KEK
# derived from the CURRENT key of <name> and the key-change counter (KCC),
#     KEK = AES-CMAC(current key, "key change" || name || KCC as 4 bytes big-endian)
# so a wrapped key is only valid for one counter value; the KCC must exceed the last one
# accepted for that name (persisted before the key is replaced). A replayed or older change
# fails the counter; a change made for another counter or key fails the unwrap's check.
# Provisioning wraps each device key under AES-CMAC(utility key, "provision" || name).

import struct
from crypto.aes import CryptoError
from crypto.cmac import cmac
from crypto.keywrap import unwrap
from store.atomic import AtomicRecord
from store.fs import StoreError
from security.keystore import KeyStore, KeyStoreError, open_board_keys  # noqa: F401

UTILITY = "utility"
ADMIN = "admin"
MEP = "mep"
LMN = "lmn"
DLMS_EK = "dlms_ek"  # DLMS global unicast encryption key (security suite 0, management client)
DLMS_AK = "dlms_ak"  # DLMS authentication key (HLS-GMAC and the GCM additional data)
DEVICE_KEYS = (LMN, MEP, ADMIN, DLMS_EK, DLMS_AK)
# Key ids on the wire (command envelopes), one byte.
KEY_IDS = {1: UTILITY, 2: ADMIN, 3: MEP, 4: LMN, 5: DLMS_EK, 6: DLMS_AK}
KEY_ID_OF = {UTILITY: 1, ADMIN: 2, MEP: 3, LMN: 4, DLMS_EK: 5, DLMS_AK: 6}

# Actions.
PROVISION = "provision"
SET_TIME = "set_time"
WAKE = "wake"
CHANGE_KEY = "change_key"
READ_STATUS = "read_status"
READ_SYSTEM_LOG = "read_system_log"
READ_CONSUMER_LOG = "read_consumer_log"
READ_CALIBRATION_LOG = "read_calibration_log"
MEP_LINK = "mep_link"
LMN_TELEGRAMS = "lmn_telegrams"
UNLOCK_DISPLAY = "unlock_display"  # the consumer's PIN for the info port's details (SML)
DLMS_MANAGEMENT = "dlms_management"  # the DLMS management association (and its key transfer)
OTA_UPDATE = "ota_update"  # granted to no symmetric key: only the trust anchor's signature
READ_LOG = {"system": READ_SYSTEM_LOG, "consumer": READ_CONSUMER_LOG, "calibration": READ_CALIBRATION_LOG,
            "untrusted": READ_SYSTEM_LOG}

PERMISSIONS = {
    UTILITY: (PROVISION,),
    ADMIN: (SET_TIME, WAKE, CHANGE_KEY, READ_STATUS, READ_SYSTEM_LOG, READ_CONSUMER_LOG, READ_CALIBRATION_LOG,
            UNLOCK_DISPLAY),
    MEP: (MEP_LINK, READ_STATUS, READ_CONSUMER_LOG, READ_CALIBRATION_LOG, UNLOCK_DISPLAY),
    LMN: (LMN_TELEGRAMS,),
    DLMS_EK: (DLMS_MANAGEMENT,),
    DLMS_AK: (DLMS_MANAGEMENT,),
}

ANCHOR_NAME = "ota-anchor.pub"
ANCHOR_BYTES = 65
WRAPPED_BYTES = 24  # a 16-byte key wrapped (RFC 3394)


class SecurityError(Exception):
    """A key may not do this, a change is replayed, a check failed: refused, state untouched."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason  # a short fixed word, counted and logged


def derive(key, label, name=b"", counter=None):
    """A 16-byte key for one purpose: AES-CMAC(key, label || name [|| counter BE32])."""
    msg = label + name
    if counter is not None:
        msg += struct.pack(">I", counter)
    return cmac(key, msg)


def provision_kek(utility_key, name):
    return derive(utility_key, b"provision", name.encode())


def change_kek(current_key, name, kcc):
    return derive(current_key, b"key change", name.encode(), kcc)


def check_anchor(anchor):
    if anchor is None or len(anchor) != ANCHOR_BYTES or anchor[0] != 4:
        raise SecurityError("bad_anchor", "OTA trust anchor must be 65 bytes 04||X||Y")


class DeviceKeys:
    """A board's keys and their state (provisioned, key-change counters) under a KeyStore."""

    def __init__(self, keystore):
        self.store = keystore
        self._state = AtomicRecord(keystore.folder + "/state")
        self._anchor = AtomicRecord(keystore.folder + "/" + ANCHOR_NAME)
        try:
            state = self._state.read_json()
        except (StoreError, ValueError):
            # A damaged state record: assume the worst (provisioned), so the utility key
            # can never come back into use; an administrator must look at it.
            state = {"provisioned": True, "damaged": True, "kcc": {}}
        self.state = state or {"provisioned": False, "kcc": {}}
        if self.provisioned and keystore.has(UTILITY):
            keystore.erase(UTILITY)  # a crash came between recording and erasing

    @property
    def provisioned(self):
        return bool(self.state.get("provisioned"))

    def allowed(self, name, action):
        if name == UTILITY and self.provisioned:
            return False
        return action in PERMISSIONS.get(name, ())

    def authorize(self, name, action):
        """Raise SecurityError unless key `name` may do `action` now."""
        if name not in PERMISSIONS:
            raise SecurityError("unknown_key", str(name))
        if name == UTILITY and self.provisioned:
            raise SecurityError("utility_disabled", "the utility key was disabled at provisioning")
        if action not in PERMISSIONS[name]:
            raise SecurityError("not_permitted", "%s may not %s" % (name, action))

    def key(self, name, action):
        """The key `name`, after authorize(name, action); SecurityError if absent."""
        self.authorize(name, action)
        try:
            return self.store.get(name)
        except KeyStoreError as exc:
            raise SecurityError("no_key", str(exc))

    def generations(self):
        return {name: self.store.generation(name) for name in DEVICE_KEYS}

    def kcc(self, name):
        return self.state.get("kcc", {}).get(name, 0)

    def anchor(self):
        """The OTA trust anchor (65 bytes), or None before provisioning."""
        try:
            data = self._anchor.read()
        except StoreError:
            return None
        return bytes(data) if data is not None and len(data) == ANCHOR_BYTES else None

    def _save(self):
        self._state.write_json(self.state)

    # -- factory

    def install_utility(self, key):
        """Factory step: the utility key, before the device ships. Refused once provisioned."""
        if self.provisioned:
            raise SecurityError("utility_disabled", "device already provisioned")
        self.store.put(UTILITY, key)

    # -- provisioning (authorised by the utility key)

    def provision(self, anchor, wrapped, now_s):
        """Install device keys (name -> RFC 3394 wrap under provision_kek) and the anchor,
        then disable the utility key for good. Everything is checked before anything is
        written; a crash part-way leaves the device unprovisioned (and provisionable)."""
        utility = self.key(UTILITY, PROVISION)
        check_anchor(anchor)
        if not wrapped:
            raise SecurityError("bad_payload", "no keys to install")
        keys = {}
        for name in wrapped:
            if name not in DEVICE_KEYS:
                raise SecurityError("bad_payload", "unknown key %r" % (name,))
            try:
                keys[name] = unwrap(provision_kek(utility, name), wrapped[name])
            except CryptoError:
                raise SecurityError("unwrap_failed", name)
        for name in keys:
            self.store.put(name, keys[name])
        self._anchor.write(bytes(anchor))
        self.state = {"provisioned": True, "provisioned_t": now_s, "keys": sorted(keys), "kcc": {}}
        self._save()  # from here the utility key is disabled, even if the erase below is cut short
        self.store.erase(UTILITY)
        return sorted(keys)

    # -- key change (authorised by the admin key; the envelope checks that)

    def change_key(self, name, kcc, wrapped):
        """Replace key `name` by the one wrapped under change_kek(current, name, kcc)."""
        if name not in DEVICE_KEYS:
            raise SecurityError("bad_payload", "no key %r to change" % (name,))
        last = self.kcc(name)
        if kcc <= last:
            raise SecurityError("old_key_change", "%s counter %d <= %d" % (name, kcc, last))
        try:
            current = self.store.get(name)
        except KeyStoreError as exc:
            raise SecurityError("no_key", str(exc))
        try:
            new_key = unwrap(change_kek(current, name, kcc), wrapped)
        except CryptoError:
            raise SecurityError("unwrap_failed", name)
        kccs = self.state.setdefault("kcc", {})
        kccs[name] = kcc
        self._save()  # the counter is spent before the key changes: a crash never allows a replay
        return self.store.put(name, new_key)


def open_device_keys(hw):
    return DeviceKeys(open_board_keys(hw))
