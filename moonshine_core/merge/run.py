"""Stage D: merge one provider run into the mash, in one transaction, then run the gates."""

from __future__ import annotations

from typing import Any

import attrs

from ..archive import snapshot_record, verify_archive
from ..errors import RefusedError
from ..gates import contamination_gate, evaluate_gates, failed
from ..ledger import main_ledger
from ..jsonio import write_json_atomic
from ..mash import ensure_mash, mash_sha256, settle
from ..runs import run_state
from ..sources import file_sha256
from ..store.db import close as close_db
from ..store.db import connect
from ..timeutil import utc_now_iso
from ..tokens import default_encoding_file
from ..workspace import Workspace
from .history import append_entry, update_last_entry
from .order import order_violation
from ..store.transfer import upsert_run


@attrs.define(kw_only=True)
class MergeResult:
    """Outcome of ``merge_run``: the manifest entry and the gates evaluated after it."""

    entry: dict[str, Any]
    gates: dict[str, dict[str, Any]]

    @property
    def failed_gates(self) -> list[str]:
        return failed(self.gates)


def refresh_main_ledger(ws: Workspace) -> dict[str, Any]:
    """Rewrite ``reports/main/token_ledger.main.json`` from the mash."""
    conn = connect(ws.mash_path, readonly=True)
    try:
        ledger = main_ledger(conn, ws.settings.tiktoken_file or str(default_encoding_file()))
    finally:
        conn.close()
    write_json_atomic(ws.main_ledger_path, ledger)
    return ledger


def merge_refusal(ws: Workspace, provider: str, run_id: str) -> str | None:
    """Why ``run_id`` may not merge now (``None`` when it may). Changes nothing."""
    state = run_state(ws, provider, run_id)
    if not state.manifest:
        return f"run {run_id} has no manifest.json; it is not a complete run"
    if not state.raw_gates_passed:
        names = ", ".join(n for n, g in state.manifest.get("gates_raw", {}).items() if not g.get("passed"))
        return f"run {run_id} failed its raw gates ({names or 'none recorded'}); it cannot merge"
    problems = verify_archive(ws, provider, run_id)
    if problems:
        return problems[0]
    snap = snapshot_record(ws, run_id)
    path = ws.premerge_snapshot_path(run_id)
    if snap is None or not path.exists():
        return f"the premerge snapshot of {run_id} is missing (run `moonshine archive {run_id}`)"
    if file_sha256(path) != snap["sha256"]:
        return f"the premerge snapshot of {run_id} is altered (sha256 differs from the recorded one)"
    if not state.merged:
        current = mash_sha256(ws)
        if current != snap["sha256"]:
            return (f"the mash changed since the premerge snapshot of {run_id} was taken; "
                    f"run `moonshine archive {run_id}` again to take a fresh one")
        violation = order_violation(ws, provider)
        if violation:
            return violation
    return None


def merge_run(ws: Workspace, run_id: str) -> MergeResult:
    """Merge ``run_id`` into the mash (insert new, update changed and not older, skip the rest).

    Refuses, changing nothing, when the run is not archived, its premerge
    snapshot is missing or stale, its raw gates failed, or the merge order
    lock forbids it. Merging an already merged run again is allowed and must
    change nothing (it is recorded as a ``remerge``). After the merge the five
    gates are evaluated and recorded.
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
        pre_conn = connect(run_db, readonly=True)
        try:
            contamination = contamination_gate(ws, {"run": pre_conn})
        finally:
            pre_conn.close()
        if contamination["status"] != "pass":
            raise RefusedError(f"run {run_id} carries contaminated or disallowed rows: "
                               f"{contamination['evidence']['contaminated_rows']}")
        before = mash_sha256(ws)
        started = utc_now_iso()
        mash = connect(ws.mash_path)
        try:
            with mash:
                counts = upsert_run(mash, run_db)
                changed = sum(c.inserted + c.updated for c in counts.values())
                if state.merged and changed:
                    raise RefusedError(f"run {run_id} is already merged, yet merging it again would change "
                                       f"{changed} rows; archive it again for a fresh snapshot first")
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
