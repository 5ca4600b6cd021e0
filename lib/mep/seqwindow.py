# The meter's replay window for MEP requests (docs/mep.md section 5): accept a sequence
# number only if it is greater than the last accepted one, and persist a reservation
# before acting, so no request accepted before a restart is ever accepted again while
# flash is written only once per `block` requests.

import struct
from micropython import const
from store.atomic import AtomicRecord

SEQ_MAX = const(0xFFFFFFFF)


class SeqWindow:
    def __init__(self, path, block=64):
        if block < 1:
            raise ValueError("block must be >= 1")
        self.block = block
        self._record = AtomicRecord(path)
        saved = self._record.read()  # a corrupt record raises StoreError: never guess
        self.reserved = struct.unpack(">I", saved)[0] if saved is not None and len(saved) == 4 else 0
        self.last = self.reserved

    @property
    def expected(self):
        """The smallest sequence number the meter accepts next."""
        return min(self.last + 1, SEQ_MAX)

    def accept(self, seq):
        """True (and remembered, on flash first if beyond the reservation) if seq is new."""
        if seq <= self.last:
            return False
        if seq > self.reserved:
            reserved = min(seq + self.block, SEQ_MAX)
            self._record.write(struct.pack(">I", reserved))
            self.reserved = reserved
        self.last = seq
        return True
