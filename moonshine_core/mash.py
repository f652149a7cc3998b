"""The mash: the one database that merges change, and its byte-exact snapshots.

The mash is only ever written under the workspace lock and closed with a WAL
checkpoint, so between commands it is one self-contained file whose sha256
identifies its state.

Snapshots are byte-exact copies of that settled file, taken under the
workspace lock and checked with ``pragma integrity_check`` and sha256, so a
rollback gives back the mash sha256 for sha256. SQLite's backup API (used for
bootstrap copies) cannot do this: it increments the schema cookie of the
destination, so its copy differs from the source in header bytes 40-43.

The mash's own ``merge_log`` records the content hash of its records at every
merge (:mod:`moonshine_core.store.history`); :func:`records_check` checks it,
so an edit of the mash outside moonshine is noticed by ``status``, ``gates``
and ``merge``. The check reads no row while the mash's change counter (kept
by triggers on every record table) still has the value the recording entry
left; any other value, missing triggers, or ``deep=True`` recompute the hash
from every row.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from . import search as search_index
from .errors import StoreError
from .sources import file_sha256
from .store import Store, history
from .store.db import connect
from .store.faults import fault_point
from .store.files import integrity_check, settle, sidecars
from .workspace import Workspace


def ensure_mash(ws: Workspace) -> Path:
    """Create an empty mash (current schema, search index, records digest) when there is none; returns
    its path."""
    if not ws.mash_path.exists():
        store = Store(ws.mash_path)
        try:
            with store.conn:
                search_index.install(store.conn)
                history.install_digest(store.conn)
        finally:
            store.close()
    return ws.mash_path


def mash_sha256(ws: Workspace) -> str | None:
    """sha256 of the mash file as it stands (``None`` when there is no mash)."""
    if not ws.mash_path.exists():
        return None
    return file_sha256(ws.mash_path)


def unsettled(ws: Workspace) -> bool:
    """Whether the mash's WAL holds frames not yet folded into the file (a writer was killed, or is
    running): the file's sha256 is then not the mash's state, and the next locked command settles it."""
    wal = Path(f"{ws.mash_path}-wal")
    return wal.exists() and wal.stat().st_size > 0


def settle_mash(ws: Workspace) -> bool:
    """Fold the mash's WAL into its file through SQLite (see ``store.files.settle``); call holding the lock."""
    return settle(ws.mash_path) if ws.mash_path.exists() else True


def snapshot(source: Path, target: Path) -> str:
    """Snapshot the database ``source`` to ``target``; returns the snapshot's sha256.

    Call while holding the workspace lock (no writer can touch ``source``). The
    source is settled (WAL folded in), copied byte for byte, and the copy is
    refused unless it passes ``integrity_check`` and has the source's sha256.
    """
    settle(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    shutil.copyfile(source, partial)
    digest, expected = file_sha256(partial), file_sha256(source)
    integrity = integrity_check(partial)
    if digest != expected or integrity != "ok":
        partial.unlink()
        raise StoreError(f"snapshot of {source} failed verification (sha256 {digest} vs {expected}, "
                         f"integrity {integrity})")
    os.replace(partial, target)
    fault_point("archive.after_snapshot")
    return digest


def restore(snapshot_path: Path, target: Path, expected_sha256: str) -> str:
    """Replace ``target`` with the snapshot after checking the snapshot's hash; returns the new sha256.

    Call holding the workspace lock. The target's WAL is folded in through
    SQLite first, and the restore is refused while another connection has the
    target open (its ``-wal``/``-shm`` are still there): swapping the file
    under it, or removing those files, would show it a corrupt database.
    """
    actual = file_sha256(snapshot_path)
    if actual != expected_sha256:
        raise StoreError(f"snapshot {snapshot_path} is altered: sha256 {actual}, recorded {expected_sha256}")
    if target.exists() and not settle(target):
        raise StoreError(f"{target} is open in another process ({', '.join(p.name for p in sidecars(target))} "
                         "in use); close it and try again")
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(snapshot_path, partial)
    if file_sha256(partial) != expected_sha256:
        partial.unlink()
        raise StoreError(f"copy of snapshot {snapshot_path} does not match it")
    os.replace(partial, target)
    fault_point("rollback.after_restore")
    return file_sha256(target)


def records_check(ws: Workspace, *, deep: bool = False) -> dict[str, Any]:
    """Whether the mash's records still have the content hash its log recorded (read-only).

    ``status`` is ``ok``, ``mismatch`` (the records changed outside moonshine),
    ``unrecorded`` (rows no entry vouches for: a mash of an older core, or rows
    written into an empty mash by hand) or ``no_mash``; with ``recorded``,
    ``actual``, the entry that recorded it, and ``method``: ``change counter``
    when no record row was touched since that entry (no row read), else
    ``every row`` (always with ``deep``).
    """
    if not ws.mash_path.exists():
        return {"status": "no_mash"}
    conn = connect(ws.mash_path, readonly=True)
    try:
        log = history.read_log(conn) or []
        by = history.vouching_entry(log)
        if by is not None and not deep and history.unchanged_since(conn, by):
            actual, method = by["records_sha256"], "change counter"
        else:
            actual, method = history.records_sha256(conn), "every row"
        has_rows = history.has_records(conn) if by is None else True
    finally:
        conn.close()
    recorded = by["records_sha256"] if by else None
    found = {"actual": actual, "recorded": recorded, "method": method,
             "recorded_by": {k: by.get(k) for k in ("id", "action", "run_id")} if by else None}
    if recorded is None:
        return {**found, "status": "unrecorded" if has_rows else "ok"}
    return {**found, "status": "ok" if recorded == actual else "mismatch"}


def describe_records_check(check: dict[str, Any]) -> str:
    """One plain line for :func:`records_check`'s answer."""
    status = check["status"]
    if status == "no_mash":
        return "no mash yet"
    by = check.get("recorded_by") or {}
    what = f"{by.get('action')} {by.get('run_id') or ''}".strip()
    if status == "ok":
        return (f"records match the content hash recorded by the last change ({what})" if by
                else "empty, as recorded")
    if status == "mismatch":
        return (f"MISMATCH: the mash's records were changed outside moonshine since {what} recorded them "
                f"(recorded records_sha256 {check['recorded'][:16]}…, now {check['actual'][:16]}…); "
                "roll back the latest merge or investigate")
    return ("UNRECORDED: the mash holds rows that no merge recorded a content hash for "
            "(a mash of an older moonshine-core, or rows written by hand); `moonshine archive` records one")
