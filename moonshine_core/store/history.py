"""The mash's own merge log (table ``merge_log``) and the content hash of its records.

The log is written in the same transaction as the rows a merge brings, so the
mash and the record of what it holds can only change together. What the log
means for the workspace (the merge manifest derived from it) is in
:mod:`moonshine_core.mergelog`; this module is only its SQL.

``records_sha256`` covers every column of every row of every record table.
Unlike the file's sha256 it does not depend on page layout, checkpoints or the
distillation bookkeeping (``scores``, ``distilled_conversations``), and unlike
``mash_content_sha256`` (pairs of uid and content hash) it changes with any
edit of any column, so an SQL edit of a merged row is noticed.

Two schemes exist. Scheme 1 (entries without ``records_scheme``, written by
older cores) is a sha256 over the rows in ``record_uid`` order, so it can only
be computed from every row. Scheme 2 (``records_scheme: 2``) is order
independent: per table, the row count and the sum modulo 2**256 of each row's
sha256, hashed together with the table's columns. A merge keeps it current by
adding the rows it writes and subtracting the versions they replace, a cost
that grows with the change, not the corpus; the per-table sums live in the
mash's ``records_digest`` table.

``records_digest`` also counts, by triggers on every record table, every row
any connection inserts, updates or deletes (``changes``). Each entry records
the count its own transaction left (``records_changes``). While the count is
still that, no SQL statement has touched a record row since, so the recorded
hash still holds without reading a row; any other count (or missing triggers)
sends the check back to recomputing the hash from every row. The table and
its triggers are created with the mash (:func:`install_digest`, run by
``ensure_mash``, ``upgrade_mash``, bootstrap and, for an older mash, by the
merge itself, in its transaction).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import apsw
import orjson

from ..ids import canonical_json
from .schema import RECORD_TABLES

TABLE = "merge_log"
DIGEST_TABLE = "records_digest"
#: The scheme new entries record (see the module docstring).
SCHEME = 2
_MOD = 1 << 256
_EVENTS = ("INSERT", "UPDATE", "DELETE")


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


def vouching_entry(log: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The newest entry that recorded the records' content hash."""
    return next((e for e in reversed(log) if e.get("records_sha256")), None)


def recorded_records_sha256(log: list[dict[str, Any]]) -> str | None:
    """The content hash the newest entry that recorded one says the records have."""
    entry = vouching_entry(log)
    return entry["records_sha256"] if entry else None


def has_records(conn: apsw.Connection) -> bool:
    """Whether any record table holds a row."""
    return any(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t})").get for t in RECORD_TABLES)


def columns_of(conn: apsw.Connection, table: str, schema: str = "main") -> list[str]:
    """Every column of ``table``, in table order (what the content hash covers)."""
    return [r[1] for r in conn.execute(f"pragma {schema}.table_info({table})")]


def records_sha256(conn: apsw.Connection, scheme: int | None = None) -> str:
    """The records' content hash computed from every row (see the module docstring).

    ``scheme`` defaults to the one the DB's newest vouching log entry used (2 when none did),
    so the answer can be compared with what the log recorded.
    """
    if scheme is None:
        by = vouching_entry(read_log(conn) or [])
        scheme = by.get("records_scheme", 1) if by else SCHEME
    if scheme == 1:
        return _ordered_sha256(conn)
    return digest_of(conn, full_sums(conn))


# -- scheme 1 -------------------------------------------------------------------------------------
def _ordered_sha256(conn: apsw.Connection) -> str:
    digest = hashlib.sha256()
    for table in RECORD_TABLES:
        columns = columns_of(conn, table)
        digest.update(orjson.dumps([table, columns]) + b"\n")
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY record_uid"):
            digest.update(orjson.dumps(row, default=_blob) + b"\n")
    return digest.hexdigest()


# -- scheme 2 -------------------------------------------------------------------------------------
Sums = dict[str, tuple[int, int]]  # table -> (rows, sum of row hashes mod 2**256)


def row_hash(row: Iterable[Any]) -> int:
    """One row's contribution to its table's sum."""
    return int.from_bytes(hashlib.sha256(orjson.dumps(tuple(row), default=_blob)).digest(), "big")


def sum_rows(rows: Iterable[Iterable[Any]]) -> tuple[int, int]:
    """``(count, sum of row hashes mod 2**256)`` of ``rows``."""
    n = total = 0
    for row in rows:
        n += 1
        total += row_hash(row)
    return n, total % _MOD


def table_rows_sql(conn: apsw.Connection, table: str, where: str = "") -> str:
    """``SELECT`` of every column of ``table`` (the order the hash covers), with an optional filter."""
    return f"SELECT {', '.join(columns_of(conn, table))} FROM main.{table} {where}"


