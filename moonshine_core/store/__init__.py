"""APSW storage: one schema for provider-run DBs and the mash.

:class:`Store` writes records in batched transactions with idempotent upserts
(insert new ``record_uid``, update a known one whose ``content_sha256`` changed
and whose source is not older, skip the rest) and reads them back as records.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import apsw
import attrs

from ..ids import canonical_json
from ..ids import conversation_uid as _conversation_uid  # write_scores' argument takes the plain name
from ..records import Comparison, Conversation, Feedback, SideRecord
from ..tokens import TokenCounts
from .db import close as _close
from .db import connect, migrate_db, schema_version
from .rows import (
    Provenance,
    comparison_from_row,
    conversation_from_rows,
    feedback_from_row,
    record_rows,
    side_from_row,
)
from .not_older import older_sql
from .reports import providers as _providers
from .schema import PROVENANCE_COLUMNS, RECORD_TABLES, SCHEMA_VERSION

__all__ = ["Store", "Counts", "Provenance", "connect", "migrate_db", "schema_version", "SCHEMA_VERSION",
           "RECORD_TABLES", "PROVENANCE_COLUMNS"]


@attrs.define
class Counts:
    """Upsert outcome for one table."""

    inserted: int = 0
    updated: int = 0
    skipped: int = 0

    def add(self, other: "Counts") -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.skipped += other.skipped

    def to_dict(self) -> dict[str, int]:
        return attrs.asdict(self)


_UPSERT_CACHE: dict[tuple[str, tuple[str, ...]], str] = {}


def upsert_sql(table: str, columns: tuple[str, ...]) -> str:
    """``INSERT … ON CONFLICT DO UPDATE … WHERE changed AND not older RETURNING rev``.

    ``rev`` is 1 for an inserted row and grows by one per update; a skipped
    row returns nothing, which gives exact three-way counts in one pass. The
    not-older rule is :func:`moonshine_core.store.not_older.older_sql`'s; rows
    written here (one export's, by ingest) have no other source to look up a
    conversation's time in, so only conversation rows break a time tie.
    """
    key = (table, columns)
    if key not in _UPSERT_CACHE:
        cols = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        sets = ", ".join(f"{c} = excluded.{c}" for c in columns if c != "record_uid")
        _UPSERT_CACHE[key] = (
            f"INSERT INTO {table} AS t ({cols}) VALUES ({marks}) "
            f"ON CONFLICT(record_uid) DO UPDATE SET {sets}, rev = t.rev + 1 "
            f"WHERE excluded.content_sha256 IS NOT t.content_sha256 AND NOT {older_sql(table, 'excluded', 't', None, None)} "
            "RETURNING rev"
        )
    return _UPSERT_CACHE[key]


def upsert_rows(conn: apsw.Connection, table: str, rows: list[dict[str, Any]]) -> Counts:
    """Upsert ``rows`` (dicts with the same keys) into ``table``; call inside a transaction."""
    if not rows:
        return Counts()
    columns = tuple(rows[0])
    return upsert_values(conn, table, columns, [tuple(r[c] for c in columns) for r in rows])


def upsert_values(conn: apsw.Connection, table: str, columns: tuple[str, ...], values: list[tuple]) -> Counts:
    """:func:`upsert_rows` for rows already laid out as tuples in ``columns`` order (what ingest
    workers send: no per-row dict to build or to pickle)."""
    counts = Counts()
    if not values:
        return counts
    changed = 0
    for (rev,) in conn.executemany(upsert_sql(table, columns), values):
        changed += 1
        if rev == 1:
            counts.inserted += 1
        else:
            counts.updated += 1
    counts.skipped = len(values) - changed
    return counts


class Store:
    """A Moonshine database (a provider-run DB or the mash).

    >>> store = Store(path)                 # creates and migrates as needed
    >>> counts = store.write(records, provenance, tokens)
    >>> for conversation in store.iter_conversations(): ...
    """

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False, create: bool = True,
                 staging: bool = False):
        """Open (creating and migrating as needed) the DB at ``path``.

        ``staging=True`` is for a DB being built aside that is discarded when anything fails
        (an ingest's run DB): commits skip fsync until :meth:`seal`, which makes it durable.
        """
        self.path = Path(path)
        self.conn = connect(self.path, readonly=readonly, create=create)
        if staging:
            self.conn.execute("pragma synchronous = OFF")
            # A staged DB that fails is thrown away whole: its rollback journal need not outlive a
            # crash, so it stays in memory (no -wal file to fill and fold in at the seal).
            self.conn.execute("pragma journal_mode = MEMORY")

    # -- writing ------------------------------------------------------------------
    def record_run(self, run: dict[str, Any]) -> None:
        """Insert or replace the ``runs`` row of a run (keys are column names)."""
        cols = tuple(run)
        sets = ", ".join(f"{c} = excluded.{c}" for c in cols if c != "run_id")
        with self.conn:
            self.conn.execute(
                f"INSERT INTO runs ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                f"ON CONFLICT(run_id) DO UPDATE SET {sets}", tuple(run[c] for c in cols))

    def write(self, records: Iterable[Any], prov: Provenance,
              tokens: dict[str, dict[str, TokenCounts]] | None = None) -> dict[str, Counts]:
        """Upsert a batch of records in one transaction; returns counts per table.

        ``tokens`` maps conversation id to its messages' token counts by message id.
        """
        return self.write_rows(record_rows(records, prov, tokens))

    def write_rows(self, tables: dict[str, list[dict[str, Any]]]) -> dict[str, Counts]:
        """Upsert rows already built by :func:`~moonshine_core.store.rows.record_rows`, in one transaction."""
        counts = {t: Counts() for t in RECORD_TABLES}
        with self.conn:
            for table in RECORD_TABLES:
                counts[table] = upsert_rows(self.conn, table, tables.get(table) or [])
        return counts

    def write_values(self, tables: dict[str, tuple[tuple[str, ...], list[tuple]]]) -> dict[str, Counts]:
        """Upsert rows laid out by :func:`~moonshine_core.store.rows.as_values`, in one transaction."""
        counts = {t: Counts() for t in RECORD_TABLES}
        with self.conn:
            for table in RECORD_TABLES:
                if table in tables:
                    counts[table] = upsert_values(self.conn, table, *tables[table])
        return counts

    def write_scores(self, conversation_uid: str, scores: Iterable[Any]) -> None:
        rows = [(conversation_uid, s.name, s.value, canonical_json(s.flags), canonical_json(s.detail))
                for s in scores]
        with self.conn:
            self.conn.executemany(
                "INSERT INTO scores (conversation_uid, name, value, flags_json, detail_json) VALUES (?,?,?,?,?) "
                "ON CONFLICT(conversation_uid, name) DO UPDATE SET value = excluded.value, "
                "flags_json = excluded.flags_json, detail_json = excluded.detail_json", rows)

    # -- reading ------------------------------------------------------------------
    def rows(self, sql: str, params: tuple | dict = ()) -> Iterator[dict[str, Any]]:
        """Rows of a query as dicts."""
        cursor = self.conn.execute(sql, params)
        names: list[str] | None = None
        for row in cursor:
            if names is None:
                names = [d[0] for d in cursor.get_description()]
            yield dict(zip(names, row))

    def count(self, table: str, provider: str | None = None) -> int:
        if provider is None:
            return self.conn.execute(f"SELECT count(*) FROM {table}").get
        return self.conn.execute(f"SELECT count(*) FROM {table} WHERE provider = ?", (provider,)).get

    def providers(self) -> list[str]:
        return _providers(self.conn)

    def iter_conversations(self, provider: str | None = None) -> Iterator[tuple[dict, Conversation]]:
        """``(conversation row, Conversation)`` pairs in a deterministic order (provider, conversation id)."""
        where, params = ("WHERE provider = ?", (provider,)) if provider else ("", ())
        for row in list(self.rows(f"SELECT * FROM conversations {where} ORDER BY provider, conversation_id",
                                  params)):
            messages = list(self.rows("SELECT * FROM messages WHERE conversation_uid = ? ORDER BY position",
                                      (row["record_uid"],)))
            yield row, conversation_from_rows(row, messages)

    def get_conversation(self, provider: str, conversation_id: str) -> Conversation | None:
        uid = _conversation_uid(provider, conversation_id)
        rows = list(self.rows("SELECT * FROM conversations WHERE record_uid = ?", (uid,)))
        if not rows:
            return None
        messages = list(self.rows("SELECT * FROM messages WHERE conversation_uid = ? ORDER BY position", (uid,)))
        return conversation_from_rows(rows[0], messages)

    def feedback(self, provider: str | None = None) -> list[Feedback]:
        where, params = ("WHERE provider = ?", (provider,)) if provider else ("", ())
        return [feedback_from_row(r) for r in self.rows(f"SELECT * FROM feedback {where} ORDER BY record_uid", params)]

    def comparisons(self, provider: str | None = None) -> list[Comparison]:
        where, params = ("WHERE provider = ?", (provider,)) if provider else ("", ())
        return [comparison_from_row(r)
                for r in self.rows(f"SELECT * FROM comparisons {where} ORDER BY record_uid", params)]

    def side_records(self, provider: str | None = None) -> list[SideRecord]:
        where, params = ("WHERE provider = ?", (provider,)) if provider else ("", ())
        return [side_from_row(r) for r in self.rows(f"SELECT * FROM side_records {where} ORDER BY record_uid", params)]

    def seal(self) -> None:
        """Optimise, fold the WAL in and leave rollback-journal mode, then close.

        A sealed DB is one self-contained file that read-only opens never touch
        (a WAL-mode file makes every reader create ``-wal``/``-shm`` beside it),
        which is what an immutable provider-run DB must be.
        """
        self.conn.execute("pragma optimize")
        self.conn.execute("pragma synchronous = FULL")  # the checkpoint below syncs the file to disk
        self.conn.execute("pragma wal_checkpoint(TRUNCATE)")
        self.conn.execute("pragma journal_mode = DELETE")
        self.close()

    def close(self) -> None:
        if self.conn is not None:
            _close(self.conn)
            self.conn = None  # type: ignore[assignment]

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
