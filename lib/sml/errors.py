# The SML error family: every refusal of bad input is an SmlError with a short fixed
# reason (counted per reason by the task that reads the link) and a detail for the log.


class SmlError(ValueError):
    def __init__(self, reason, detail="", attention=None):
        super().__init__("%s: %s" % (reason, detail) if detail else reason)
        self.reason = reason
        self.detail = detail
        # The attention number answered for it (sml.messages.ATT_*), None: no answer.
        self.attention = attention
