"""Opening Moonshine databases with APSW.

Every connection gets ``apsw.bestpractice`` (WAL, foreign keys, no
double-quoted strings, optimize, SQLite's log forwarded to logging), a real
busy timeout and IMMEDIATE transactions, so a writer takes the write lock when
its transaction begins instead of failing half way.
"""

from __future__ import annotations

import logging
import os
import urllib.parse
from pathlib import Path

import apsw
import apsw.bestpractice
import apsw.ext

from ..errors import StoreError
from .schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

BUSY_TIMEOUT_MS = 10_000
WRITER_CACHE_KIB = 64 * 1024

_applied = False


#: ``apsw.bestpractice.recommended`` without ``connection_optimize``: optimizing on open may run
#: ANALYZE and write, and a mere reader must never change the mash's bytes (its sha256 is its
#: identity between commands). Writers run ``pragma optimize`` when they close instead.
#: SQLite's own log is forwarded (by :func:`_apply_bestpractice`) to this logger, not the root one.
SQLITE_LOGGER = logging.getLogger("moonshine_core.sqlite")
BESTPRACTICE = tuple(f for f in apsw.bestpractice.recommended
                     if f not in (apsw.bestpractice.connection_optimize, apsw.bestpractice.library_logging))


class _HardLinkedRuns(logging.Filter):
    """A sealed run DB and its archived copy are one file with two links (archiving links instead of
    copying); SQLite warns about every open of such a file, which says nothing here: sealed run DBs
    are never written in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(getattr(record, "sqlite_message", "")).startswith("multiple links to file")


def _apply_bestpractice() -> None:
    global _applied
    if not _applied:
        apsw.bestpractice.apply(BESTPRACTICE)
        SQLITE_LOGGER.addFilter(_HardLinkedRuns())
        apsw.ext.log_sqlite(logger=SQLITE_LOGGER)
        _applied = True


def uri(path: str | os.PathLike[str], *, immutable: bool = False) -> str:
    """A read-only ``file:`` URI for ``path``; ``immutable`` tells SQLite the file cannot change, so
    it takes no locks and creates nothing beside it (for sealed, archived copies)."""
    quoted = urllib.parse.quote(str(Path(path).resolve()))
    return f"file:{quoted}?mode=ro" + ("&immutable=1" if immutable else "")


def connect(path: str | os.PathLike[str], *, readonly: bool = False, create: bool = True,
            migrate: bool = True, immutable: bool = False) -> apsw.Connection:
    """Open (and by default create and migrate) a Moonshine DB.

    ``immutable`` (read-only opens only) is for a sealed copy that nothing may
    change, such as a run DB in the archive: nothing is created beside it."""
    _apply_bestpractice()
    path = Path(path)
    if readonly:
        if not path.exists():
            raise StoreError(f"no database at {path}")
        flags = apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        conn = apsw.Connection(uri(path, immutable=immutable), flags=flags)
    else:
        if not path.exists() and not create:
            raise StoreError(f"no database at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        # URI filenames on, so ATTACH can name a sealed DB read-only and immutable (``uri``).
        flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE | apsw.SQLITE_OPEN_URI
        conn = apsw.Connection(str(path), flags=flags)
    conn.set_busy_timeout(BUSY_TIMEOUT_MS)
    if not readonly:
        conn.transaction_mode = "IMMEDIATE"
        # Upserts land at random places of the record_uid index; a 64 MiB page cache keeps
        # them in memory (measured: 18% faster writes than the 2 MiB default).
        conn.execute(f"pragma cache_size = {-WRITER_CACHE_KIB}")
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreError(f"{path} has schema version {version}, newer than this moonshine-core "
                         f"({SCHEMA_VERSION}); upgrade moonshine-core")
    if version < SCHEMA_VERSION:
        if readonly:
            if version == 0 and _is_empty(conn):
                conn.close()
                raise StoreError(f"{path} is not a Moonshine database")
        elif migrate:
            migrate_db(conn)
    return conn


def _is_empty(conn: apsw.Connection) -> bool:
    return conn.execute("select count(*) from sqlite_schema").get == 0


def schema_version(conn: apsw.Connection) -> int:
    return conn.execute("pragma user_version").get


def migrate_db(conn: apsw.Connection) -> list[int]:
    """Apply every missing migration, one transaction each; returns the versions reached."""
    version = schema_version(conn)
    if version == 0 and not _is_empty(conn):
        app = conn.execute("pragma application_id").get
        if app != APPLICATION_ID:
            raise StoreError("database is not a Moonshine database (foreign tables, no schema version)")
    reached = []
    while version < SCHEMA_VERSION:
        with conn:
            conn.execute(MIGRATIONS[version])
            version += 1
            conn.execute(f"pragma user_version = {version}")
            conn.execute(f"pragma application_id = {APPLICATION_ID}")
        reached.append(version)
    return reached


def close(conn: apsw.Connection, *, optimize: bool = True) -> None:
    """Close; a writer optimises (unless told not to) and checkpoints, leaving one self-contained file."""
    try:
        if not conn.readonly("main"):
            if optimize:
                conn.execute("pragma optimize")
            conn.execute("pragma wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
