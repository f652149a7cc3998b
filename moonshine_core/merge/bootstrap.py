"""Bootstrap: start an empty workspace's mash from an existing Moonshine DB."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import RefusedError, StoreError
from ..ledger import refresh_main_ledger
from ..mash import mash_sha256
from ..mergelog import append_entry, entries
from ..sources import file_sha256
from ..store import Store
from ..store.db import connect
from ..store.files import backup_copy
from ..store.schema import RECORD_TABLES
from ..timeutil import utc_now_iso
from ..workspace import Workspace


def bootstrap(ws: Workspace, source: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy the Moonshine DB ``source`` in as the mash of a workspace that has none.

    The source is checked to be a Moonshine DB (any schema version up to the
    core's; older ones are migrated forward in the copy), copied with the
    backup API, and recorded in the merge manifest (path, sha256, row counts)
    and the main ledger. Refused when the workspace already has a mash with
    rows or any merge history.
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise RefusedError(f"{source}: no such database file")
    with ws.lock():
        if entries(ws):
            raise RefusedError("this workspace already has merge history; bootstrap only starts an empty one")
        if ws.mash_path.exists():
            store = Store(ws.mash_path)
            rows = sum(store.count(t) for t in RECORD_TABLES)
            store.close()
            if rows:
                raise RefusedError(f"this workspace's mash already holds {rows} rows; bootstrap only starts an "
                                   "empty one")
            ws.mash_path.unlink()
        try:
            check = connect(source, readonly=True)
            check.close()
        except StoreError as exc:
            raise RefusedError(f"{source} cannot bootstrap the mash: {exc}") from exc
        source_sha = file_sha256(source)
        backup_copy(source, ws.mash_path)
        store = Store(ws.mash_path)  # migrates a copy of an older schema forward
        counts = {t: store.count(t) for t in RECORD_TABLES}
        providers = store.providers()
        store.close()
        entry = {"action": "bootstrap", "run_id": None, "provider": None, "at": utc_now_iso(),
                 "source_path": str(source), "source_sha256": source_sha, "rows": counts,
                 "providers": providers, "mash_sha256_before": None, "mash_sha256_after": mash_sha256(ws)}
        append_entry(ws, entry)
        refresh_main_ledger(ws)
        return entry
