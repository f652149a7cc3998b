"""Stage D: merge one provider run into the mash, in one transaction, then run the gates."""

from __future__ import annotations

from typing import Any

import attrs

from ..errors import RefusedError
from ..gates import contamination_refusal, evaluate_gates, failed, merge_refusal, remerge_refusal
from ..ledger import refresh_main_ledger
from ..mash import ensure_mash, mash_sha256
from ..mergelog import append_entry, update_last_entry
from ..runs import run_state
from ..store.db import close as close_db
from ..store.db import connect
from ..store.files import settle
from ..store.transfer import upsert_run
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

    Refuses, changing nothing, when the run is not archived, its premerge
    snapshot is missing or stale, its raw gates failed, or the merge order
    lock forbids it (:mod:`moonshine_core.gates.refusals`). Merging an already
    merged run again is allowed and must change nothing (it is recorded as a
    ``remerge``). After the merge the five gates are evaluated and recorded.
    """
    provider = ws.find_run(run_id)
    with ws.lock():
        if ws.mash_path.exists():
            settle(ws.mash_path)
        refusal = merge_refusal(ws, provider, run_id)
        if refusal:
            raise RefusedError(refusal)
        ensure_mash(ws)
        state = run_state(ws, provider, run_id)
        run_db = ws.run_db_path(provider, run_id)
        refusal = contamination_refusal(ws, run_id, run_db)
        if refusal:
            raise RefusedError(refusal)
        before = mash_sha256(ws)
        started = utc_now_iso()
        mash = connect(ws.mash_path)
        try:
            with mash:
                counts = upsert_run(mash, run_db)
                refusal = remerge_refusal(run_id, state.merged, sum(c.inserted + c.updated for c in counts.values()))
                if refusal:
                    raise RefusedError(refusal)
        finally:
            close_db(mash)
        after = mash_sha256(ws)
        entry = {"action": "remerge" if state.merged else "merge", "run_id": run_id, "provider": provider,
                 "started_at": started, "finished_at": utc_now_iso(),
                 "counts": {t: c.to_dict() for t, c in counts.items()},
                 "mash_sha256_before": before, "mash_sha256_after": after,
                 "premerge_snapshot": str(ws.premerge_snapshot_path(run_id).relative_to(ws.root))}
        append_entry(ws, entry)
        refresh_main_ledger(ws)
        gates = evaluate_gates(ws, run_id)
        entry["gates"] = {name: g["status"] for name, g in gates.items()}
        update_last_entry(ws, gates=entry["gates"])
        return MergeResult(entry=entry, gates=gates)
