# Configuration schema checker: every error names the full key path of the bad value.
#
#   SCHEMA = {
#       "metrology": {"period_ms": Int(100, 60000, default=1000)},
#       "mbus": {"devices": List({"address": Int(0, 250), "id": Digits(8)}, max_len=4)},
#       "lmn": {"key": Hex(16), "mode": Str(choices=("T1", "C1"), default="C1")},
#   }
#   config = load("/config.json", SCHEMA)  # or validate(data, SCHEMA)
#
# A schema is nested dicts (sections) of field specs. validate() returns a new
# dict with defaults filled in. Unknown keys are errors (a typo must not silently
# fall back to a default), as are missing required keys and wrong types; true and
# false are never integers. Defaults are used as given, not checked.

import json

REQUIRED = object()  # the default of a field that must be present


class ConfigError(Exception):
    """`config: metrology.period_ms: must be an integer from 100 to 60000, got "fast"`"""

    def __init__(self, key, problem):
        super().__init__("config: %s: %s" % (key, problem) if key else "config: " + problem)
        # Dotted path of the bad value ("mbus.devices[2].address"), "" for the whole
        # document, or the file name when the file cannot be read or parsed.
        self.key = key


def _shown(value):
    try:
        text = json.dumps(value)
    except TypeError:  # validate() called with Python data that JSON would not hold
        text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _bad(path, spec, value):
    return ConfigError(path, "must be %s, got %s" % (spec.expected(), _shown(value)))


def _is_int(value):
    return type(value) is int  # not bool, which CPython counts as an int


def _range(kind, low, high):
    if low is not None and high is not None:
        return "%s from %s to %s" % (kind, low, high)
    if low is not None:
        return "%s >= %s" % (kind, low)
    if high is not None:
        return "%s <= %s" % (kind, high)
    return kind


class Int:
    """An integer from min to max, or one of `choices`."""

    def __init__(self, min=None, max=None, default=REQUIRED, choices=None):
        self.min, self.max, self.default, self.choices = min, max, default, choices

    def expected(self):
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        return _range("an integer", self.min, self.max)

    def check(self, value, path):
        if not _is_int(value) or not _within(value, self.min, self.max):
            raise _bad(path, self, value)
        if self.choices is not None and value not in self.choices:
            raise _bad(path, self, value)
        return value


class Float:
    """A number (JSON integers are accepted), returned as a float."""

    def __init__(self, min=None, max=None, default=REQUIRED):
        self.min, self.max, self.default = min, max, default

    def expected(self):
        return _range("a number", self.min, self.max)

    def check(self, value, path):
        kind = type(value)
        # value - value is 0 only for finite numbers: rejects inf and nan
        if (kind is not int and kind is not float) or value - value != 0:
            raise _bad(path, self, value)
        if not _within(value, self.min, self.max):
            raise _bad(path, self, value)
        return float(value)


def _within(value, low, high):
    return (low is None or value >= low) and (high is None or value <= high)


class Bool:
    def __init__(self, default=REQUIRED):
        self.default = default

    def expected(self):
        return "true or false"

    def check(self, value, path):
        if value is not True and value is not False:
            raise _bad(path, self, value)
        return value


class Str:
    """A string: one of `choices`, or min_len..max_len characters, all from `chars` if given."""

    def __init__(self, choices=None, min_len=0, max_len=None, chars=None, default=REQUIRED):
        self.choices, self.min_len, self.max_len = choices, min_len, max_len
        self.chars, self.default = chars, default

    def expected(self):
        if self.choices is not None:
            return "one of " + ", ".join(json.dumps(c) for c in self.choices)
        if self.max_len is None:
            text = "a string of at least %d characters" % self.min_len
        elif self.min_len == self.max_len:
            text = "a string of %d characters" % self.max_len
        else:
            text = "a string of %d to %d characters" % (self.min_len, self.max_len)
        return text if self.chars is None else text + " from %s" % json.dumps(self.chars)

    def check(self, value, path):
        if type(value) is not str:
            raise _bad(path, self, value)
        if self.choices is not None:
            if value not in self.choices:
                raise _bad(path, self, value)
            return value
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise _bad(path, self, value)
        if self.chars is not None:
            for char in value:
                if char not in self.chars:
                    raise _bad(path, self, value)
        return value


