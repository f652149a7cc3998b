"""``moonshine status``: what is in the mash, what is staged and whether it may merge, recent merges.

Status only reads, and tells the truth after a killed command: the merge
history is derived from the mash's own log (``mergelog.entries``), the mash's
records are checked against the content hash that log recorded
(``mash.records_check``), and a WAL not yet folded in or a history the
manifest file lacks is reported, not hidden (the next locked command repairs
both).
"""

from __future__ import annotations

from typing import Any

from .gates.refusals import merge_refusal
from .mash import describe_records_check, records_check, unsettled
from .mergelog import entries, read_manifest
from .runs import all_runs
from .store import publications
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
    """The workspace's status as plain data (what ``moonshine --json status`` prints).

    Raises :class:`~moonshine_core.errors.WorkspaceError` when ``ws`` is not a workspace.
    """
    ws.require_existing()
    staged = []
    gate_failures = []
    records = records_check(ws)
    for run in all_runs(ws):
        refusal = None if run.merged else merge_refusal(ws, run.provider, run.run_id, records)
        staged.append({"run_id": run.run_id, "provider": run.provider, "archived": run.archived,
                       "merged": run.merged, "rolled_back": run.rolled_back,
                       "raw_gates_passed": run.raw_gates_passed,
                       "merge_ready": not run.merged and refusal is None,
                       "not_ready_because": refusal})
        if run.gate_failures:
            gate_failures.append({"run_id": run.run_id, "gates": run.gate_failures})
        elif run.merged and (run.manifest.get("gates") or {}).get("merge_idempotence", {}).get("status") != "pass":
            gate_failures.append({"run_id": run.run_id, "gates": ["not evaluated since the merge "
                                                                  f"(run `moonshine gates {run.run_id}`)"]})
    history = entries(ws)
    manifest, state = read_manifest(ws)
    return {"workspace": str(ws.root), "main": _main_counts(ws), "runs": staged,
            "recent_merges": history[-recent:][::-1], "gate_failures": gate_failures,
            "mash_records": records,
            "recovery_pending": _recovery_pending(ws, history, manifest, state)}


def _recovery_pending(ws: Workspace, history: list, manifest: list, state: str) -> list[str]:
    """What the next locked command will repair (empty when the workspace is as recorded)."""
    pending = []
    if unsettled(ws):
        pending.append("the mash's WAL holds committed work not yet folded into its file")
    if state == "corrupt":
        pending.append("the merge manifest file is unreadable; it is rebuilt from the mash")
    elif history != manifest:
        pending.append("the merge manifest file lags behind the mash's own log; it is rewritten from it")
    if ws.mash_path.exists():
        conn = connect(ws.mash_path, readonly=True)
        try:
            pending += [f"distill run {r} is recorded but not known to be published; it is settled"
                        for r in publications.pending_runs(conn)]
        finally:
            conn.close()
    return pending


def describe(data: dict[str, Any]) -> str:
    """The text ``moonshine status`` prints for :func:`status`'s data."""
    lines = [f"workspace {data['workspace']}", "", "main (mash):"]
    check = data.get("mash_records") or {"status": "no_mash"}
    lines.append(f"  records: {describe_records_check(check)}")
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
    if data.get("recovery_pending"):
        lines += ["", "interrupted command (the next archive, merge, rollback or gates finishes it):"]
        lines += [f"  {p}" for p in data["recovery_pending"]]
    return "\n".join(lines)
