"""What the workspace knows about each provider run: staged, archived, merged, rolled back.

The facts live in the run manifest, the archive record and the merge history
(the mash's own log with the merge manifest derived from it, replayed by
:func:`moonshine_core.mergelog.replay`); this module reads them into one
:class:`RunState` per run so that merge, status and ``run`` apply the same rules.
"""

from __future__ import annotations

from typing import Any

import attrs

from .jsonio import read_json
from .mergelog import MergeLog, merge_log
from .workspace import Workspace

ARCHIVE_RECORD = "archive.json"


def raw_gates_passed(gates_raw: dict[str, Any] | None) -> bool:
    """Whether raw-only gates were recorded (a manifest's ``gates_raw``) and every one passed."""
    gates = gates_raw or {}
    return bool(gates) and all(g.get("passed") for g in gates.values())


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
        return raw_gates_passed(self.manifest.get("gates_raw"))

    @property
    def archived(self) -> bool:
        return self.archive is not None

    @property
    def gate_failures(self) -> list[str]:
        failed = [name for name, g in (self.manifest.get("gates_raw") or {}).items() if not g.get("passed")]
        failed += [name for name, g in (self.manifest.get("gates") or {}).items()
                   if g.get("status") == "fail"]
        return failed


def run_state(ws: Workspace, provider: str, run_id: str, log: MergeLog | None = None) -> RunState:
    """Where ``run_id`` stands; ``log`` is the replayed merge manifest when the caller has it already."""
    merged = (log if log is not None else merge_log(ws)).merged
    manifest = read_json(ws.run_manifest_path(provider, run_id), default={}) or {}
    archive = read_json(ws.archive_run_dir(provider, run_id) / ARCHIVE_RECORD)
    return RunState(provider=provider, run_id=run_id, manifest=manifest, archive=archive,
                    merged=merged.get(run_id) is True, rolled_back=merged.get(run_id) is False)


def all_runs(ws: Workspace) -> list[RunState]:
    """Every staged provider run, oldest first."""
    log = merge_log(ws)
    return [run_state(ws, p, r, log) for p, r in ws.run_ids()]


def waiting_runs(ws: Workspace) -> list[RunState]:
    """Runs staged for merging: raw gates passed, not merged, and not older than a merged run of theirs."""
    runs = all_runs(ws)
    newest_merged: dict[str, str] = {}
    for run in runs:
        if run.merged:
            newest_merged[run.provider] = max(newest_merged.get(run.provider, ""), run.run_id)
    return [r for r in runs if r.raw_gates_passed and not r.merged
            and r.run_id > newest_merged.get(r.provider, "")]
