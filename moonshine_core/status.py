"""``moonshine status``: what is in the mash, what is staged and whether it may merge, recent merges."""

from __future__ import annotations

from typing import Any

from .gates.refusals import merge_refusal
from .mergelog import entries
from .runs import all_runs
from .store.db import connect
from .store.reports import conversations_per_provider, distilled_per_provider, messages_per_provider
from .workspace import Workspace


def _main_counts(ws: Workspace) -> dict[str, dict[str, Any]]:
    if not ws.mash_path.exists():
        return {}
    conn = connect(ws.mash_path, readonly=True)
    try:
        per: dict[str, dict[str, Any]] = {}
        for provider, n in conversations_per_provider(conn):
            per[provider] = {"conversations": n, "messages": 0, "tokens": 0, "non_system_tokens": 0,
                             "distilled_conversations": {}}
        for provider, n, tokens, non_system in messages_per_provider(conn):
            per.setdefault(provider, {"conversations": 0, "distilled_conversations": {}})
            per[provider].update(messages=n, tokens=tokens, non_system_tokens=non_system)
        for provider, lane, n in distilled_per_provider(conn):
            per.setdefault(provider, {"conversations": 0, "distilled_conversations": {}})
            per[provider]["distilled_conversations"][lane] = n
        return per
    finally:
        conn.close()


def status(ws: Workspace, recent: int = 5) -> dict[str, Any]:
    """The workspace's status as plain data (what ``moonshine --json status`` prints)."""
    staged = []
    gate_failures = []
    for run in all_runs(ws):
        refusal = None if run.merged else merge_refusal(ws, run.provider, run.run_id)
        staged.append({"run_id": run.run_id, "provider": run.provider, "archived": run.archived,
                       "merged": run.merged, "rolled_back": run.rolled_back,
                       "raw_gates_passed": run.raw_gates_passed,
                       "merge_ready": not run.merged and refusal is None,
                       "not_ready_because": refusal})
        if run.gate_failures:
            gate_failures.append({"run_id": run.run_id, "gates": run.gate_failures})
    history = entries(ws)
    return {"workspace": str(ws.root), "main": _main_counts(ws), "runs": staged,
            "recent_merges": history[-recent:][::-1], "gate_failures": gate_failures}


def describe(data: dict[str, Any]) -> str:
    """The text ``moonshine status`` prints for :func:`status`'s data."""
    lines = [f"workspace {data['workspace']}", "", "main (mash):"]
    if not data["main"]:
        lines.append("  empty")
    for provider, c in sorted(data["main"].items()):
        distilled = ", ".join(f"{lane} {n}" for lane, n in sorted(c.get("distilled_conversations", {}).items()))
        lines.append(f"  {provider:<10} {c.get('conversations', 0):>7,} conversations {c.get('messages', 0):>9,} "
                     f"messages {c.get('non_system_tokens', 0):>12,} non-system tokens"
                     + (f"; distilled: {distilled}" if distilled else ""))
    lines += ["", "provider runs:"]
    if not data["runs"]:
        lines.append("  none staged")
    for run in data["runs"]:
        if run["merged"]:
            where = "merged"
        elif run["merge_ready"]:
            where = "merge-ready"
        else:
            where = f"not ready: {run['not_ready_because']}"
        lines.append(f"  {run['run_id']:<28} {where}")
    lines += ["", "recent merges:"]
    if not data["recent_merges"]:
        lines.append("  none")
    for entry in data["recent_merges"]:
        counts = entry.get("counts") or {}
        msg = counts.get("messages", {})
        when = entry.get("finished_at") or entry.get("at")
        detail = (f"messages +{msg.get('inserted', 0)} ~{msg.get('updated', 0)} ={msg.get('skipped', 0)}"
                  if msg else "")
        lines.append(f"  {when}  {entry['action']:<9} {entry.get('run_id') or entry.get('source_path')}  {detail}")
    if data["gate_failures"]:
        lines += ["", "gate failures:"]
        lines += [f"  {g['run_id']}: {', '.join(g['gates'])}" for g in data["gate_failures"]]
    return "\n".join(lines)
