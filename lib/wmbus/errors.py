# The one error type of the wireless M-Bus code; `reason` says which check failed, so a
# head-end can count rejections per cause (the field's most common fault is a wrong key).

BAD_CRC = "bad_crc"
BAD_MAC = "bad_mac"
WRONG_KEY = "wrong_key"  # mode 5 (no MAC): the 2F2F check bytes did not decrypt
BAD_CHECK_BYTES = "bad_check_bytes"  # the MAC held but the check bytes are wrong
NO_KEY = "no_key"
REPLAY = "replay"
TRUNCATED = "truncated"
BAD_LENGTH = "bad_length"
UNSUPPORTED = "unsupported"
MALFORMED = "malformed"
WRONG_MODE = "wrong_mode"  # head-end: not the security its key is configured for (a downgrade)

REASONS = (BAD_CRC, BAD_MAC, WRONG_KEY, BAD_CHECK_BYTES, NO_KEY, REPLAY, TRUNCATED, BAD_LENGTH, UNSUPPORTED, MALFORMED,
           WRONG_MODE)


class WMBusError(ValueError):
    """A telegram that cannot be accepted; reason is one of REASONS."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason
