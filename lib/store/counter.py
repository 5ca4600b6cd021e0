# Counter: a monotonic counter that never hands out a value twice, crashes included.
#
# The file is an AtomicRecord holding "reserved up to N" as ASCII decimal digits.
# Values up to N may have been handed out; after a restart counting resumes at N + 1.
# A new reservation of `block` values is written before the first value beyond the
# old one is returned, so a crash skips at most block - 1 values never handed out.

from store.atomic import AtomicRecord
from store.fs import StoreError


class Counter:
    def __init__(self, path, block=16, start=1):
        if block < 1:
            raise ValueError("block must be >= 1")
        self.block = block
        self._record = AtomicRecord(path)
        # A corrupt record raises StoreError: a counter that cannot prove where it stood
        # must not guess (a reused AFL message counter breaks the security of a link).
        saved = self._record.read()
        if saved is None:
            self.reserved = start - 1
        else:
            try:
                self.reserved = int(saved)
            except ValueError:
                raise StoreError("counter %s holds %r" % (path, saved))
        self._next = max(self.reserved + 1, start)

    def peek(self):
        """The value next() will return."""
        return self._next

    def next(self):
        value = self._next
        if value > self.reserved:
            reserved = value + self.block - 1
            self._record.write(str(reserved).encode())  # on disk before the value leaves
            self.reserved = reserved
        self._next = value + 1
        return value
