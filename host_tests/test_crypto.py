# AES, AES-CMAC (RFC 4493) and the OMS mode 7 key derivation against published vectors,
# under both interpreters.

import json
import support
from support import raises
from crypto import aes, cmac, oms
from crypto.aes import CryptoError

_VECTORS = support.REPO + "/host_tests/data/crypto/crypto-vectors.json"


def _load():
    with open(_VECTORS) as f:
        return json.load(f)


def h(text):
    return bytes.fromhex(text)


def test_rfc4493_subkeys():
    v = _load()["aes_cmac_rfc4493"]
    k1, k2 = cmac.CMAC(h(v["key"])).subkeys()
    assert k1 == h(v["subkeys"]["K1"])
    assert k2 == h(v["subkeys"]["K2"])


def test_rfc4493_vectors_one_shot_and_reused():
    v = _load()["aes_cmac_rfc4493"]
    mac = cmac.CMAC(h(v["key"]))
    for _ in range(2):  # the reused object must give the same tags in any order
        for vector in v["vectors"]:
            assert cmac.cmac(h(v["key"]), h(vector["msg"])) == h(vector["mac"]), vector["name"]
            assert mac.digest(h(vector["msg"])) == h(vector["mac"]), vector["name"]
        for vector in reversed(v["vectors"]):
            assert mac.digest(h(vector["msg"])) == h(vector["mac"]), vector["name"]


def test_mac_in_place_for_a_key_used_once_matches_the_rfc_vectors():
    # the builder's and the parser's MAC: the padding goes into the caller's buffer
    v = _load()["aes_cmac_rfc4493"]
    seed, subkey, tag = bytearray(16), bytearray(16), bytearray(16)
    for vector in v["vectors"]:
        msg = h(vector["msg"])
        buf = bytearray(msg) + bytearray(16)
        cmac.mac_in_place(h(v["key"]), buf, len(msg), tag, 16, seed, subkey)
        assert bytes(tag) == h(vector["mac"]), vector["name"]
        cmac.mac_in_place(h(v["key"]), bytearray(msg) + bytearray(16), len(msg), tag, 8, seed, subkey)
        assert bytes(tag[:8]) == h(vector["mac"])[:8], vector["name"]


def test_truncated_tag_is_prefix():
    v = _load()["aes_cmac_rfc4493"]
    vector = v["vectors"][2]
    for n in (1, 4, 8, 15, 16):
        assert cmac.cmac(h(v["key"]), h(vector["msg"]), n) == h(vector["mac"])[:n]
    assert raises(CryptoError, cmac.cmac, h(v["key"]), b"", 0)
    assert raises(CryptoError, cmac.cmac, h(v["key"]), b"", 17)


def test_long_message_through_scratch_matches_block_by_block():
    # Longer than the scratch buffer: the CBC pass is fed in pieces.
    key = bytes(range(16))
    message = bytes((i * 7 + 3) & 0xFF for i in range(1000))
    reference = _cmac_reference(key, message)
    assert cmac.cmac(key, message) == reference
    mac = cmac.CMAC(key)
    for length in (0, 1, 15, 16, 17, 255, 256, 257, 511, 512, 513, 1000):
        assert mac.digest(message[:length]) == _cmac_reference(key, message[:length]), length


def _cmac_reference(key, message):
    # Straight from RFC 4493 section 2.4, block by block with ECB.
    enc = aes.ecb(key)
    k1, k2 = cmac.CMAC(key).subkeys()
    n = max(1, (len(message) + 15) // 16)
    last = bytearray(message[(n - 1) * 16 :])
    if len(last) == 16:
        mask = k1
    else:
        last.append(0x80)
        while len(last) < 16:
            last.append(0)
        mask = k2
    x = bytearray(16)
    for i in range(n):
        block = message[i * 16 : i * 16 + 16] if i < n - 1 else bytes(a ^ b for a, b in zip(last, mask))
        y = bytes(a ^ b for a, b in zip(x, block))
        x = bytearray(enc.encrypt(y))
    return bytes(x)


def test_equal_compares_whole_length():
    assert cmac.equal(b"\x01\x02\x03", b"\x01\x02\x03")
    assert not cmac.equal(b"\x01\x02\x03", b"\x01\x02\x04")
    assert not cmac.equal(b"\x00\x02\x03", b"\x01\x02\x03")
    assert not cmac.equal(b"\x01\x02", b"\x01\x02\x03")
    assert cmac.equal(b"", b"")


def test_oms_mode7_key_derivation_and_mac():
    for v in _load()["oms_mode7"]["vectors"]:
        kdf = oms.KeyDerivation(h(v["master_key"]))
        counter = v["afl_mcr_value"]
        meter_id = h(v["meter_id_wire"])
        assert kdf.derive(oms.KEY_ENC_FROM_METER, counter, meter_id) == h(v["k_enc"]), v["name"]
        assert kdf.derive(oms.KEY_MAC_FROM_METER, counter, meter_id) == h(v["k_mac"]), v["name"]
        tag = cmac.cmac(h(v["k_mac"]), h(v["mac_input"]), 8)
        assert tag == h(v["mac_sent"]), v["name"]
        assert cmac.cmac(h(v["k_mac"]), h(v["mac_input"])) == h(v["cmac_full"])
        plain = aes.cbc_decrypt(h(v["k_enc"]), h(v["iv"]), h(v["ciphertext"]))
        assert bytes(plain) == h(v["plaintext"]), v["name"]
        assert bytes(aes.cbc_encrypt(h(v["k_enc"]), h(v["iv"]), h(v["plaintext"]))) == h(v["ciphertext"])


def test_oms_directions_differ():
    kdf = oms.KeyDerivation(bytes(16))
    keys = set()
    for dc in (oms.KEY_ENC_FROM_METER, oms.KEY_MAC_FROM_METER, oms.KEY_ENC_TO_METER, oms.KEY_MAC_TO_METER):
        keys.add(kdf.derive(dc, 1, b"\x78\x56\x34\x12"))
    assert len(keys) == 4


def test_oms_mode5_decrypts():
    v = _load()["oms_mode5"]
    vector = v["vectors"][0] if "vectors" in v else v
    plain = aes.cbc_decrypt(h(vector["key"]), h(vector["iv"]), h(vector["ciphertext"]))
    assert bytes(plain) == h(vector["plaintext"])
    assert plain[:2] == b"\x2f\x2f"


def test_cbc_in_place_and_errors():
    key = bytes(range(16))
    iv = bytes(16)
    data = bytearray(b"0123456789abcdef" * 3)
    expected = bytes(aes.cbc_encrypt(key, iv, data))
    aes.cbc_encrypt(key, iv, data, data)
    assert bytes(data) == expected
    aes.cbc_decrypt(key, iv, data, data)
    assert bytes(data) == b"0123456789abcdef" * 3
    assert raises(CryptoError, aes.cbc_encrypt, key, iv, b"short")
    assert raises(CryptoError, aes.cbc_encrypt, key[:15], iv, data)
    assert raises(CryptoError, aes.cbc_encrypt, key, iv[:8], data)
    assert raises(CryptoError, aes.cbc_encrypt, key, iv, data, bytearray(16))
    assert bytes(aes.cbc_encrypt(key, iv, b"")) == b""
