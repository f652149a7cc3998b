"""Stage D: merge one provider run into the mash, in one transaction, then run the gates.

The merged rows and the merge's entry in the mash's own log (with the content
hash of every record after it) commit together, so a merge is either wholly in
the mash and recorded there, or not at all. Everything after the commit (the
checkpoint, the main ledger, the merge manifest, the gates) is derived from the
mash and redone by the next locked command if the process dies or the disk
fills (:func:`moonshine_core.mergelog.recover`).
"""

from __future__ import annotations

import contextlib
from typing import Any

import apsw
import attrs

from ..errors import MoonshineError, RefusedError, StoreError
from ..file_hashes import FileHashes
from ..gates import (
    contamination_refusal,
    evaluate_gates,
    failed,
    merge_refusal,
    remerge_refusal,
)
from ..gates.five import merge_source
from ..ledger import refresh_main_ledger
from ..mash import ensure_mash, mash_sha256, records_check, unsettled
from ..mergelog import append_entry, entries, locked, new_id, reconcile, update_entry
from ..runs import run_state
from ..store import Counts, history
from ..store.db import close as close_db
from ..store.db import connect
from ..store.faults import fault_point
from ..store.transfer import attach, changes_if_merged, detach_all, merge_attached
from ..timeutil import utc_now_iso
from ..workspace import Workspace


@attrs.define(kw_only=True)
class MergeResult:
    """Outcome of ``merge_run``: the manifest entry and the gates evaluated after it."""

    entry: dict[str, Any]
    gates: dict[str, dict[str, Any]]

    @property
    def failed_gates(self) -> list[str]:
        return failed(self.gates)


def merge_run(ws: Workspace, run_id: str) -> MergeResult:
    """Merge ``run_id`` into the mash (insert new, update changed and not older, skip the rest).

    Refuses, changing nothing, when the run is not archived, its archive or run
    DB is altered (gate 1), its premerge snapshot is missing or stale, the mash
    was edited outside moonshine, its raw gates failed, or the merge order lock
    forbids it (:mod:`moonshine_core.gates.refusals`). The rows are read from
    the archived copy of the run DB, whose sha256 was just checked. Merging an
    already merged run again is allowed and must change nothing (it is
    recorded as a ``remerge``; nothing is written to the mash, whose file is
    then unchanged). After the merge the five gates are evaluated and recorded.
    """
    provider = ws.find_run(run_id)
    with locked(ws), FileHashes() as hashes:
        run_db = merge_source(ws, provider, run_id)
        hashes.start(run_db, ws.mash_path)  # read on the other core while the records are checked
        refusal = merge_refusal(ws, provider, run_id, records_check(ws), hashes)
        if refusal:
            raise RefusedError(refusal)
        ensure_mash(ws)
        state = run_state(ws, provider, run_id)
        refusal = contamination_refusal(ws, run_id, run_db)
        if refusal:
            raise RefusedError(refusal)
        snapshot = ws.premerge_snapshot_path(run_id)
        entry: dict[str, Any] = {
            "id": new_id(), "action": "remerge" if state.merged else "merge", "run_id": run_id,
            "provider": provider, "started_at": utc_now_iso(), "mash_sha256_before": hashes(ws.mash_path),
            "premerge_snapshot": str(snapshot.relative_to(ws.root)), "snapshot_sha256": hashes(snapshot),
            "run_db": str(run_db.relative_to(ws.root)), "run_db_sha256": hashes(run_db)}
        if state.merged:
            planned = _check_remerge(ws, run_id, run_db, entry)
            entry["mash_sha256_after"] = entry["mash_sha256_before"]  # nothing was written
            append_entry(ws, entry)
            fault_point("merge.after_manifest")
            gates = evaluate_gates(ws, run_id, hashes=hashes, planned=planned)
            return _record_gates(ws, entry, gates)
        mash = _commit(ws, run_id, run_db, entry)
        try:
            # The commit is durable (in the WAL); from here on, everything is derived from the mash.
            try:
                fault_point("merge.after_commit")
            except BaseException:
                mash.close()
                raise
            close_db(mash)  # optimise, fold the WAL into the file (SQLite removes -wal/-shm)
            hashes.forget(ws.mash_path)
            # A reader holding an old snapshot can keep the checkpoint from finishing: then the file's
            # sha256 is not yet the mash's state, and none is recorded.
            entry["mash_sha256_after"] = None if unsettled(ws) else mash_sha256(ws)
            fault_point("merge.after_checkpoint")
            ledger = refresh_main_ledger(ws)
            fault_point("merge.after_ledger")
            reconcile(ws, {entry["id"]: {"mash_sha256_after": entry["mash_sha256_after"]}}, recovering=False)
            fault_point("merge.after_manifest")
        except (OSError, apsw.Error, MoonshineError) as exc:
            raise StoreError(f"run {run_id} is merged (committed to the mash), but recording it failed: {exc}; "
                             "`moonshine status` shows it, and the next archive, merge or rollback finishes the "
                             "record") from exc
        gates = evaluate_gates(ws, run_id, hashes=hashes, ledger=ledger)
        return _record_gates(ws, entry, gates)


def _record_gates(ws: Workspace, entry: dict[str, Any], gates: dict[str, dict[str, Any]]) -> MergeResult:
    fault_point("merge.after_gates")
    statuses = {name: g["status"] for name, g in gates.items()}
    update_entry(ws, entry["id"], gates=statuses)
    recorded = next((e for e in reversed(entries(ws)) if e["id"] == entry["id"]), {**entry, "gates": statuses})
    return MergeResult(entry=recorded, gates=gates)


def _check_remerge(ws: Workspace, run_id: str, run_db: Any, entry: dict[str, Any]) -> dict[str, Counts]:
    """A re-merge: the merge's plan, on a read-only mash; refused unless it would change nothing."""
    mash = connect(ws.mash_path, readonly=True)
    try:
        planned = changes_if_merged(mash, run_db)
    finally:
        mash.close()
    refusal = remerge_refusal(run_id, True, sum(c.inserted + c.updated for c in planned.values()))
    if refusal:
        raise RefusedError(refusal)
    entry["counts"] = {t: c.to_dict() for t, c in planned.items()}
    entry["finished_at"] = utc_now_iso()
    return planned


def _commit(ws: Workspace, run_id: str, run_db: Any, entry: dict[str, Any]) -> apsw.Connection:
    """Upsert the run and append its log entry, in one transaction; returns the connection,
    committed and still open (closing it checkpoints)."""
    mash = connect(ws.mash_path, migrate=False)
    try:
        alias = attach(mash, run_db)
        with mash:
            history.install_digest(mash)  # a mash of an older core: sums from every row, once
            log = history.read_log(mash) or []
            by = history.vouching_entry(log)
            # The refusal checks proved the records are as recorded; the stored sums are theirs when no
            # row was touched since, else they are taken from every row.
            sums = history.stored_sums(mash) if by and history.unchanged_since(mash, by) else history.full_sums(mash)
            counts = merge_attached(mash, alias, sums)
            entry["counts"] = {t: c.to_dict() for t, c in counts.items()}
            entry["finished_at"] = utc_now_iso()
            history.record_state(mash, entry, sums)
            history.append(mash, entry)
            fault_point("merge.before_commit")
        detach_all(mash)
    except (apsw.Error, OSError) as exc:
        with contextlib.suppress(apsw.Error):
            mash.close()
        raise StoreError(f"merge of {run_id} failed and was rolled back, the mash is unchanged: {exc}") from exc
    except BaseException:
        with contextlib.suppress(apsw.Error):
            mash.close()
        raise
    return mash
