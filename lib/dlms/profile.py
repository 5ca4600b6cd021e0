# Profile generic (class 7): a buffer of captured rows read whole, by range of the
# clock column (selector 1) or by entry (selector 2), optionally a subset of columns.
#
# The rows come from a source the application keeps (a power-fail-safe ring):
#   source.rows()     iterator of row tuples, oldest first (a clock column holds epoch s)
#   source.depth      how many rows it keeps at most
# A long buffer is written row by row as the block transfer asks for it: get() returns
# a generator, so a month of rows never sits in memory at once.

from dlms import axdr as X
from dlms import cosemtime
from dlms.cosem import (CosemObject, Refused, READ, NO, OBJECT_UNAVAILABLE, OTHER_REASON, TYPE_UNMATCHED,
                        capture_object, expect)

CLOCK_CLASS = 8
# A column: (class_id, logical name, attribute, tag); a clock column has tag DATE_TIME and
# is written as the 12-octet octet-string both clients expect.


def _date(value):
    if value[0] == X.OCTET_STRING or value[0] == X.DATE_TIME:
        return value[1]
    raise Refused(TYPE_UNMATCHED)


class ProfileGeneric(CosemObject):
    class_id = 7
    version = 1
    methods = ((NO, NO), (NO, NO))

    def __init__(self, ln, columns, source, period_s, public=True):
        level0 = READ if public else NO
        attributes = ((READ, READ),) + ((level0, READ),) * 7
        super().__init__(ln, attributes)
        self.columns = columns
        self.source = source
        self.period_s = period_s

    def get_value(self, attr, w, selector, params, assoc):
        if attr == 2:
            return self._buffer(w, selector, params)
        if attr == 3:
            w.array(len(self.columns))
            for class_id, ln, a, _tag in self.columns:
                capture_object(w, class_id, ln, a)
        elif attr == 4:
            w.integer(X.UINT32, self.period_s)
        elif attr == 5:
            w.integer(X.ENUM, 1)  # fifo
        elif attr == 6:
            capture_object(w, 0, bytes(6), 0)
        elif attr == 7:
            w.integer(X.UINT32, self._count(None))
        else:
            w.integer(X.UINT32, self.source.depth)
        return None

    def _count(self, keep):
        n = 0
        for row in self.source.rows():
            if keep is None or keep(row):
                n += 1
        return n

    def _selected(self, spec):
        """Column indexes named by an array of capture object definitions (empty: all)."""
        if not spec:
            return tuple(range(len(self.columns)))
        out = []
        for item in spec:
            fields = expect(item, X.STRUCTURE)
            if len(fields) != 4:
                raise Refused(TYPE_UNMATCHED)
            class_id = expect(fields[0], X.UINT16)
            ln = expect(fields[1], X.OCTET_STRING)
            attr = expect(fields[2], X.INT8)
            for k, (c, name, a, _t) in enumerate(self.columns):
                if c == class_id and name == ln and a == attr:
                    out.append(k)
                    break
            else:
                raise Refused(OTHER_REASON)
        return tuple(out)

    def _buffer(self, w, selector, params):
        columns = tuple(range(len(self.columns)))
        keep = None
        first = 1
        last = None
        if selector == 1:
            fields = expect(params, X.STRUCTURE)
            if len(fields) != 4:
                raise Refused(TYPE_UNMATCHED)
            restricting = expect(fields[0], X.STRUCTURE)
            if len(restricting) != 4 or expect(restricting[0], X.UINT16) != CLOCK_CLASS:
                raise Refused(OTHER_REASON)  # only the clock column restricts a range here
            clock_col = None
            for k, col in enumerate(self.columns):
                if col[0] == CLOCK_CLASS:
                    clock_col = k
            if clock_col is None:
                raise Refused(OBJECT_UNAVAILABLE)
            try:
                t_from = cosemtime.decode(_date(fields[1]), -1)
                t_to = cosemtime.decode(_date(fields[2]), 1 << 62)
            except ValueError:
                raise Refused(TYPE_UNMATCHED)
            columns = self._selected(expect(fields[3], X.ARRAY))

            def keep(row):
                return t_from <= row[clock_col] <= t_to
        elif selector == 2:
            fields = expect(params, X.STRUCTURE)
            if len(fields) != 4:
                raise Refused(TYPE_UNMATCHED)
            first = expect(fields[0], X.UINT32)
            last = expect(fields[1], X.UINT32) or None  # 0: to the newest
            col_from = expect(fields[2], X.UINT16)
            col_to = expect(fields[3], X.UINT16) or len(self.columns)
            if first < 1 or col_from < 1 or col_from > col_to or col_to > len(self.columns) or (
                    last is not None and last < first):
                raise Refused(OTHER_REASON)
            columns = tuple(range(col_from - 1, col_to))
        elif selector is not None:
            raise Refused(OTHER_REASON)
        if keep is not None:
            count = self._count(keep)
        else:
            total = self._count(None)
            end = total if last is None else min(last, total)
            count = max(0, end - first + 1)
        w.array(count)
        if count == 0:
            return None
        return self._rows(w, keep, first, count, columns)

    def _rows(self, w, keep, first, count, columns):
        cols = self.columns
        index = 0
        written = 0
        date = bytearray(12)
        for row in self.source.rows():
            index += 1
            if keep is not None:
                if not keep(row):
                    continue
            elif index < first:
                continue
            w.structure(len(columns))
            for k in columns:
                tag = cols[k][3]
                if tag == X.DATE_TIME:
                    w.octets(cosemtime.encode(row[k], date))
                else:
                    w.integer(tag, row[k])
            written += 1
            if written == count:
                return
            yield
        # Rows vanished between counting and writing (the ring rotated): keep the count
        # the client was promised with empty rows rather than a malformed array.
        while written < count:
            w.structure(0)
            written += 1
            yield
