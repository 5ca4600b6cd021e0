# Power-fail-safe storage: atomic records, bounded rings of records, crash-proof counters.
#
# Everything that must survive a pulled plug goes through these three primitives. Each
# detects a torn or corrupt write and never returns it as data. On-disk formats,
# guarantees and what they assume of the filesystem: docs/storage.md.

from store.fs import StoreError
from store.atomic import AtomicRecord
from store.ring import Ring
from store.counter import Counter

__all__ = ("StoreError", "AtomicRecord", "Ring", "Counter")
