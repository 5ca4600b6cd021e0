# DLMS security suite 0 (AES-GCM-128) for the management client: ciphered APDUs
# (glo-* and general-glo-ciphering), HLS-GMAC authentication, invocation counters.
#
#   security header  SC (0x30 authenticated and encrypted, 0x10 authenticated) | IC (4)
#   IV               system title (8) | IC (4)
#   AAD              SC | AK  (plus the plaintext when only authenticated)
#   tag              12 bytes
#
# Counters: the client's last accepted IC is persisted before the request is acted on,
# so a lower or repeated IC is refused also after a restart; the meter's own IC comes from
# a store.Counter (reserved in blocks, never handed out twice). Keys come from the
# meter's key model (security.keys: "dlms_guek", "dlms_gak").

from micropython import const
from dlms.gcm import Gcm, TagError
from store.atomic import AtomicRecord
from store.counter import Counter
from store.fs import StoreError

SC_AUTH = const(0x10)
SC_ENC = const(0x20)
SC_AUTH_ENC = const(0x30)
TAG_BYTES = const(12)
TITLE_BYTES = const(8)

# Ciphered service tags: request -> response.
GLO_RESPONSE = {0xC8: 0xCC, 0xC9: 0xCD, 0xCB: 0xCF}  # get, set, action
GENERAL_GLO = const(0xDB)


class CipherError(ValueError):
    """Refused ciphered APDU: reason is "replay", "bad_tag", "header", "not_ciphered"."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Security:
    def __init__(self, folder, system_title, keys, counter_block=16):
        self.system_title = system_title
        self._keys = keys  # () -> (encryption key, authentication key)
        self._gcm = None
        self._ak = None
        self._stale = False
        self._ic_out = Counter(folder + "/dlms_ic", counter_block)
        self._ic_in = AtomicRecord(folder + "/dlms_client_ic")
        self.counts = {"replay": 0, "bad_tag": 0, "header": 0}
        self.last_client_ic = self._load_in()

    def _load_in(self):
        try:
            saved = self._ic_in.read_json()
        except (StoreError, ValueError):
            saved = None
        return saved.get("ic", -1) if isinstance(saved, dict) else -1

    def _cipher(self):
        # Keys are read from the key store once (it decrypts them) and kept until a key
        # transfer; the answer to the transfer itself still goes out under the old keys.
        if self._gcm is None:
            ek, ak = self._keys()
            self._gcm = Gcm(ek)
            self._ak = ak
        return self._gcm

    def rekeyed(self):
        """A key changed: from the next request on, the new keys."""
        self._stale = True

    def check_counter(self, ic):
        if ic <= self.last_client_ic:
            self.counts["replay"] += 1
            raise CipherError("replay")

    def accept_counter(self, ic):
        # Persist first: once acted on, this IC is spent even across a power cut.
        self._ic_in.write_json({"ic": ic})
        self.last_client_ic = ic

    def next_ic(self):
        return self._ic_out.next() & 0xFFFFFFFF

    def decrypt(self, sc, ic, client_title, body):
        """The plaintext of ciphertext||tag (body) from client_title with this IC."""
        if sc & 0x0F != 0 or sc & SC_AUTH_ENC != SC_AUTH_ENC or len(body) < TAG_BYTES:
            self.counts["header"] += 1
            raise CipherError("header")
        if client_title is None or len(client_title) != TITLE_BYTES:
            self.counts["header"] += 1
            raise CipherError("header")
        self.check_counter(ic)
        if self._stale:
            self._gcm = None
            self._stale = False
        gcm = self._cipher()
        iv = bytes(client_title) + ic.to_bytes(4, "big")
        try:
            plain = gcm.decrypt(iv, bytes(body[:-TAG_BYTES]), bytes((sc,)) + self._ak, bytes(body[-TAG_BYTES:]))
        except TagError:
            self.counts["bad_tag"] += 1
            raise CipherError("bad_tag")
        self.accept_counter(ic)
        return plain

    def encrypt(self, plain):
        """(SC, IC, ciphertext||tag) from the meter's system title."""
        ic = self.next_ic()
        gcm = self._cipher()
        iv = self.system_title + ic.to_bytes(4, "big")
        ct, tag = gcm.encrypt(iv, plain, bytes((SC_AUTH_ENC,)) + self._ak, TAG_BYTES)
        return SC_AUTH_ENC, ic, ct + tag

    def gmac(self, title, ic, challenge):
        """The HLS-GMAC tag: GMAC over SC_AUTH | AK | challenge with IV title | IC."""
        gcm = self._cipher()
        iv = bytes(title) + ic.to_bytes(4, "big")
        _ct, tag = gcm.encrypt(iv, b"", bytes((SC_AUTH,)) + self._ak + bytes(challenge), TAG_BYTES)
        return tag
