"""A Sluice transform in Python: parses CSV lines into fields named by config.

The glue between the WIT world `transform` (wit/sluice.wit) and `csvline.py`.
componentize-py generates the `wit_world` bindings at build time (see
README.md). Each event's message is parsed; the event goes on with one field
per column (and its message unchanged), or, if its line is not a row of this
CSV, to the `errors` output unchanged with the reason.

The output batch reuses the input's arena: the answer's arena starts with
the input's bytes, so unchanged messages and fields keep their offsets, and
only the new names and values are appended (each column name once per batch).
Per row, each output column is extended once rather than appended to per
field: CPython's per-call cost is what a Python plugin spends its time on.
"""

from itertools import accumulate

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import types

from csvline import KEYS, CsvParser, ConfigProblem, ParseProblem

VERSION = "0.1.0"

# Set by configure, which the host calls once per instance before anything else.
_parser = None


class Plugin(exports.Plugin):
    def describe(self):
        return types.PluginInfo(
            name="csv-example",
            version=VERSION,
            role=types.Role.TRANSFORM,
            description="parses CSV lines into fields named by `columns` (a Python plugin)",
            config_keys=[
                types.ConfigKey(name=n, type_name=t, required=r, description=d)
                for n, t, r, d in KEYS
            ],
            outputs=["errors"],
        )

    def configure(self, config):
        global _parser
        try:
            _parser = CsvParser(config)
        except ConfigProblem as p:
            raise Err(types.ConfigError(key=p.key, message=p.message))


def _empty_batch():
    return types.Batch(b"", [], [], [], [], [], [], [], b"", [], [], [])


class WitWorld(wit_world.WitWorld):
    def process(self, batch):
        if _parser is None:
            raise Err(types.PluginError("process called before configure"))
        text = batch.arena
        arena = bytearray(text)
        field_counts = batch.field_counts
        in_name_offsets, in_name_lens = batch.field_name_offsets, batch.field_name_lens
        in_kinds, in_numbers = batch.field_kinds, batch.field_numbers
        in_text_offsets, in_text_lens = batch.field_text_offsets, batch.field_text_lens

        timestamps, ingest_timestamps, message_offsets, message_lens = [], [], [], []
        out_counts, name_offsets, name_lens = [], [], []
        kinds, numbers, text_offsets, text_lens = bytearray(), [], [], []
        outputs, errors = [], []

        # The column names, appended to the arena once and shared by every row.
        column_name_offsets, column_name_lens = [], []
        for name in _parser.names:
            data = name.encode()
            column_name_offsets.append(len(arena))
            column_name_lens.append(len(data))
            arena += data
        new_names = {n.encode() for n in _parser.names}
        n_columns = len(_parser.names)

        first = 0
        for i, (start, length) in enumerate(zip(batch.message_offsets, batch.message_lens)):
            n_fields = field_counts[i]
            try:
                row = _parser.parse(text[start : start + length].decode())
                reason = None
            except ParseProblem as p:
                row, reason = (), str(p)
            if row is None:  # a header line: dropped
                first += n_fields
                continue

            written = 0
            # The event's own fields, unless a column replaces them.
            for j in range(first, first + n_fields):
                no, nl = in_name_offsets[j], in_name_lens[j]
                if row and text[no : no + nl] in new_names:
                    continue
                name_offsets.append(no)
                name_lens.append(nl)
                kinds.append(in_kinds[j])
                numbers.append(in_numbers[j])
                text_offsets.append(in_text_offsets[j])
                text_lens.append(in_text_lens[j])
                written += 1
            first += n_fields
            if row:
                # One field per column, each list extended once: the texts
                # are appended to the arena back to back.
                row_kinds, row_numbers, row_texts = row
                lens = list(map(len, row_texts))
                offsets = list(accumulate(lens, initial=len(arena)))
                offsets.pop()
                arena += b"".join(row_texts)
                name_offsets += column_name_offsets
                name_lens += column_name_lens
                kinds += row_kinds
                numbers += row_numbers
                text_offsets += offsets
                text_lens += lens
                written += n_columns

            if reason is not None:
                errors.append((len(outputs), reason))
                outputs.append(1)  # `errors`, the first output name
            else:
                outputs.append(0)
            timestamps.append(batch.timestamps[i])
            ingest_timestamps.append(batch.ingest_timestamps[i])
            message_offsets.append(start)
            message_lens.append(length)
            out_counts.append(written)

        events = types.Batch(
            arena=bytes(arena),
            timestamps=timestamps,
            ingest_timestamps=ingest_timestamps,
            message_offsets=message_offsets,
            message_lens=message_lens,
            field_counts=out_counts,
            field_name_offsets=name_offsets,
            field_name_lens=name_lens,
            field_kinds=bytes(kinds),
            field_numbers=numbers,
            field_text_offsets=text_offsets,
            field_text_lens=text_lens,
        )
        return types.EmittedBatch(
            events=events, outputs=outputs, output_names=["errors"], errors=errors
        )

    def flush(self):
        return types.EmittedBatch(events=_empty_batch(), outputs=[], output_names=[], errors=[])