_DIGITS = "0123456789"
_HEX_DIGITS = "0123456789abcdefABCDEF"


class Digits(Str):
    """Exactly n decimal digits, kept as a string (meter ids keep their leading zeros)."""

    def __init__(self, n, default=REQUIRED):
        super().__init__(min_len=n, max_len=n, chars=_DIGITS, default=default)

    def expected(self):
        return "a string of %d decimal digits" % self.max_len


class Hex(Str):
    """A key or id of length_bytes bytes written as 2 * length_bytes hex digits; gives bytes."""

    def __init__(self, length_bytes, default=REQUIRED):
        super().__init__(min_len=2 * length_bytes, max_len=2 * length_bytes, chars=_HEX_DIGITS,
                         default=default)

    def expected(self):
        return "a string of %d hex digits" % self.max_len

    def check(self, value, path):
        return bytes.fromhex(super().check(value, path))


class List:
    """A JSON array of min_len..max_len items, each checked against `item`."""

    def __init__(self, item, min_len=0, max_len=None, default=REQUIRED):
        self.item, self.min_len, self.max_len, self.default = item, min_len, max_len, default

    def expected(self):
        if self.max_len is None:
            return "a list of at least %d items" % self.min_len
        return "a list of %d to %d items" % (self.min_len, self.max_len)

    def check(self, value, path):
        if type(value) is not list:
            raise _bad(path, self, value)
        if len(value) < self.min_len or (self.max_len is not None and len(value) > self.max_len):
            raise _bad(path, self, value)
        item = self.item
        return [_check(item, v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]


class Optional:
    """`spec`, or null: a setting that may be switched off ("air": null means no radio)."""

    def __init__(self, spec, default=None):
        self.spec, self.default = spec, default

    def expected(self):
        spec = self.spec
        return ("an object" if type(spec) is dict else spec.expected()) + " or null"

    def check(self, value, path):
        if value is None:
            return None
        try:
            return _check(self.spec, value, path)
        except ConfigError as exc:
            if exc.key == path:  # the value itself, not something inside it: say null is fine too
                raise _bad(path, self, value)
            raise


class Section:
    """A JSON object with exactly these keys (a plain dict in a schema means the same).

    A missing section is read as {}: it takes its fields' defaults, and a missing
    required field is named by its full path."""

    def __init__(self, fields, default=None):
        self.fields = fields
        self.default = default

    def expected(self):
        return "an object"

    def check(self, value, path):
        if type(value) is not dict:
            raise _bad(path, self, value)
        fields = self.fields
        for key in value:
            if key not in fields:
                raise ConfigError(_join(path, key), "unknown key (expected one of: %s)"
                                  % ", ".join(sorted(fields)))
        result = {}
        for key, spec in fields.items():
            if key in value:
                result[key] = _check(spec, value[key], _join(path, key))
            else:
                result[key] = _missing(spec, _join(path, key))
        return result


def _join(path, key):
    return path + "." + key if path else key


def _check(spec, value, path):
    return (Section(spec) if type(spec) is dict else spec).check(value, path)


def _missing(spec, path):
    if type(spec) is dict or (isinstance(spec, Section) and spec.default is None):
        return _check(spec, {}, path)
    if spec.default is REQUIRED:
        raise ConfigError(path, "missing: must be %s" % spec.expected())
    default = spec.default
    # A fresh copy, so that one configuration never shares a list or dict with another.
    return list(default) if type(default) is list else dict(default) if type(default) is dict else default


def validate(data, schema):
    """The checked configuration with defaults filled in; ConfigError names the bad key."""
    return _check(schema, data, "")


def read_json(path):
    """The JSON document at `path`; ConfigError names the file on I/O and syntax errors."""
    try:
        with open(path) as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(path, "cannot read the file (%s)" % exc)
    try:
        return json.loads(text)
    except ValueError as exc:  # CPython's JSONDecodeError and UnicodeError are ValueErrors
        raise ConfigError(path, "not valid JSON (%s)" % exc)


def load(path, schema):
    """Read the JSON file at `path` and validate it against `schema`."""
    return validate(read_json(path), schema)
