"""The mash and the latest distill run's lanes as Parquet, for engines beyond one machine.

``export_parquet(ws, DIR)`` (``moonshine export parquet DIR``) writes::

    DIR/_moonshine_export.json                     where it came from: workspace, hashes, counts, versions
    DIR/<table>/provider=<provider>/part-0.parquet one file per record table and provider (hive style)
    DIR/lanes/<lane>/data/<split>.<group>.parquet  the latest distill run's lane files
    DIR/lanes/<lane>/manifest.json                 that lane folder's own manifest (its ``features``)

so DuckDB, Polars, Spark or Ray read ``DIR/<table>/*/*.parquet`` with hive
partitioning and ``datasets`` loads the lanes. The column types are explicit,
derived from the SQLite schema (``store.schema``): TEXT is ``string``
(``*_json`` columns too: JSON text, as stored), INTEGER ``int64`` (flags
stay 0/1), REAL ``float64``; an epoch time column (REAL, named ``*_at`` or
``*_time``) keeps its float seconds and gains ``<name>_utc``, the same
instant as ``timestamp[us, UTC]`` (null where the seconds are not a date of
years 1 to 9999). A NOT NULL column is a non-nullable field. ``provider`` is
the partition: it lives in the path, not in the files, as hive readers
expect (DataFusion refuses a column that is in both, Spark warns about it).

Rows are read in ``record_uid`` order inside one read transaction and
written ``BATCH_ROWS`` at a time per provider (fewer when their text passes
``BATCH_BYTES``), one row group per batch: at most one batch per provider is
held in memory whatever the size of the mash, and the same records give the
same Parquet bytes.
Everything is written into ``DIR.partial`` and renamed into place at the end;
an earlier export at ``DIR`` is swapped out only with ``overwrite``.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import __version__
from .distill.parquet import write_parquet
from .errors import MoonshineError, RefusedError, StoreError
from .jsonio import read_json, write_json_atomic
from .store import Store, history
from .store import corpus as mash_corpus
from .store.db import schema_version
from .store.schema import RECORD_TABLES
from .sources import file_sha256
from .timeutil import utc_now_iso
from .workspace import Workspace

SCHEMA = "moonshine.parquet_export/1"
#: The file at the export's top that says where it came from.
MANIFEST_NAME = "_moonshine_export.json"
#: Present in ``DIR.partial`` while an export is being written; a leftover one marks a killed export.
PARTIAL_MARKER = ".moonshine_export_partial"
PARTITION_COLUMN = "provider"
TIME_SUFFIX = "_utc"
COMPRESSION = "zstd"
#: Rows per record batch (and row group) ...
BATCH_ROWS = 10_000
#: ... or fewer, once their values reach this many bytes (a raw conversation can be megabytes).
BATCH_BYTES = 64 << 20

#: Epoch seconds of 0001-01-01 and 10000-01-01 UTC: the instants an ISO-8601 date can name.
_MIN_EPOCH = -62_135_596_800.0
_MAX_EPOCH = 253_402_300_800.0

#: ``progress(rows done, rows total)`` over every exported table.
Progress = Callable[[int, int], None]


def _pa():
    # pyarrow (with numpy) takes ~0.2 s to import: paid by an export, not by every `moonshine` command.
    import pyarrow

    return pyarrow


def _pq():
    import pyarrow.parquet

    return pyarrow.parquet


def _pc():
    import pyarrow.compute

    return pyarrow.compute


# -- the schema --------------------------------------------------------------------------------
def is_time_column(name: str, declared: str) -> bool:
    """Whether a column holds epoch seconds: REAL and named ``*_at`` or ``*_time``."""
    return declared.upper() == "REAL" and name.endswith(("_at", "_time"))


def _arrow_type(table: str, name: str, declared: str):
    pa = _pa()
    types = {"TEXT": pa.string(), "INTEGER": pa.int64(), "REAL": pa.float64()}
    if declared.upper() not in types:
        raise StoreError(f"{table}.{name}: column type {declared!r} has no Parquet mapping")
    return types[declared.upper()]


def _columns(conn, table: str) -> list[tuple[str, str, bool]]:
    """``(name, declared type, NOT NULL)`` of ``table``'s columns, in schema order."""
    return [(name, declared, bool(notnull)) for _, name, declared, notnull, _, _ in conn.execute(
        f"pragma table_info({table})")]


