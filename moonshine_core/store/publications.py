"""Which distill runs' lane folders the mash records (table ``distill_publications``).

A distill run is recorded ``pending`` with its folders (relative to the
workspace root) in the same transaction as its ``distilled_conversations``
rows, *before* any folder moves into ``reports/distillations``; it becomes
``published`` once every folder is in place. A run killed in between is
settled by :func:`recover`: all its folders in place → published; otherwise
its folders and rows are removed, so the mash and the folders agree again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apsw

from ..timeutil import utc_now_iso

TABLE = "distill_publications"


def record_pending(conn: apsw.Connection, run_id: str, folders: dict[str, str]) -> None:
    """Record ``run_id`` as pending with its lane folders (lane → path relative to the workspace);
    call inside the transaction that records its ``distilled_conversations`` rows."""
    conn.execute(f"INSERT OR REPLACE INTO {TABLE} (run_id, state, folders_json, recorded_at) VALUES (?,?,?,?)",
                 (run_id, "pending", json.dumps(folders, sort_keys=True), utc_now_iso()))


def mark_published(conn: apsw.Connection, run_id: str) -> None:
    with conn:
        conn.execute(f"UPDATE {TABLE} SET state = 'published' WHERE run_id = ?", (run_id,))


def is_recorded(conn: apsw.Connection, run_id: str) -> bool:
    """Whether the mash records a distill run ``run_id`` (published or pending), even if ``moonshine
    gc`` has since removed its folders: its id is then used, and reusing it would mix two runs."""
    if not conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?", (TABLE,)).get:
        return False
    return bool(conn.execute(f"SELECT count(*) FROM {TABLE} WHERE run_id = ?", (run_id,)).get)


def pending_runs(conn: apsw.Connection) -> list[str]:
    """Distill runs recorded but not (yet) known to be published."""
    if not conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = ?", (TABLE,)).get:
        return []
    return [r[0] for r in conn.execute(f"SELECT run_id FROM {TABLE} WHERE state = 'pending' ORDER BY run_id")]


def recover(conn: apsw.Connection, root: Path) -> dict[str, str]:
    """Settle every pending distill run (call under the workspace lock); returns run id → outcome."""
    outcomes = {}
    for run_id in pending_runs(conn):
        folders = json.loads(conn.execute(f"SELECT folders_json FROM {TABLE} WHERE run_id = ?", (run_id,)).get)
        if all((root / rel).is_dir() for rel in folders.values()):
            mark_published(conn, run_id)
            outcomes[run_id] = "published"
            continue
        for rel in folders.values():
            shutil.rmtree(root / rel, ignore_errors=True)
        with conn:
            conn.execute("DELETE FROM distilled_conversations WHERE run_id = ?", (run_id,))
            conn.execute(f"DELETE FROM {TABLE} WHERE run_id = ?", (run_id,))
        outcomes[run_id] = "withdrawn"
    return outcomes
