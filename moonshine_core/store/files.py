"""Whole-file operations on a Moonshine DB: fold its WAL in, copy it, check its integrity.

The mash's snapshots and bootstrap copies (:mod:`moonshine_core.mash`,
:mod:`moonshine_core.merge.bootstrap`) are built from these.

A DB's ``-wal`` and ``-shm`` files are never removed by hand: another
connection (a ``moonshine status`` in another terminal) may have them open,
and a reader whose shared-memory index was unlinked under it, or a writer
that starts a fresh one beside it, reads a corrupt database. The WAL is
folded in through SQLite (a checkpoint), and SQLite itself removes both files
when the last connection closes.
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw

from ..errors import StoreError
from .db import connect


def sidecars(path: Path) -> list[Path]:
    """The ``-wal`` and ``-shm`` files beside the DB at ``path`` that exist."""
    return [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]


def settle(path: Path) -> bool:
    """Fold a leftover WAL into the file through SQLite (after a crash, only committed work survives).

    Afterwards the file holds every committed transaction. Returns whether it
    is also alone (no ``-wal``/``-shm`` left, so no other connection has it
    open). Raises :class:`StoreError` when another connection's open read
    keeps the checkpoint from finishing.
    """
    if not sidecars(path):
        return True
    conn = connect(path, migrate=False)
    try:
        busy, _log, _done = conn.execute("pragma wal_checkpoint(TRUNCATE)").get
    finally:
        conn.close()  # the last connection to close removes -wal and -shm itself
    if busy:
        raise StoreError(f"{path} is being read by another process, so its WAL cannot be folded in; "
                         "wait for it to finish and try again")
    return not sidecars(path)


def discard(path: Path) -> None:
    """Remove a private DB file (a copy being built that a killed process left) and its sidecars.

    Its ``-wal``/``-shm`` are folded in and removed by SQLite, never by hand:
    a stale WAL left beside a path would otherwise be replayed into the next
    file built under that name.
    """
    if sidecars(path) and path.exists():
        conn = apsw.Connection(str(path))
        try:
            conn.execute("pragma wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    elif not path.exists():
        for orphan in sidecars(path):  # no database file: nothing can open these any more
            orphan.unlink()
    if sidecars(path):
        raise StoreError(f"{path} is open in another process; it cannot be replaced")
    path.unlink(missing_ok=True)


def backup_copy(source: Path, target: Path) -> None:
    """Copy the database ``source`` to ``target`` with the backup API, reading ``source`` read-only.

    The copy appears under its name only when complete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    discard(partial)
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    dest = apsw.Connection(str(partial))
    try:
        with dest.backup("main", src, "main") as backup:
            backup.step(-1)
        dest.execute("pragma wal_checkpoint(TRUNCATE)")
    finally:
        dest.close()  # the only connection to the private copy: closing removes its -wal and -shm
        src.close()
    if sidecars(partial):
        raise StoreError(f"copy {partial} of {source} kept its -wal/-shm after closing")
    os.replace(partial, target)


def integrity_check(path: Path) -> str:
    """``pragma integrity_check`` of the file at ``path`` (``"ok"`` when sound), opened immutable so
    the check cannot change a byte of it."""
    check = apsw.Connection(f"file:{path}?mode=ro&immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return check.execute("pragma integrity_check").get
    finally:
        check.close()
