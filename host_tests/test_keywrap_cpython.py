# test: cpython-only (hypothesis, and `cryptography` as the reference)
# The firmware's RFC 3394 key wrap against `cryptography`'s, for any KEK and key data.

from hypothesis import given, settings, strategies as st
from cryptography.hazmat.primitives.keywrap import aes_key_wrap
from crypto.keywrap import wrap, unwrap
from crypto.aes import CryptoError


@settings(max_examples=200, deadline=None)
@given(st.sampled_from((16, 32)).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
       st.integers(2, 8).flatmap(lambda n: st.binary(min_size=8 * n, max_size=8 * n)))
def test_wrap_matches_reference(kek, key):
    wrapped = wrap(kek, key)
    assert wrapped == aes_key_wrap(kek, key)
    assert unwrap(kek, wrapped) == key


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=80))
def test_unwrap_of_garbage_is_a_crypto_error(data):
    try:
        unwrap(b"k" * 16, data)
    except CryptoError:
        return
    raise AssertionError("garbage unwrapped")
