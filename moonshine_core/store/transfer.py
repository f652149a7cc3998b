"""Merging every record row of one Moonshine DB into another (a provider run into the mash), in SQL.

The run DB is ATTACHed read-only and immutable (merges read the archived copy,
whose sha256 was checked just before). A merge is planned first, for every
table, on the mash as it stands: which run rows are new (their ``record_uid``
is not in the mash) and which replace a mash row (content changed and the run
row is not older, :func:`.not_older.older_sql`). The plan gives the exact inserted /
updated / skipped counts, and is also the idempotence proof: a run whose plan
is empty changes nothing when merged (:func:`planned_counts`, gate 3). Then
``INSERT … SELECT … ON CONFLICT DO UPDATE`` writes exactly the planned rows,
and SQLite's change count must equal the plan. No row passes through Python,
except that the mash's records digest (:mod:`.history`) adds the rows written
and subtracts the versions they replaced, when the mash keeps one.

Parents go before children (conversations, messages, tool events, then side
tables) so foreign keys hold at every step. ``rev`` is the mash's own change
counter and is never copied.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import apsw

from ..errors import StoreError
from . import Counts, history
from .db import uri
from .not_older import older_sql
from .schema import RECORD_TABLES

ALIAS_PREFIX = "merge_source"
_PLAN = "temp.merge_plan"
_aliases = itertools.count()


def _changing_sql(table: str, alias: str) -> str:
    """``record_uid, is_new`` of every row of ``alias.table`` a merge would write."""
    older = older_sql(table, "r", "m", f"{alias}.conversations", "main.conversations")
    return (f"SELECT r.record_uid AS uid, m.record_uid IS NULL AS is_new FROM {alias}.{table} AS r "
            f"LEFT JOIN main.{table} AS m ON m.record_uid = r.record_uid "
            f"WHERE m.record_uid IS NULL OR (r.content_sha256 IS NOT m.content_sha256 AND NOT {older})")


def attach(conn: apsw.Connection, run_db: Path) -> str:
    """ATTACH ``run_db`` read-only and immutable (once per file); returns its schema name."""
    target = str(Path(run_db).resolve())
    for _seq, name, path in conn.execute("pragma database_list"):
        if name.startswith(ALIAS_PREFIX) and path and Path(path).resolve() == Path(target):
            return name
    alias = f"{ALIAS_PREFIX}_{next(_aliases)}"
    conn.execute("ATTACH DATABASE ? AS " + alias, (uri(run_db, immutable=True),))
    return alias


def detach_all(conn: apsw.Connection) -> None:
    """DETACH every run DB :func:`attach` attached (outside a transaction; SQLite refuses inside)."""
    if conn.in_transaction:
        return
    for _seq, name, _path in list(conn.execute("pragma database_list")):
        if name.startswith(ALIAS_PREFIX):
            conn.execute(f"DETACH DATABASE {name}")


def planned_counts(conn: apsw.Connection, alias: str) -> dict[str, Counts]:
    """What merging the attached run ``alias`` now would do, per table, writing nothing."""
    counts = {}
    for table in RECORD_TABLES:
        total = conn.execute(f"SELECT count(*) FROM {alias}.{table}").get
        inserted, updated = conn.execute(
            f"SELECT coalesce(sum(is_new), 0), coalesce(sum(NOT is_new), 0) FROM ({_changing_sql(table, alias)})").get
        counts[table] = Counts(inserted=inserted, updated=updated, skipped=total - inserted - updated)
    return counts


def merge_attached(conn: apsw.Connection, alias: str, sums: history.Sums | None = None) -> dict[str, Counts]:
    """Merge the attached run ``alias`` into ``conn``'s main DB; call inside a transaction.

    Every table is planned before any is written (the not-older rule reads the
    mash's conversation times as they were before the merge). ``sums``, the
    records digest's per-table sums before the merge, is brought up to date in
    place (the rows written added, the versions they replaced subtracted).
    """
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS merge_plan (tbl TEXT NOT NULL, record_uid TEXT NOT NULL, "
                 "is_new INTEGER NOT NULL, PRIMARY KEY (tbl, record_uid)) WITHOUT ROWID")
    conn.execute(f"DELETE FROM {_PLAN}")
    counts = {}
    for table in RECORD_TABLES:
        conn.execute(f"INSERT INTO {_PLAN} (tbl, record_uid, is_new) SELECT ?, * FROM ({_changing_sql(table, alias)})",
                     (table,))
        total = conn.execute(f"SELECT count(*) FROM {alias}.{table}").get
        inserted, updated = conn.execute(
            f"SELECT coalesce(sum(is_new), 0), coalesce(sum(NOT is_new), 0) FROM {_PLAN} WHERE tbl = ?", (table,)).get
        counts[table] = Counts(inserted=inserted, updated=updated, skipped=total - inserted - updated)
    if not any(c.inserted or c.updated for c in counts.values()):
        return counts  # nothing to write: not even the digest changes
    digest = sums is not None
    for table in RECORD_TABLES:
        c = counts[table]
        if not (c.inserted or c.updated):
            continue
        in_plan = f"WHERE record_uid IN (SELECT record_uid FROM {_PLAN} WHERE tbl = '{table}'"
        if digest and c.updated:
            rows, total = sums[table]
            n, replaced = history.sum_rows(conn.execute(history.table_rows_sql(conn, table, in_plan + " AND NOT is_new)")))
            sums[table] = (rows - n, total - replaced)
        columns = [col for col in history.columns_of(conn, table, alias) if col != "rev"]
        cols = ", ".join(columns)
        sets = ", ".join(f"{col} = excluded.{col}" for col in columns if col != "record_uid")
        conn.execute(f"INSERT INTO main.{table} AS t ({cols}) SELECT {cols} FROM {alias}.{table} {in_plan}) "
                     f"ON CONFLICT(record_uid) DO UPDATE SET {sets}, rev = t.rev + 1")
        if conn.changes() != c.inserted + c.updated:
            raise StoreError(f"merging {table} wrote {conn.changes()} rows, planned {c.inserted + c.updated}")
        if digest:
            rows, total = sums[table]
            n, added = history.sum_rows(conn.execute(history.table_rows_sql(conn, table, in_plan + ")")))
            sums[table] = (rows + n, (total + added) % (1 << 256))
    conn.execute(f"DELETE FROM {_PLAN}")
    return counts


def upsert_run(mash: apsw.Connection, run_db: Path) -> dict[str, Counts]:
    """Merge every record row of the sealed run DB ``run_db`` into ``mash``; call inside a mash transaction.

    Returns inserted/updated/skipped per table. The run DB stays attached until
    the transaction ends (SQLite cannot detach inside one); :func:`detach_all` after it.
    """
    sums = history.stored_sums(mash) if history.has_digest(mash) else None
    counts = merge_attached(mash, attach(mash, run_db), sums)
    if sums is not None and any(c.inserted or c.updated for c in counts.values()):
        history.store_sums(mash, sums)
    return counts


def changes_if_merged(mash: apsw.Connection, run_db: Path) -> dict[str, Counts]:
    """What merging ``run_db`` into ``mash`` now would insert, update and skip, writing nothing."""
    alias = attach(mash, run_db)
    try:
        return planned_counts(mash, alias)
    finally:
        detach_all(mash)
