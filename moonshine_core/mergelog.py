"""``reports/main/merge_manifest.main.json``: the history of every change to the mash.

One entry per merge, re-merge, rollback or bootstrap, oldest first, each with
its time, counts per table and the mash's sha256 before and after.

What the history means now is worked out in one place, :func:`replay`: which
merges are in force (a rollback undoes the latest one) and, per run, whether
it is merged or was rolled back. Runs, status, merge and rollback all read it
from there, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from .jsonio import read_json, write_json_atomic
from .workspace import Workspace

SCHEMA = "moonshine.merge_manifest/1"


def append_entry(ws: Workspace, entry: dict[str, Any]) -> None:
    """Add ``entry`` as the newest entry of the merge manifest (creating the manifest)."""
    manifest = read_json(ws.merge_manifest_path, default=None) or {"schema": SCHEMA, "entries": []}
    manifest["entries"].append(entry)
    write_json_atomic(ws.merge_manifest_path, manifest)


def update_last_entry(ws: Workspace, **fields: Any) -> None:
    """Add ``fields`` to the newest entry (gate results arrive after the merge is recorded)."""
    manifest = read_json(ws.merge_manifest_path)
    manifest["entries"][-1].update(fields)
    write_json_atomic(ws.merge_manifest_path, manifest)


def entries(ws: Workspace) -> list[dict[str, Any]]:
    """Every entry of the merge manifest, oldest first (none when nothing was merged)."""
    return (read_json(ws.merge_manifest_path, default=None) or {}).get("entries", [])


@attrs.frozen(kw_only=True)
class MergeLog:
    """The merge manifest replayed: what is in force now."""

    #: Merge and bootstrap entries not undone by a later rollback, oldest first.
    in_force: list[dict[str, Any]]
    #: Run id -> True while a merge of it is in force, False once that merge was rolled back
    #: (runs never merged are absent).
    merged: dict[str, bool]


def replay(log: Iterable[dict[str, Any]]) -> MergeLog:
    """Replay merge manifest entries, oldest first.

    A merge or bootstrap goes on top of the stack of changes in force; a
    rollback takes the top one off when it is that run's (rollback refuses any
    other, so a log it wrote never holds one). Re-merges change nothing.
    """
    stack: list[dict[str, Any]] = []
    ever_merged: list[str] = []
    for entry in log:
        action = entry.get("action")
        if action in ("merge", "bootstrap"):
            stack.append(entry)
            if action == "merge":
                ever_merged.append(entry["run_id"])
        elif action == "rollback" and stack and stack[-1].get("run_id") == entry.get("run_id"):
            stack.pop()
    in_force = {e["run_id"] for e in stack if e["action"] == "merge"}
    return MergeLog(in_force=stack, merged={run_id: run_id in in_force for run_id in ever_merged})


def merge_log(ws: Workspace) -> MergeLog:
    """The workspace's merge manifest, replayed (see :func:`replay`)."""
    return replay(entries(ws))
