# The M-Bus error types. Callers catch MBusError for "this input is bad"; the
# subclasses say which layer refused it. `reason` is a short fixed phrase (the
# message) so that callers can count errors by kind without parsing text.


class MBusError(ValueError):
    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class FrameError(MBusError):
    """Link layer (EN 13757-2): start, L-field, checksum, stop byte, length."""


class DecodeError(MBusError):
    """Application layer (EN 13757-3): the user data cannot be decoded."""
