"""Rollback: restore the premerge snapshot of the latest merge, verified by hash."""

from __future__ import annotations

from typing import Any

from ..archive import snapshot_record
from ..errors import RefusedError
from ..ledger import refresh_main_ledger
from ..mash import mash_sha256, restore
from ..mergelog import append_entry, merge_log
from ..timeutil import utc_now_iso
from ..workspace import Workspace


def rollback_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Undo the merge of ``run_id``, which must be the latest merge in force.

    The mash is replaced by the run's premerge snapshot after the snapshot's
    sha256 is checked against the one recorded when it was taken; the
    rollback is recorded in the merge manifest and the main ledger refreshed.
    Rolling back an earlier merge is refused: later merges were built on it.
    """
    ws.find_run(run_id)
    with ws.lock():
        in_force = merge_log(ws).in_force
        if not in_force or in_force[-1]["action"] != "merge":
            raise RefusedError("there is no merge to roll back" if not in_force else
                               f"the latest change to the mash is a {in_force[-1]['action']}, not a merge")
        latest = in_force[-1]
        if latest["run_id"] != run_id:
            if any(e["run_id"] == run_id for e in in_force):
                raise RefusedError(f"{run_id} is not the latest merge: {latest['run_id']} merged after it; "
                                   f"roll back {latest['run_id']} first")
            raise RefusedError(f"{run_id} is not merged (latest merge: {latest['run_id']})")
        snap = snapshot_record(ws, run_id)
        path = ws.premerge_snapshot_path(run_id)
        if snap is None or not path.exists():
            raise RefusedError(f"the premerge snapshot of {run_id} is missing; cannot roll back")
        before = mash_sha256(ws)
        after = restore(path, ws.mash_path, snap["sha256"])
        entry = {"action": "rollback", "run_id": run_id, "provider": latest["provider"], "at": utc_now_iso(),
                 "mash_sha256_before": before, "mash_sha256_after": after,
                 "restored_snapshot": str(path.relative_to(ws.root))}
        append_entry(ws, entry)
        refresh_main_ledger(ws)
        return entry
