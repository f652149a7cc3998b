"""Explicit column types for a lane, so ``datasets`` never guesses from the first rows it reads.

Arrow infers a column that is null in every row of the first file (or the
first 10 MB chunk) as type ``null``, then fails on the first string it meets
later ("Couldn't cast array of type string to null"): with a tool call in one
provider's file and none in another's, loading several files at once breaks.
The pipeline therefore infers each column's type from *every* row of the lane
and writes it into ``manifest.json`` as ``features`` in the dict form of
``datasets.Features.to_dict()``; the typed Parquet copies of the lane's
files (:mod:`.parquet`) are written with it, the card's YAML header repeats
it, and :func:`load_lane` passes it to ``load_dataset``. Columns that are
null everywhere are typed ``string``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# A type is: "null" | "bool" | "int64" | "float64" | "string" | ("list", type) | ("struct", {name: type})


def infer(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        inner: Any = "null"
        for item in value:
            inner = merge(inner, infer(item))
        return ("list", inner)
    if isinstance(value, dict):
        return ("struct", {k: infer(v) for k, v in value.items()})
    return "string"


def merge(a: Any, b: Any) -> Any:
    if a == "null":
        return b
    if b == "null" or a == b:
        return a
    if isinstance(a, str) and isinstance(b, str) and {a, b} == {"int64", "float64"}:
        return "float64"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] == "list":
        return ("list", merge(a[1], b[1]))
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] == "struct":
        keys = list(dict.fromkeys([*a[1], *b[1]]))
        return ("struct", {k: merge(a[1].get(k, "null"), b[1].get(k, "null")) for k in keys})
    return "string"   # conflicting shapes: rows hold JSON strings for free-form data, so this is a bug guard


def to_features(kind: Any) -> Any:
    """The ``datasets.Features.to_dict()`` form of one inferred type."""
    if isinstance(kind, tuple) and kind[0] == "list":
        return {"_type": "List", "feature": to_features(kind[1])}
    if isinstance(kind, tuple) and kind[0] == "struct":
        return {k: to_features(v) for k, v in sorted(kind[1].items())}
    return {"_type": "Value", "dtype": "string" if kind == "null" else kind}


class FeatureCollector:
    """Merges the types of every row of a lane."""

    def __init__(self) -> None:
        self.columns: dict[str, Any] = {}

    def add(self, row: dict[str, Any]) -> None:
        for key, value in row.items():
            self.columns[key] = merge(self.columns.get(key, "null"), infer(value))

    def features(self) -> dict[str, Any]:
        return {k: to_features(v) for k, v in sorted(self.columns.items())}


def load_lane(folder: str | Path, files: list[str] | str | None = None, split: str | None = None):
    """Load a lane folder with ``datasets``, typed from its manifest.

    ``files`` names data files inside the folder, Parquet (``data/...``) or
    JSONL (default: every provider's ``data/<split>.<provider>.parquet``,
    keyed by split, the card's ``default`` config; folders written before the
    Parquet copies existed load their ``<split>.<provider>.jsonl``). Needs
    the ``datasets`` package. Returns what ``datasets.load_dataset`` returns.
    """
    from datasets import Features, load_dataset

    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    features = Features.from_dict(manifest["features"])
    if files is None:
        typed = [n for n in manifest["files"] if n.startswith("data/") and n.endswith(".parquet")]
        names = sorted(typed or [n for n in manifest["files"] if "/" not in n])
        data_files: Any = {}
        for name in names:
            part, group = Path(name).name.split(".")[:2]
            if group != "mix":
                data_files.setdefault(part, []).append(str(folder / name))
        builder = "parquet" if typed else "json"
    else:
        names = [files] if isinstance(files, str) else list(files)
        builder = "parquet" if all(n.endswith(".parquet") for n in names) else "json"
        data_files = str(folder / files) if isinstance(files, str) else [str(folder / f) for f in files]
    return load_dataset(builder, data_files=data_files, features=features, split=split)
