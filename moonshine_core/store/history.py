"""The mash's own merge log (table ``merge_log``) and the content hash of its records.

The log is written in the same transaction as the rows a merge brings, so the
mash and the record of what it holds can only change together. What the log
means for the workspace (the merge manifest derived from it) is in
:mod:`moonshine_core.mergelog`; this module is only its SQL.

``records_sha256`` is the sha256 over every row of every record table, every
column (each row as a JSON array), in ``record_uid`` order.
Unlike the file's sha256 it does not depend on page layout, checkpoints or the
distillation bookkeeping (``scores``, ``distilled_conversations``), and unlike
``mash_content_sha256`` (pairs of uid and content hash) it changes with any
edit of any column, so an SQL edit of a merged row is noticed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import apsw
import orjson

from ..ids import canonical_json
from .schema import RECORD_TABLES

TABLE = "merge_log"


def has_log(conn: apsw.Connection) -> bool:
    """Whether the DB has the ``merge_log`` table (schema 3 and later)."""
    return bool(conn.execute("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", (TABLE,)).get)


def read_log(conn: apsw.Connection) -> list[dict[str, Any]] | None:
    """The log's entries, oldest first; ``None`` when the DB predates the table."""
    if not has_log(conn):
        return None
    return [json.loads(text) for (text,) in conn.execute(f"SELECT entry_json FROM {TABLE} ORDER BY seq")]


def append(conn: apsw.Connection, entry: dict[str, Any]) -> None:
    """Add ``entry`` (which has an ``id``) as the newest entry; call inside the transaction it records."""
    conn.execute(f"INSERT INTO {TABLE} (entry_id, action, run_id, records_sha256, entry_json) VALUES (?,?,?,?,?)",
                 (entry["id"], entry["action"], entry.get("run_id"), entry.get("records_sha256"),
                  canonical_json(entry)))


def clear(conn: apsw.Connection) -> None:
    """Forget every entry (a bootstrap copy starts its own history)."""
    conn.execute(f"DELETE FROM {TABLE}")


def recorded_records_sha256(log: list[dict[str, Any]]) -> str | None:
    """The content hash the newest entry that recorded one says the records have."""
    for entry in reversed(log):
        if entry.get("records_sha256"):
            return entry["records_sha256"]
    return None


def has_records(conn: apsw.Connection) -> bool:
    """Whether any record table holds a row."""
    return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").get for t in RECORD_TABLES)


def records_sha256(conn: apsw.Connection) -> str:
    """sha256 over every column of every row of the record tables (see the module docstring)."""
    digest = hashlib.sha256()
    for table in RECORD_TABLES:
        columns = [r[1] for r in conn.execute(f"pragma table_info({table})")]
        digest.update(orjson.dumps([table, columns]) + b"\n")
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY record_uid"):
            digest.update(orjson.dumps(row, default=_blob) + b"\n")
    return digest.hexdigest()


def _blob(value: Any) -> Any:
    if isinstance(value, bytes):  # no record column is a BLOB, but SQLite would store one an edit wrote
        return {"blob": value.hex()}
    raise TypeError(type(value).__name__)
