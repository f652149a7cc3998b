"""Why a merge may not happen: each check returns the one-line reason, or ``None``.

A refused merge changes nothing: :func:`moonshine_core.merge.merge_run` raises
:class:`~moonshine_core.errors.RefusedError` with the reason, and ``moonshine
status`` shows it for each staged run.

The merge order lock of ``moonshine.toml`` (``merge_order = ["qwen", "deepseek"]``)
is one of them: a run of a provider listed in ``merge_order`` may not merge
while a run of a provider listed before it waits (staged, raw gates passed, not
merged). Providers not listed are not constrained.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..archive import snapshot_record, verify_archive
from ..file_hashes import FileHashes
from ..mash import records_check, unsettled
from ..mergelog import needs_upgrade
from ..runs import run_state, waiting_runs
from ..store.db import connect
from ..workspace import Workspace
from .five import contamination_gate, sealed_db_problems

#: How a refusal that gate 1 would also fail on begins (a tampered run DB or archive).
GATE1 = "gate 1 (source_hash) fails: "


def run_count_refusal(run_ids: Sequence[str]) -> str | None:
    """One provider run per merge."""
    if len(run_ids) != 1:
        return f"one provider run per merge; {len(run_ids)} named ({', '.join(run_ids)})"
    return None


def order_violation(ws: Workspace, provider: str) -> str | None:
    """Why merging a ``provider`` run now would break the merge order lock, or ``None``."""
    order = ws.settings.merge_order
    if provider not in order:
        return None
    earlier = set(order[: order.index(provider)])
    blocking = [r.run_id for r in waiting_runs(ws) if r.provider in earlier]
    if blocking:
        return (f"merge order lock ({' -> '.join(order)}): {', '.join(blocking)} must merge before a "
                f"{provider} run")
    return None


def merge_refusal(ws: Workspace, provider: str, run_id: str, records: dict[str, Any] | None = None,
                  hashes: FileHashes | None = None) -> str | None:
    """Why ``run_id`` may not merge now (``None`` when it may). Changes nothing.

    Checked in order: a complete run, raw gates passed, archive intact and the
    run DB as ingest sealed it (gate 1), premerge snapshot present and
    unaltered, the mash's records as its log recorded them (``records``: a
    :func:`~moonshine_core.mash.records_check` answer the caller has already),
    and (for a run not merged yet) the mash settled, upgraded, unchanged since
    the snapshot, and the merge order lock. ``hashes`` keeps the file hashes
    taken, for the merge that follows.
    """
    hashes = hashes or FileHashes()
    state = run_state(ws, provider, run_id)
    if not state.manifest:
        return f"run {run_id} has no manifest.json; it is not a complete run"
    if not state.raw_gates_passed:
        names = ", ".join(n for n, g in state.manifest.get("gates_raw", {}).items() if not g.get("passed"))
        return f"run {run_id} failed its raw gates ({names or 'none recorded'}); it cannot merge"
    problems = verify_archive(ws, provider, run_id, hashes)
    if problems:
        return problems[0] if not state.archived else GATE1 + problems[0]
    problems = sealed_db_problems(ws, provider, run_id, state.manifest, hashes)
    if problems:
        return GATE1 + problems[0]
    snap = snapshot_record(ws, run_id)
    path = ws.premerge_snapshot_path(run_id)
    if snap is None or not path.exists():
        return f"the premerge snapshot of {run_id} is missing (run `moonshine archive {run_id}`)"
    if hashes(path) != snap["sha256"]:
        return f"the premerge snapshot of {run_id} is altered (sha256 differs from the recorded one)"
    records = records if records is not None else records_check(ws)
    if records["status"] == "mismatch":
        return (f"the mash's records were changed outside moonshine (records_sha256 {records['actual'][:16]}…, "
                f"recorded {records['recorded'][:16]}…); roll back the latest merge or investigate")
    if not state.merged:
        if unsettled(ws):
            return ("the mash holds committed work not yet folded into its file (a command was interrupted); "
                    "the next archive, merge or rollback settles it")
        upgrade = needs_upgrade(ws)
        if upgrade:
            return f"{upgrade}; run `moonshine archive {run_id}` again (it upgrades the mash and takes a fresh snapshot)"
        if hashes(ws.mash_path) != snap["sha256"]:
            return (f"the mash changed since the premerge snapshot of {run_id} was taken; "
                    f"run `moonshine archive {run_id}` again to take a fresh one")
        violation = order_violation(ws, provider)
        if violation:
            return violation
    return None


def contamination_refusal(ws: Workspace, run_id: str, run_db: Path) -> str | None:
    """Why the rows of ``run_db`` may not enter the mash: gate 5 fails on the run DB alone."""
    conn = connect(run_db, readonly=True, immutable=True)
    try:
        contamination = contamination_gate(ws, {"run": conn})
    finally:
        conn.close()
    if contamination["status"] != "pass":
        return (f"run {run_id} carries contaminated or disallowed rows: "
                f"{contamination['evidence']['contaminated_rows']}")
    return None


def remerge_refusal(run_id: str, already_merged: bool, changed: int) -> str | None:
    """Why merging a merged run again may not commit: it would change ``changed`` rows."""
    if already_merged and changed:
        return (f"run {run_id} is already merged, yet merging it again would change "
                f"{changed} rows; archive it again for a fresh snapshot first")
    return None
