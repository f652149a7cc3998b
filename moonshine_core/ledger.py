"""Token ledgers: exact o200k_base counts summed from a database.

A ledger is always computed from the per-message counts stored in a DB, so its
totals equal the DB's sums by construction; ``docs/ledger.md`` documents its
JSON schema. The headline is non-system tokens (every role but ``system``).
What each kind counts is defined in :mod:`moonshine_core.tokens`.
"""

from __future__ import annotations

from typing import Any

import apsw

from .jsonio import write_json_atomic
from .store.db import connect
from .store.reports import conversation_count, providers, tokens_by_conversation, tokens_by_role
from .timeutil import utc_now_iso
from .tokens import ENCODING_NAME, ENCODING_SHA256, KINDS, default_encoding_file
from .workspace import Workspace

SCHEMA = "moonshine.token_ledger/1"


def _block(messages: int, text: int, reasoning: int, tool: int) -> dict[str, int]:
    return {"messages": messages, "text": text, "reasoning": reasoning, "tool": tool,
            "tokens": text + reasoning + tool}


def _summarise(conn: apsw.Connection, provider: str | None, per_conversation: bool) -> dict[str, Any]:
    by_role: dict[str, dict[str, int]] = {}
    by_visibility = {"visible": _block(0, 0, 0, 0), "hidden": _block(0, 0, 0, 0)}
    for role, hidden, n, t, r, tl in tokens_by_role(conn, provider):
        block = by_role.setdefault(role, _block(0, 0, 0, 0))
        for key, value in (("messages", n), ("text", t), ("reasoning", r), ("tool", tl)):
            block[key] += value
            by_visibility["hidden" if hidden else "visible"][key] += value
        block["tokens"] = block["text"] + block["reasoning"] + block["tool"]
    for block in by_visibility.values():
        block["tokens"] = block["text"] + block["reasoning"] + block["tool"]
    total = _block(0, 0, 0, 0)
    non_system = _block(0, 0, 0, 0)
    for role, block in by_role.items():
        for key in ("messages", *KINDS, "tokens"):
            total[key] += block[key]
            if role != "system":
                non_system[key] += block[key]
    summary: dict[str, Any] = {
        "headline": {"non_system_tokens": non_system["tokens"]},
        "totals": {"conversations": conversation_count(conn, provider), "messages": total["messages"],
                   "tokens": total["tokens"], "non_system_tokens": non_system["tokens"],
                   "system_tokens": total["tokens"] - non_system["tokens"]},
        "by_role": by_role,
        "by_kind": {k: total[k] for k in KINDS},
        "by_kind_non_system": {k: non_system[k] for k in KINDS},
        "by_visibility": by_visibility,
    }
    if per_conversation:
        summary["per_conversation"] = [{"conversation_id": cid, **_block(n, t, r, tl), "non_system_tokens": ns}
                                       for cid, n, t, r, tl, ns in tokens_by_conversation(conn, provider)]
    return summary


def run_ledger(conn: apsw.Connection, provider: str, run_id: str, encoding_file: str) -> dict[str, Any]:
    """The ledger of a provider-run DB."""
    return {"schema": SCHEMA, "scope": "provider_run", "provider": provider, "run_id": run_id,
            "generated_at": utc_now_iso(),
            "encoding": {"name": ENCODING_NAME, "sha256": ENCODING_SHA256, "file": encoding_file},
            **_summarise(conn, None, per_conversation=True)}


def main_ledger(conn: apsw.Connection, encoding_file: str) -> dict[str, Any]:
    """The ledger of the mash: combined, and per provider (with per-conversation rows)."""
    return {"schema": SCHEMA, "scope": "main", "generated_at": utc_now_iso(),
            "encoding": {"name": ENCODING_NAME, "sha256": ENCODING_SHA256, "file": encoding_file},
            **_summarise(conn, None, per_conversation=False),
            "by_provider": {p: _summarise(conn, p, per_conversation=True) for p in providers(conn)}}


def refresh_main_ledger(ws: Workspace) -> dict[str, Any]:
    """Rewrite ``reports/main/token_ledger.main.json`` from the mash (after every merge, rollback
    and bootstrap)."""
    conn = connect(ws.mash_path, readonly=True)
    try:
        ledger = main_ledger(conn, ws.settings.tiktoken_file or str(default_encoding_file()))
    finally:
        conn.close()
    write_json_atomic(ws.main_ledger_path, ledger)
    return ledger
