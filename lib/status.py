# Status lines: one JSON object per line on the console, for people and for the
# host simulation's live view. {"kind": "...", ...fields}. Never used for secrets.

import json


def emit(kind, fields, stream=None):
    fields["kind"] = kind
    line = json.dumps(fields)
    if stream is None:
        print(line)
    else:
        stream.write(line + "\n")
