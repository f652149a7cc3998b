"""Upserting every record row of one Moonshine DB into another (a provider run into the mash)."""

from __future__ import annotations

from pathlib import Path

import apsw

from . import Counts, upsert_rows
from .db import connect
from .schema import RECORD_TABLES

CHUNK = 5000


def upsert_run(mash: apsw.Connection, run_db: Path) -> dict[str, Counts]:
    """Upsert every record row of the sealed run DB ``run_db`` into ``mash``; call inside a mash transaction.

    ``run_db`` is opened read-only and immutable: nothing is created beside it
    (merges read the archived copy, whose sha256 was checked just before).

    Parents go before children (conversations, messages, tool events, then
    side tables) so foreign keys hold at every step. ``rev`` is the mash's own
    change counter and is never copied.
    """
    run = connect(run_db, readonly=True, immutable=True)
    try:
        counts = {}
        for table in RECORD_TABLES:
            columns = [r[1] for r in run.execute(f"pragma table_info({table})") if r[1] != "rev"]
            total = Counts()
            cursor = run.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
            chunk: list[dict] = []
            for row in cursor:
                chunk.append(dict(zip(columns, row)))
                if len(chunk) >= CHUNK:
                    total.add(upsert_rows(mash, table, chunk))
                    chunk = []
            total.add(upsert_rows(mash, table, chunk))
            counts[table] = total
        return counts
    finally:
        run.close()