def full_sums(conn: apsw.Connection) -> Sums:
    """Every record table's count and sum, from every row."""
    return {t: sum_rows(conn.execute(table_rows_sql(conn, t))) for t in RECORD_TABLES}


def digest_of(conn: apsw.Connection, sums: Sums) -> str:
    """The scheme-2 ``records_sha256`` of per-table ``sums``."""
    digest = hashlib.sha256(b"moonshine.records/2\n")
    for table in RECORD_TABLES:
        rows, total = sums[table]
        digest.update(orjson.dumps([table, columns_of(conn, table), rows, f"{total:064x}"]) + b"\n")
    return digest.hexdigest()


def _trigger_sql(table: str, event: str) -> str:
    return (f"CREATE TRIGGER {DIGEST_TABLE}_{table}_{event.lower()} AFTER {event} ON {table} BEGIN "
            f"UPDATE {DIGEST_TABLE} SET changes = changes + 1 WHERE tbl = '{table}'; END")


_DIGEST_DDL = (f"CREATE TABLE {DIGEST_TABLE} (tbl TEXT PRIMARY KEY, rows INTEGER NOT NULL, "
               "total TEXT NOT NULL, changes INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID")


def has_digest(conn: apsw.Connection) -> bool:
    """Whether the DB has ``records_digest`` and every trigger that counts changes, exactly as made here."""
    wanted = {f"{DIGEST_TABLE}_{t}_{e.lower()}": _trigger_sql(t, e) for t in RECORD_TABLES for e in _EVENTS}
    wanted[DIGEST_TABLE] = _DIGEST_DDL
    found = dict(conn.execute("SELECT name, sql FROM sqlite_schema WHERE name = ? OR name LIKE ?",
                              (DIGEST_TABLE, f"{DIGEST_TABLE}_%")))
    if found != wanted:
        return False
    return conn.execute(f"SELECT count(*) FROM {DIGEST_TABLE}").get == len(RECORD_TABLES)


def install_digest(conn: apsw.Connection) -> bool:
    """Create ``records_digest`` (sums from every row) and its triggers unless present; call inside
    the caller's transaction. Returns whether anything was created."""
    if has_digest(conn):
        return False
    conn.execute(f"DROP TABLE IF EXISTS {DIGEST_TABLE}")  # a partial or altered one is rebuilt
    for (name,) in list(conn.execute("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ?",
                                     (f"{DIGEST_TABLE}_%",))):
        conn.execute(f"DROP TRIGGER {name}")
    conn.execute(_DIGEST_DDL)
    store_sums(conn, full_sums(conn))
    for table in RECORD_TABLES:
        for event in _EVENTS:
            conn.execute(_trigger_sql(table, event))
    return True


def stored_sums(conn: apsw.Connection) -> Sums:
    """The per-table sums ``records_digest`` holds (the merges' running total)."""
    return {t: (rows, int(total, 16)) for t, rows, total in conn.execute(f"SELECT tbl, rows, total FROM {DIGEST_TABLE}")}


def store_sums(conn: apsw.Connection, sums: Sums) -> None:
    """Write per-table sums into ``records_digest`` (its ``changes`` counts are kept)."""
    conn.executemany(f"INSERT INTO {DIGEST_TABLE} (tbl, rows, total) VALUES (?, ?, ?) "
                     "ON CONFLICT(tbl) DO UPDATE SET rows = excluded.rows, total = excluded.total",
                     [(t, rows, f"{total:064x}") for t, (rows, total) in sums.items()])


def changes(conn: apsw.Connection) -> int:
    """How many record rows SQL statements have inserted, updated or deleted since the digest was made."""
    return conn.execute(f"SELECT coalesce(sum(changes), 0) FROM {DIGEST_TABLE}").get


def unchanged_since(conn: apsw.Connection, entry: dict[str, Any]) -> bool:
    """Whether no record row was touched since ``entry`` committed (so its ``records_sha256`` holds),
    judged without reading a row; ``False`` also when that cannot be told this way."""
    if entry.get("records_scheme") != SCHEME or entry.get("records_changes") is None or not has_digest(conn):
        return False
    if changes(conn) != entry["records_changes"]:
        return False
    return digest_of(conn, stored_sums(conn)) == entry["records_sha256"]


def record_state(conn: apsw.Connection, entry: dict[str, Any], sums: Sums) -> None:
    """Store ``sums`` and put the records' hash, scheme and change count in ``entry``; call inside the
    transaction that brought the records to ``sums``, after its last record write."""
    store_sums(conn, sums)
    entry["records_sha256"] = digest_of(conn, sums)
    entry["records_scheme"] = SCHEME
    entry["records_changes"] = changes(conn)


def _blob(value: Any) -> Any:
    if isinstance(value, bytes):  # no record column is a BLOB, but SQLite would store one an edit wrote
        return {"blob": value.hex()}
    raise TypeError(type(value).__name__)
