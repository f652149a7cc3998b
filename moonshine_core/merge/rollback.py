"""Rollback: restore the premerge snapshot of the latest merge, verified by hash.

The restored mash is byte for byte the snapshot, so its own merge log is the
snapshot's: it no longer lists the merge, which is what makes the merge
undone everywhere (:mod:`moonshine_core.mergelog` derives the manifest from
it). The rollback itself is recorded in the manifest only, as ``pending``
*before* the restore; whether it completed is read back from the mash, so a
rollback killed at any point leaves a history that says what the mash holds.
"""

from __future__ import annotations

from typing import Any

from ..archive import snapshot_record
from ..errors import RefusedError, StoreError
from ..ledger import refresh_main_ledger
from ..mash import mash_sha256, restore, settle_mash
from ..mergelog import append_entry, entries, locked, merge_log, new_id, reconcile
from ..sources import file_sha256
from ..store.faults import fault_point
from ..store.files import sidecars
from ..timeutil import utc_now_iso
from ..workspace import Workspace


def rollback_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Undo the merge of ``run_id``, which must be the latest merge in force.

    The mash is replaced by the run's premerge snapshot after the snapshot's
    sha256 is checked against the one recorded when it was taken (and, for a
    merge recorded by this core, the one its log entry names); the rollback is
    recorded in the merge manifest and the main ledger refreshed. Rolling back
    an earlier merge is refused: later merges were built on it. Refused too
    while another process has the mash open.
    """
    ws.find_run(run_id)
    with locked(ws):
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
        expected = latest.get("snapshot_sha256") or snap["sha256"]
        actual = file_sha256(path)
        if actual != snap["sha256"] or actual != expected:
            raise StoreError(f"snapshot {path} is altered: sha256 {actual}, recorded {expected}")
        if not settle_mash(ws):
            raise RefusedError(f"the mash is open in another process ({', '.join(p.name for p in sidecars(ws.mash_path))} "
                               "in use); close it and roll back again")
        entry = {"id": new_id(), "action": "rollback", "run_id": run_id, "provider": latest["provider"],
                 "at": utc_now_iso(), "undoes": latest.get("id"), "pending": True,
                 "mash_sha256_before": mash_sha256(ws), "restored_snapshot": str(path.relative_to(ws.root)),
                 "snapshot_sha256": expected}
        append_entry(ws, entry)
        fault_point("rollback.after_intent")
        after = restore(path, ws.mash_path, expected)
        refresh_main_ledger(ws)
        fault_point("rollback.after_ledger")
        reconcile(ws, {entry["id"]: {"mash_sha256_after": after}}, recovering=False)
        recorded = next(e for e in entries(ws) if e["id"] == entry["id"])
        return recorded
