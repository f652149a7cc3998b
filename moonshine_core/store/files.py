"""Whole-file operations on a Moonshine DB: fold its WAL in, copy it, check its integrity.

The mash's snapshots and bootstrap copies (:mod:`moonshine_core.mash`,
:mod:`moonshine_core.merge.bootstrap`) are built from these.
"""

from __future__ import annotations

import os
from pathlib import Path

import apsw

from .db import connect


def settle(path: Path) -> None:
    """Fold a leftover WAL into the file and remove it (after a crash, only committed work survives)."""
    wal = Path(f"{path}-wal")
    if wal.exists():
        conn = connect(path)
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
        conn.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def backup_copy(source: Path, target: Path) -> None:
    """Copy the database ``source`` to ``target`` with the backup API, reading ``source`` read-only.

    The copy appears under its name only when complete.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = apsw.Connection(str(source), flags=apsw.SQLITE_OPEN_READONLY)
    dest = apsw.Connection(str(partial))
    try:
        with dest.backup("main", src, "main") as backup:
            backup.step(-1)
    finally:
        dest.close()
        src.close()
    for suffix in ("-wal", "-shm"):
        Path(f"{partial}{suffix}").unlink(missing_ok=True)
    os.replace(partial, target)


def integrity_check(path: Path) -> str:
    """``pragma integrity_check`` of the file at ``path`` (``"ok"`` when sound), opened immutable so
    the check cannot change a byte of it."""
    check = apsw.Connection(f"file:{path}?mode=ro&immutable=1", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI)
    try:
        return check.execute("pragma integrity_check").get
    finally:
        check.close()
