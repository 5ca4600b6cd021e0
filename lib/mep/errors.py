# The MEP's error family: every failure the protocol code raises is an MEPError
# (a ValueError), so a task can catch bad input from the link in one place.


class MEPError(ValueError):
    """Bad MEP input or a failed MEP exchange."""


class FrameError(MEPError):
    """A frame or table image that does not parse."""


class LinkTimeout(MEPError):
    """No valid response within the timeout, after every retry."""


class ResponseError(MEPError):
    """The meter answered with a response code other than OK."""

    def __init__(self, code, table=None):
        super().__init__("meter answered 0x%02x%s" % (code, "" if table is None else " for table 0x%04x" % table))
        self.code = code
        self.table = table
