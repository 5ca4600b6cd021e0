# Status lines: one JSON object per line on the console, for people and for the
# host simulation's live view. {"kind": "...", ...fields}. Never used for secrets.
#
# The line is written piece by piece (json.dump to the stream), never built as one string:
# a status line with every task's health is about 1 KB, and on a board with a fragmented
# heap that one contiguous allocation was what failed first (issue 11).

import sys
import json


def emit(kind, fields, stream=None):
    fields["kind"] = kind
    out = sys.stdout if stream is None else stream
    json.dump(fields, out)
    out.write("\n")
