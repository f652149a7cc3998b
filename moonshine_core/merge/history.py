"""``reports/main/merge_manifest.main.json``: the history of every change to the mash.

One entry per merge, re-merge, rollback or bootstrap, oldest first, each with
its time, counts per table and the mash's sha256 before and after.
"""

from __future__ import annotations

from typing import Any

from ..jsonio import read_json, write_json_atomic
from ..workspace import Workspace

SCHEMA = "moonshine.merge_manifest/1"


def append_entry(ws: Workspace, entry: dict[str, Any]) -> None:
    manifest = read_json(ws.merge_manifest_path, default=None) or {"schema": SCHEMA, "entries": []}
    manifest["entries"].append(entry)
    write_json_atomic(ws.merge_manifest_path, manifest)


def update_last_entry(ws: Workspace, **fields: Any) -> None:
    """Add ``fields`` to the newest entry (gate results arrive after the merge is recorded)."""
    manifest = read_json(ws.merge_manifest_path)
    manifest["entries"][-1].update(fields)
    write_json_atomic(ws.merge_manifest_path, manifest)


def entries(ws: Workspace) -> list[dict[str, Any]]:
    return (read_json(ws.merge_manifest_path, default=None) or {}).get("entries", [])


def merges_in_force(ws: Workspace) -> list[dict[str, Any]]:
    """Merge (and bootstrap) entries not undone by a later rollback, oldest first."""
    stack: list[dict[str, Any]] = []
    for entry in entries(ws):
        if entry["action"] in ("merge", "bootstrap"):
            stack.append(entry)
        elif entry["action"] == "rollback" and stack and stack[-1].get("run_id") == entry.get("run_id"):
            stack.pop()
    return stack
