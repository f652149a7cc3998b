"""The mash: the one database that merges change, and its byte-exact snapshots.

The mash is only ever written under the workspace lock and closed with a WAL
checkpoint, so between commands it is one self-contained file whose sha256
identifies its state.

Snapshots are byte-exact copies of that settled file, taken under the
workspace lock and checked with ``pragma integrity_check`` and sha256, so a
rollback gives back the mash sha256 for sha256. SQLite's backup API (used for
bootstrap copies) cannot do this: it increments the schema cookie of the
destination, so its copy differs from the source in header bytes 40-43.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .errors import StoreError
from .sources import file_sha256
from .store import Store
from .store.files import integrity_check, settle
from .workspace import Workspace


def ensure_mash(ws: Workspace) -> Path:
    """Create an empty mash (current schema) when there is none; returns its path."""
    if not ws.mash_path.exists():
        Store(ws.mash_path).close()
    return ws.mash_path


def mash_sha256(ws: Workspace) -> str | None:
    """sha256 of the mash file as it stands (``None`` when there is no mash)."""
    if not ws.mash_path.exists():
        return None
    return file_sha256(ws.mash_path)


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
    return digest


def restore(snapshot_path: Path, target: Path, expected_sha256: str) -> str:
    """Replace ``target`` with the snapshot after checking the snapshot's hash; returns the new sha256."""
    actual = file_sha256(snapshot_path)
    if actual != expected_sha256:
        raise StoreError(f"snapshot {snapshot_path} is altered: sha256 {actual}, recorded {expected_sha256}")
    partial = target.with_name(target.name + ".restoring")
    shutil.copyfile(snapshot_path, partial)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(partial, target)
    restored = file_sha256(target)
    if restored != expected_sha256:
        raise StoreError(f"restored mash {target} does not match its snapshot")
    return restored
