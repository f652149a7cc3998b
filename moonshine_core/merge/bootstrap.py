"""Bootstrap: start an empty workspace's mash from an existing Moonshine DB."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .. import search as search_index
from ..errors import RefusedError, StoreError
from ..ledger import refresh_main_ledger
from ..mash import mash_sha256, settle_mash
from ..mergelog import entries, locked, new_id, reconcile
from ..sources import file_sha256
from ..store import Store, history
from ..store.db import connect
from ..store.files import backup_copy, discard, sidecars
from ..store.schema import RECORD_TABLES
from ..timeutil import utc_now_iso
from ..workspace import Workspace


def bootstrap(ws: Workspace, source: str | os.PathLike[str]) -> dict[str, Any]:
    """Copy the Moonshine DB ``source`` in as the mash of a workspace that has none.

    The source is checked to be a Moonshine DB (any schema version up to the
    core's; older ones are migrated forward in the copy), copied with the
    backup API, and recorded in the copy's own merge log (which starts afresh
    with this entry, in one transaction, before the copy replaces the mash),
    the merge manifest (path, sha256, row counts) and the main ledger. Refused
    when the workspace already has a mash with rows or any merge history.
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise RefusedError(f"{source}: no such database file")
    with locked(ws):
        if entries(ws):
            raise RefusedError("this workspace already has merge history; bootstrap only starts an empty one")
        if ws.mash_path.exists():
            store = Store(ws.mash_path, readonly=True)
            rows = sum(store.count(t) for t in RECORD_TABLES)
            store.close()
            if rows:
                raise RefusedError(f"this workspace's mash already holds {rows} rows; bootstrap only starts an "
                                   "empty one")
            if not settle_mash(ws):
                raise RefusedError(f"the mash is open in another process ({', '.join(p.name for p in sidecars(ws.mash_path))} "
                                   "in use); close it and bootstrap again")
        try:
            check = connect(source, readonly=True)
            check.close()
        except StoreError as exc:
            raise RefusedError(f"{source} cannot bootstrap the mash: {exc}") from exc
        source_sha = file_sha256(source)
        building = ws.mash_path.with_name(ws.mash_path.name + ".bootstrap")
        discard(building)  # what a killed bootstrap left
        backup_copy(source, building)
        store = Store(building)  # migrates a copy of an older schema forward
        try:
            counts = {t: store.count(t) for t in RECORD_TABLES}
            providers = store.providers()
            entry = {"id": new_id(), "action": "bootstrap", "run_id": None, "provider": None, "at": utc_now_iso(),
                     "source_path": str(source), "source_sha256": source_sha, "rows": counts,
                     "providers": providers, "mash_sha256_before": mash_sha256(ws)}
            with store.conn:
                search_index.install(store.conn)  # a run DB as source has none; the mash always does
                history.clear(store.conn)  # the source's own history is not this workspace's
                history.install_digest(store.conn)
                # the source's digest, if it has one, is not trusted: sums from every row
                history.record_state(store.conn, entry, history.full_sums(store.conn))
                history.append(store.conn, entry)
        finally:
            store.close()
        os.replace(building, ws.mash_path)  # one rename: the mash and its record arrive together
        refresh_main_ledger(ws)
        reconcile(ws, {entry["id"]: {"mash_sha256_after": mash_sha256(ws)}}, recovering=False)
        return next(e for e in entries(ws) if e["id"] == entry["id"])
