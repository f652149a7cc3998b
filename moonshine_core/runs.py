"""What the workspace knows about each provider run: staged, archived, merged, rolled back.

The facts live in files (the run manifest, the archive record, the merge
manifest); this module reads them into one :class:`RunState` per run so that
merge, status and ``run`` apply the same rules.
"""

from __future__ import annotations

from typing import Any

import attrs

from .jsonio import read_json
from .workspace import Workspace

ARCHIVE_RECORD = "archive.json"


@attrs.define(kw_only=True)
class RunState:
    """One provider run and where it stands in the lifecycle."""

    provider: str
    run_id: str
    manifest: dict[str, Any]
    archive: dict[str, Any] | None
    merged: bool
    rolled_back: bool

    @property
    def raw_gates_passed(self) -> bool:
        gates = self.manifest.get("gates_raw") or {}
        return bool(gates) and all(g.get("passed") for g in gates.values())

    @property
    def archived(self) -> bool:
        return self.archive is not None

    @property
    def gate_failures(self) -> list[str]:
        failed = [name for name, g in (self.manifest.get("gates_raw") or {}).items() if not g.get("passed")]
        failed += [name for name, g in (self.manifest.get("gates") or {}).items()
                   if g.get("status") == "fail"]
        return failed


def merged_run_ids(ws: Workspace) -> dict[str, bool]:
    """Run id -> True when its latest merge is in force, False when that merge was rolled back."""
    from .merge.history import entries  # the merge package imports this module

    state: dict[str, bool] = {}
    for entry in entries(ws):
        if entry.get("action") == "merge":
            state[entry["run_id"]] = True
        elif entry.get("action") == "rollback":
            state[entry["run_id"]] = False
    return state


def run_state(ws: Workspace, provider: str, run_id: str, merged: dict[str, bool] | None = None) -> RunState:
    merged = merged if merged is not None else merged_run_ids(ws)
    manifest = read_json(ws.run_manifest_path(provider, run_id), default={}) or {}
    archive = read_json(ws.archive_run_dir(provider, run_id) / ARCHIVE_RECORD)
    return RunState(provider=provider, run_id=run_id, manifest=manifest, archive=archive,
                    merged=merged.get(run_id) is True, rolled_back=merged.get(run_id) is False)


def all_runs(ws: Workspace) -> list[RunState]:
    """Every staged provider run, oldest first."""
    merged = merged_run_ids(ws)
    return [run_state(ws, p, r, merged) for p, r in ws.run_ids()]


def waiting_runs(ws: Workspace) -> list[RunState]:
    """Runs staged for merging: raw gates passed, not merged, and not older than a merged run of theirs."""
    runs = all_runs(ws)
    newest_merged: dict[str, str] = {}
    for run in runs:
        if run.merged:
            newest_merged[run.provider] = max(newest_merged.get(run.provider, ""), run.run_id)
    return [r for r in runs if r.raw_gates_passed and not r.merged
            and r.run_id > newest_merged.get(r.provider, "")]