def table_schema(conn, table: str):
    """The Arrow schema of ``table``'s Parquet files: every column but the partition column, each
    epoch time column followed by its ``<name>_utc`` timestamp."""
    pa = _pa()
    fields = []
    for name, declared, notnull in _columns(conn, table):
        if name == PARTITION_COLUMN:
            continue
        fields.append(pa.field(name, _arrow_type(table, name, declared), nullable=not notnull))
        if is_time_column(name, declared):
            fields.append(pa.field(name + TIME_SUFFIX, pa.timestamp("us", tz="UTC")))
    return pa.schema(fields)


def _utc(seconds):
    """Epoch seconds (float64 array) as ``timestamp[us, UTC]``, null outside years 1-9999."""
    pa, pc = _pa(), _pc()
    in_range = pc.and_kleene(pc.greater_equal(seconds, _MIN_EPOCH), pc.less(seconds, _MAX_EPOCH))
    # Out-of-range values (inf included) become null before the cast, which would fail on them.
    kept = pc.if_else(in_range, seconds, pa.scalar(None, pa.float64()))
    micros = pc.cast(pc.round(pc.multiply(kept, 1_000_000.0)), pa.int64())
    return micros.cast(pa.timestamp("us", tz="UTC"))


# -- writing one table -------------------------------------------------------------------------
def _open_writer(path: Path, schema):
    """The Parquet writer of one partition file (a seam for tests that watch the batches)."""
    return _pq().ParquetWriter(path, schema, compression=COMPRESSION)


def _table_rows(conn, table: str, columns: list[str]) -> Iterator[tuple]:
    """``(provider, *columns)`` of every row of ``table``, in ``record_uid`` order, streamed."""
    yield from conn.execute(f"SELECT {PARTITION_COLUMN}, {', '.join(columns)} FROM {table} ORDER BY record_uid")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str) else 8


class _Partition:
    """One ``<table>/provider=<p>/part-0.parquet``: rows buffered by column, flushed a batch at a time."""

    def __init__(self, table: str, path: Path, schema, columns: list[str], times: set[int]):
        self.table = table
        self.path = path
        self.schema = schema
        self.columns = columns
        self.times = times
        self.buffer: list[list[Any]] = [[] for _ in columns]
        self.buffered = 0
        self.bytes = 0
        self.rows = 0
        self.writer = None

    def add(self, values: tuple) -> int:
        """Buffer one row; returns how many rows that wrote (a full batch, else 0)."""
        for column, value in zip(self.buffer, values):
            column.append(value)
        self.buffered += 1
        self.bytes += sum(_size(v) for v in values)
        if self.buffered >= BATCH_ROWS or self.bytes >= BATCH_BYTES:
            return self.flush()
        return 0

    def flush(self) -> int:
        """Write the buffered rows as one record batch (one row group); returns how many."""
        if not self.buffered:
            return 0
        pa = _pa()
        arrays = []
        try:
            for index, (name, values) in enumerate(zip(self.columns, self.buffer)):
                array = pa.array(values, type=self.schema.field(name).type)
                arrays.append(array)
                if index in self.times:
                    arrays.append(_utc(array))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            # SQLite's flexible typing lets an edit store text in a REAL column; name what broke.
            raise StoreError(f"{self.table}.{name}: a value does not fit the column's type ({exc})") from exc
        if self.writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = _open_writer(self.path, self.schema)
        self.writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=self.schema))
        flushed = self.buffered
        self.rows += flushed
        self.buffer = [[] for _ in self.columns]
        self.buffered = 0
        self.bytes = 0
        return flushed

    def close(self) -> None:
        """Write what is buffered and finish the file."""
        self.flush()
        self.abandon()

    def abandon(self) -> None:
        """Close the file without writing the buffer (the export failed; its folder goes)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _partition_dir(provider: str) -> str:
    # Hive paths are URI-encoded (pyarrow's and Spark's readers decode them); plain names stay as they are.
    return f"{PARTITION_COLUMN}={urllib.parse.quote(provider, safe='')}"


def export_table(conn, table: str, out: Path, *, tick: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Write ``table`` under ``out/<table>/`` (see the module docstring); returns its manifest entry.

    ``tick(n)`` is told each time ``n`` more rows have been written.
    """
    schema = table_schema(conn, table)
    columns = [(name, declared) for name, declared, _ in _columns(conn, table) if name != PARTITION_COLUMN]
    names = [name for name, _ in columns]
    times = {i for i, (name, declared) in enumerate(columns) if is_time_column(name, declared)}
    partitions: dict[str, _Partition] = {}
    try:
        for provider, *values in _table_rows(conn, table, names):
            part = partitions.get(provider)
            if part is None:
                path = out / table / _partition_dir(provider) / "part-0.parquet"
                part = partitions[provider] = _Partition(table, path, schema, names, times)
            flushed = part.add(values)
            if flushed and tick:
                tick(flushed)
        for part in partitions.values():
            part.close()
    except BaseException:
        for part in partitions.values():
            part.abandon()
        raise
    files = {}
    for provider in sorted(partitions):
        part = partitions[provider]
        rel = part.path.relative_to(out).as_posix()
        files[rel] = {"rows": part.rows, "bytes": part.path.stat().st_size, "sha256": file_sha256(part.path)}
    return {
        "rows": sum(p.rows for p in partitions.values()),
        "by_provider": {p: partitions[p].rows for p in sorted(partitions)},
        "files": files,
        "columns": {field.name: str(field.type) for field in schema},
        "time_columns": {name: name + TIME_SUFFIX for i, (name, _) in enumerate(columns) if i in times},
    }


