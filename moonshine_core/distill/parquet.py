"""Typed Parquet copies of a lane's data files, with the Arrow schema of the manifest's ``features``.

A JSONL file says nothing about its column types, so a reader infers them,
and a column that is null in every row of one file comes out as type
``null`` there and ``string`` in the next ("Couldn't cast array of type
string to null"). A Parquet file carries its schema: every copy of a lane is
written with the one schema derived from the lane's ``features`` (inferred
from all of its rows), so any set of them loads together, typed, with
``datasets``, pandas, DuckDB, Polars or Spark and no ``features=`` argument.

The JSONL file is read back with pyarrow's JSON reader against that schema
(streaming, one row group per block); a file it refuses (a row longer than
a block, or a column whose rows disagree in shape) is converted row by row
in Python instead. Either way the output is deterministic: rows in file
order, row groups fixed by the input, zstd, no timestamps, so two
distillations of the same mash give the same bytes (with the same pyarrow).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Bytes of JSONL per block of the Arrow reader (one row group each); bounds memory.
BLOCK_BYTES = 16 << 20
#: Rows per row group on the row-by-row path, which also stops at BLOCK_BYTES of JSON text.
ROW_GROUP_ROWS = 1000
COMPRESSION = "zstd"


def _pa():
    # pyarrow (with numpy) costs ~0.2 s to import: loaded when a lane is written, not whenever
    # the plugin manager imports the built-in lanes (tests/test_import_structure.py).
    import pyarrow

    return pyarrow


def arrow_type(feature: dict[str, Any]):
    """The Arrow type of one feature in ``datasets.Features.to_dict()`` form (Value, List, struct)."""
    pa = _pa()
    kind = feature.get("_type")
    if kind == "Value":
        return pa.type_for_alias(feature["dtype"])
    if kind == "List":
        return pa.list_(arrow_type(feature["feature"]))
    if kind is None:
        return pa.struct([(name, arrow_type(inner)) for name, inner in feature.items()])
    raise ValueError(f"feature type {kind!r} has no Arrow mapping here")


def arrow_schema(features: dict[str, Any]):
    """The Arrow schema of a lane's ``features`` (column order as in the manifest)."""
    pa = _pa()
    return pa.schema([(name, arrow_type(feature)) for name, feature in features.items()])


def _as_json_text(value: Any, feature: dict[str, Any]) -> Any:
    """``value`` shaped for ``feature``: a non-string where the lane's types say string becomes its
    canonical JSON text (``features.merge`` types conflicting shapes as string)."""
    if value is None:
        return None
    kind = feature.get("_type")
    if kind == "Value":
        if feature["dtype"] == "string" and not isinstance(value, str):
            return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        return value
    if kind == "List":
        return [_as_json_text(item, feature["feature"]) for item in value] if isinstance(value, list) else value
    if isinstance(value, dict):
        return {name: _as_json_text(value.get(name), inner) for name, inner in feature.items()}
    return value


def _table(rows: list[dict[str, Any]], schema, features: dict[str, Any]):
    pa = _pa()
    try:
        return pa.Table.from_pylist(rows, schema=schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Only a column whose rows disagree in shape lands here; the fast path covers the rest.
        shaped = [{name: _as_json_text(row.get(name), feature) for name, feature in features.items()}
                  for row in rows]
        return pa.Table.from_pylist(shaped, schema=schema)


def _arrow_tables(path: Path, schema) -> Iterator[Any]:
    import pyarrow.json as pj

    pa = _pa()
    reader = pj.open_json(path, read_options=pj.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
                          parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"))
    for batch in reader:
        yield pa.Table.from_batches([batch], schema=schema)


def _python_tables(path: Path, schema, features: dict[str, Any]) -> Iterator[Any]:
    batch: list[dict[str, Any]] = []
    size = 0
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            batch.append(json.loads(line))
            size += len(line)
            if len(batch) == ROW_GROUP_ROWS or size >= BLOCK_BYTES:
                yield _table(batch, schema, features)
                batch, size = [], 0
    if batch:
        yield _table(batch, schema, features)


def _write(target: Path, schema, tables: Iterator[Any]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(target, schema, compression=COMPRESSION) as writer:
        for table in tables:
            writer.write_table(table, row_group_size=max(table.num_rows, 1))
            rows += table.num_rows
    return rows


def write_parquet(source: Path, target: Path, features: dict[str, Any]) -> int:
    """Write the JSONL file ``source`` as Parquet at ``target`` with the schema of ``features``.

    Streams block by block; returns the number of rows.
    """
    pa = _pa()
    schema = arrow_schema(features)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _write(target, schema, _arrow_tables(source, schema))
    except pa.ArrowInvalid:
        return _write(target, schema, _python_tables(source, schema, features))
