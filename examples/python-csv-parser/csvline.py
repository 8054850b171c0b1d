"""Splits one CSV line into named, typed cells.

The plugin's logic, with no WIT in it, so it runs under a plain python3:
`python3 -m unittest test_csvline` in this directory. `app.py` is the glue
that makes it a Sluice transform.
"""

import csv
import json
import struct

# (name, type, required, description), as `describe` reports them.
KEYS = [
    ("columns", "list<string>", True, "field names of the CSV columns, in order"),
    ("delimiter", "string", False, "one character between cells (default `,`)"),
    (
        "types",
        "table",
        False,
        "column name -> `string` (default), `integer`, `float` or `boolean`; "
        "an empty typed cell becomes null",
    ),
    ("prefix", "string", False, "put before every field name (default none)"),
    (
        "skip_header",
        "boolean",
        False,
        "drop lines whose cells are exactly the column names (default false)",
    ),
]

TYPES = ("string", "integer", "float", "boolean")

# Field kinds of the columnar batch (wit/sluice.wit, `batch`).
KIND_NULL, KIND_BOOL, KIND_INT, KIND_FLOAT, KIND_STRING = 0, 1, 2, 3, 4

S64_MIN, S64_MAX = -(2**63), 2**63 - 1


class ConfigProblem(Exception):
    """A refused config value; `key` is the dotted key inside `config`."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key
        self.message = message


class ParseProblem(Exception):
    """A line that is not a row of this CSV; the reason goes to `errors`."""


def _float_bits(value):
    return struct.unpack("<q", struct.pack("<d", value))[0]


def _convert(column, kind, cell):
    """Returns (field kind, number) for a cell of a typed column."""
    if cell == "":
        return KIND_NULL, 0
    if kind == "integer":
        try:
            number = int(cell.strip())
        except ValueError:
            raise ParseProblem(f"column `{column}`: `{cell}` is not an integer") from None
        if not S64_MIN <= number <= S64_MAX:
            raise ParseProblem(f"column `{column}`: `{cell}` does not fit in 64 bits")
        return KIND_INT, number
    if kind == "float":
        try:
            return KIND_FLOAT, _float_bits(float(cell.strip()))
        except ValueError:
            raise ParseProblem(f"column `{column}`: `{cell}` is not a number") from None
    truth = cell.strip().lower()
    if truth in ("true", "1", "yes"):
        return KIND_BOOL, 1
    if truth in ("false", "0", "no"):
        return KIND_BOOL, 0
    raise ParseProblem(f"column `{column}`: `{cell}` is not a boolean")


class CsvParser:
    def __init__(self, config_json):
        """Validates the stage's config (a JSON object); raises ConfigProblem."""
        try:
            config = json.loads(config_json)
        except ValueError as e:
            raise ConfigProblem(None, f"config is not valid JSON: {e}") from None
        if not isinstance(config, dict):
            raise ConfigProblem(None, "config must be a JSON object")
        known = [k[0] for k in KEYS]
        for key in config:
            if key not in known:
                raise ConfigProblem(key, f"unknown key `{key}`, expected one of: {', '.join(known)}")

        columns = config.get("columns")
        if columns is None:
            raise ConfigProblem("columns", "missing required key")
        if not isinstance(columns, list) or not columns:
            raise ConfigProblem("columns", "must be a non-empty list of column names")
        for column in columns:
            if not isinstance(column, str) or not column:
                raise ConfigProblem("columns", f"{json.dumps(column)} is not a column name")
        duplicates = sorted({c for c in columns if columns.count(c) > 1})
        if duplicates:
            raise ConfigProblem("columns", f"`{duplicates[0]}` appears twice")

        delimiter = config.get("delimiter", ",")
        if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
            raise ConfigProblem("delimiter", "must be exactly one character, not a quote or newline")

        types = config.get("types", {})
        if not isinstance(types, dict):
            raise ConfigProblem("types", "must be a table of column name -> type")
        for column, kind in types.items():
            if column not in columns:
                raise ConfigProblem(f"types.{column}", f"`{column}` is not one of the columns")
            if kind not in TYPES:
                raise ConfigProblem(f"types.{column}", f"must be one of: {', '.join(TYPES)}")

        prefix = config.get("prefix", "")
        if not isinstance(prefix, str):
            raise ConfigProblem("prefix", "must be a string")
        skip_header = config.get("skip_header", False)
        if not isinstance(skip_header, bool):
            raise ConfigProblem("skip_header", "must be true or false")

        self.columns = columns
        self.delimiter = delimiter
        self.skip_header = skip_header
        self.names = [prefix + c for c in columns]
        # What every row starts from: all strings, then the typed columns.
        self.string_kinds = bytes([KIND_STRING] * len(columns))
        self.typed = [(at, types[c]) for at, c in enumerate(columns) if types.get(c, "string") != "string"]

    def split(self, line):
        """The cells of `line`; raises ParseProblem."""
        if '"' not in line and "\r" not in line and "\n" not in line:
            cells = line.split(self.delimiter)  # no quoting: what csv would do, faster
        else:
            try:
                rows = list(csv.reader([line], delimiter=self.delimiter, strict=True))
            except csv.Error as e:
                raise ParseProblem(f"malformed CSV: {e}") from None
            cells = rows[0] if rows else []
        if len(cells) != len(self.columns):
            raise ParseProblem(f"expected {len(self.columns)} columns, found {len(cells)}")
        return cells

    def parse(self, line):
        """The row in `line` as three lists in column order: field kinds
        (bytes), numbers, and UTF-8 texts (empty for other kinds); or None for
        a header line to drop. Raises ParseProblem."""
        cells = self.split(line)
        if self.skip_header and cells == self.columns:
            return None
        kinds = bytearray(self.string_kinds)
        numbers = [0] * len(cells)
        texts = [cell.encode() for cell in cells]
        for at, kind in self.typed:
            kinds[at], numbers[at] = _convert(self.columns[at], kind, cells[at])
            texts[at] = b""
        return kinds, numbers, texts