# -- lanes -------------------------------------------------------------------------------------
def latest_distill_run(conn) -> tuple[str, str, dict[str, str]] | None:
    """``(run_id, recorded_at, {lane: folder relative to the workspace})`` of the newest published
    distill run the mash records, or ``None``."""
    if not conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'distill_publications'").get:
        return None
    row = conn.execute("SELECT run_id, recorded_at, folders_json FROM distill_publications "
                       "WHERE state = 'published' ORDER BY recorded_at DESC, run_id DESC LIMIT 1").fetchone()
    return (row[0], row[1], json.loads(row[2])) if row else None


def export_lane(folder: Path, target: Path, out: Path) -> dict[str, Any]:
    """Write one lane folder's data files as Parquet under ``target`` (inside ``out``) with its
    manifest's ``features``, after checking each source file against the manifest's sha256.

    A folder that has typed copies (``data/<split>.<group>.parquet``) gives them as they are; an
    older one, with JSONL only, is converted (:func:`moonshine_core.distill.parquet.write_parquet`).
    """
    manifest = read_json(folder / "manifest.json")
    if manifest is None:
        raise StoreError(f"{folder}: no manifest.json (the lane folder is incomplete)")
    listed = manifest.get("files", {})
    typed = sorted(n for n in listed if n.startswith("data/") and n.endswith(".parquet") and n.count("/") == 1)
    sources = typed or sorted(n for n in listed if "/" not in n and n.endswith(".jsonl"))
    target.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in sources:
        source = folder / name
        if not source.is_file() or file_sha256(source) != listed[name]["sha256"]:
            raise StoreError(f"{source}: missing or changed since the distill run wrote it "
                             "(its sha256 differs from the lane manifest's)")
        dest = target / (name if typed else f"data/{name.removesuffix('.jsonl')}.parquet")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if typed:
            shutil.copyfile(source, dest)
            rows = listed[name]["rows"]
        else:
            rows = write_parquet(source, dest, manifest["features"])
        files[dest.relative_to(out).as_posix()] = {"rows": rows, "bytes": dest.stat().st_size,
                                                   "sha256": file_sha256(dest)}
    shutil.copyfile(folder / "manifest.json", target / "manifest.json")
    # The mixed set (``<split>.mix.*``) repeats rows of the provider files: not counted twice.
    return {"rows": sum(f["rows"] for n, f in files.items() if Path(n).name.split(".")[1] != "mix"),
            "files": files, "written_from": "parquet" if typed else "jsonl",
            "mash_content_sha256": manifest.get("mash_content_sha256")}


# -- the whole export --------------------------------------------------------------------------
def _records_check(conn) -> dict[str, Any]:
    """What the merge log vouches for, against what the exported rows hash to (same snapshot)."""
    log = history.read_log(conn) or []
    actual = history.records_sha256(conn)
    recorded = history.recorded_records_sha256(log)
    by = next((e for e in reversed(log) if e.get("records_sha256")), None)
    if recorded is None:
        status = "unrecorded" if history.has_records(conn) else "ok"
    else:
        status = "ok" if recorded == actual else "mismatch"
    return {"records_sha256": actual, "recorded_records_sha256": recorded, "records_check": status,
            "recorded_by": {k: by.get(k) for k in ("id", "action", "run_id")} if by else None}


