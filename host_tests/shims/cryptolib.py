# CPython-only stand-in for MicroPython's `cryptolib` (host tests and tools), built on the
# `cryptography` package. It keeps the device module's rules so that code which works
# here works on a board: modes 1 (ECB) and 2 (CBC), whole 16-byte blocks only, one
# object either encrypts or decrypts (never both), and a CBC object chains across calls.
# Never deployed.

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MODE_ECB = 1
MODE_CBC = 2


class aes:
    def __init__(self, key, mode, IV=None):
        if len(key) not in (16, 24, 32):
            raise ValueError("key")
        if mode == MODE_ECB:
            cipher_mode = modes.ECB()
        elif mode == MODE_CBC:
            if IV is None or len(IV) != 16:
                raise ValueError("IV")
            cipher_mode = modes.CBC(bytes(IV))
        else:
            raise ValueError("mode")
        self._cipher = Cipher(algorithms.AES(bytes(key)), cipher_mode)
        self._context = None
        self._encrypting = None

    def _run(self, encrypting, data, out):
        if self._encrypting is None:
            self._encrypting = encrypting
            self._context = self._cipher.encryptor() if encrypting else self._cipher.decryptor()
        elif self._encrypting != encrypting:
            raise OSError("can't encrypt & decrypt")
        if len(data) % 16:
            raise ValueError("blksize % 16")
        result = self._context.update(bytes(data))
        if out is None:
            return result
        if len(out) < len(result):
            raise ValueError("output too small")
        out[: len(result)] = result
        return out

    def encrypt(self, data, out=None):
        return self._run(True, data, out)

    def decrypt(self, data, out=None):
        return self._run(False, data, out)