def _check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RefusedError(f"{out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RefusedError(f"{out} is not empty; pass --overwrite to replace an earlier export there")
        if not (out / MANIFEST_NAME).is_file():
            raise RefusedError(f"{out} is not empty and holds no {MANIFEST_NAME}: --overwrite replaces only "
                               "an earlier export, never other files")


def _fresh_partial(out: Path) -> Path:
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        if not (partial / PARTIAL_MARKER).exists():
            raise RefusedError(f"{partial} exists and is not a killed export's leftover; move it away")
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    (partial / PARTIAL_MARKER).write_text("an export is being written here\n", encoding="utf-8")
    return partial


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where the
    system or filesystem cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _install(partial: Path, out: Path) -> None:
    """Put the finished ``partial`` at ``out``: a rename onto a missing or empty folder, else a swap
    with the earlier export (readers see the old export or the new one), which is then removed."""
    if not out.exists() or not any(out.iterdir()):
        os.replace(partial, out)
        return
    if _exchange(partial, out):
        shutil.rmtree(partial)
        return
    # No atomic swap here: the old export steps aside for the moment between two renames.
    aside = out.with_name(out.name + ".replaced")
    shutil.rmtree(aside, ignore_errors=True)
    os.replace(out, aside)
    os.replace(partial, out)
    shutil.rmtree(aside)


def _tables(tables: list[str] | None) -> list[str]:
    if tables is None:
        return list(RECORD_TABLES)
    unknown = [t for t in tables if t not in RECORD_TABLES]
    if unknown:
        raise MoonshineError(f"unknown table(s) {', '.join(unknown)}; tables: {', '.join(RECORD_TABLES)}")
    return [t for t in RECORD_TABLES if t in tables]


def export_parquet(ws: Workspace, out_dir: str | os.PathLike[str], *, tables: list[str] | None = None,
                   lanes: bool = True, overwrite: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """Export the workspace's mash (and the latest distill run's lanes) as Parquet into ``out_dir``.

    ``tables`` picks record tables (default: all of ``store.schema.RECORD_TABLES``);
    ``lanes=False`` leaves the lanes out. ``out_dir`` must be missing or
    empty, or, with ``overwrite``, hold an earlier export, which is replaced
    in one step once the new one is complete. ``progress(done, total)``
    counts rows. The mash is read in one transaction under the workspace
    lock. Returns the contents of ``_moonshine_export.json`` plus ``out_dir``.
    """
    ws.require_existing()
    if not ws.mash_path.exists():
        raise StoreError(f"no mash at {ws.mash_path}: merge a run first")
    chosen = _tables(tables)
    out = Path(out_dir).expanduser().resolve()
    _check_target(out, overwrite)
    with ws.lock():
        partial = _fresh_partial(out)
        try:
            manifest = _write(ws, partial, chosen, lanes, progress)
            (partial / PARTIAL_MARKER).unlink()
            write_json_atomic(partial / MANIFEST_NAME, manifest)
            _install(partial, out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return {**manifest, "out_dir": str(out)}


def _write(ws: Workspace, out: Path, tables: list[str], lanes: bool, progress: Progress | None) -> dict[str, Any]:
    store = Store(ws.mash_path, readonly=True)
    conn = store.conn
    try:
        conn.execute("BEGIN")   # one snapshot: hashes, counts, rows and lane list all of the same mash
        mash = {**_records_check(conn), "mash_content_sha256": mash_corpus.mash_content_sha256(store)}
        total = sum(conn.execute(f"SELECT count(*) FROM {t}").get for t in tables)
        done = 0

        def tick(n: int) -> None:
            nonlocal done
            done = min(total, done + n)
            if progress:
                progress(done, total)

        written = {}
        for table in tables:
            written[table] = export_table(conn, table, out, tick=tick)
            done = sum(t["rows"] for t in written.values())
            if progress:
                progress(done, total)
        latest = latest_distill_run(conn) if lanes else None
        version = schema_version(conn)
        conn.execute("ROLLBACK")
    finally:
        store.close()
    return {
        "schema": SCHEMA,
        "core_version": __version__,
        "schema_version": version,
        "exported_at": utc_now_iso(),
        "workspace": str(ws.root),
        "mash": mash,
        "partitioning": {"flavor": "hive", "columns": [PARTITION_COLUMN]},
        "tables": written,
        "lanes": _write_lanes(ws, out, latest, mash["mash_content_sha256"]) if lanes else None,
    }


def _write_lanes(ws: Workspace, out: Path, latest: tuple[str, str, dict[str, str]] | None,
                 mash_hash: str) -> dict[str, Any]:
    if latest is None:
        return {"run_id": None, "recorded_at": None, "lanes": {}}
    run_id, recorded_at, folders = latest
    found = {}
    for lane, rel in sorted(folders.items()):
        entry = export_lane(ws.root / rel, out / "lanes" / lane, out)
        found[lane] = {"source": rel, **entry, "matches_mash": entry["mash_content_sha256"] == mash_hash}
    return {"run_id": run_id, "recorded_at": recorded_at, "lanes": found}
