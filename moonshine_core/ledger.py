"""Token ledgers: exact o200k_base counts summed from a database.

A ledger is always computed from the per-message counts stored in a DB, so its
totals equal the DB's sums by construction; ``docs/ledger.md`` documents its
JSON schema. The headline is non-system tokens (every role but ``system``).
"""

from __future__ import annotations

from typing import Any

import apsw

from .records import Message
from .store.rows import tool_text
from .timeutil import utc_now_iso
from .tokens import ENCODING_NAME, ENCODING_SHA256

SCHEMA = "moonshine.token_ledger/1"
KINDS = ("text", "reasoning", "tool")


def message_texts(message: Message) -> tuple[str, str, str]:
    """The three texts counted for a message: visible text, reasoning, tool traffic."""
    return message.text or "", message.reasoning or "", tool_text(message)


def _block(messages: int, text: int, reasoning: int, tool: int) -> dict[str, int]:
    return {"messages": messages, "text": text, "reasoning": reasoning, "tool": tool,
            "tokens": text + reasoning + tool}


def _summarise(conn: apsw.Connection, where: str, params: tuple, per_conversation: bool) -> dict[str, Any]:
    by_role: dict[str, dict[str, int]] = {}
    by_visibility = {"visible": _block(0, 0, 0, 0), "hidden": _block(0, 0, 0, 0)}
    for role, hidden, n, t, r, tl in conn.execute(
            f"SELECT role, hidden, count(*), total(tokens_text), total(tokens_reasoning), total(tokens_tool) "
            f"FROM messages {where} GROUP BY role, hidden ORDER BY role, hidden", params):
        block = by_role.setdefault(role, _block(0, 0, 0, 0))
        for key, value in (("messages", n), ("text", t), ("reasoning", r), ("tool", tl)):
            block[key] += int(value)
            by_visibility["hidden" if hidden else "visible"][key] += int(value)
        block["tokens"] = block["text"] + block["reasoning"] + block["tool"]
    for block in by_visibility.values():
        block["tokens"] = block["text"] + block["reasoning"] + block["tool"]
    total = _block(0, 0, 0, 0)
    non_system = _block(0, 0, 0, 0)
    for role, block in by_role.items():
        for key in ("messages", "text", "reasoning", "tool", "tokens"):
            total[key] += block[key]
            if role != "system":
                non_system[key] += block[key]
    conversations = conn.execute(f"SELECT count(*) FROM conversations {where}", params).get
    summary: dict[str, Any] = {
        "headline": {"non_system_tokens": non_system["tokens"]},
        "totals": {"conversations": conversations, "messages": total["messages"], "tokens": total["tokens"],
                   "non_system_tokens": non_system["tokens"],
                   "system_tokens": total["tokens"] - non_system["tokens"]},
        "by_role": by_role,
        "by_kind": {k: total[k] for k in KINDS},
        "by_kind_non_system": {k: non_system[k] for k in KINDS},
        "by_visibility": by_visibility,
    }
    if per_conversation:
        rows = []
        for cid, n, t, r, tl, ns in conn.execute(
                f"SELECT conversation_id, count(*), total(tokens_text), total(tokens_reasoning), total(tokens_tool), "
                f"total(CASE WHEN role != 'system' THEN tokens_text + tokens_reasoning + tokens_tool ELSE 0 END) "
                f"FROM messages {where} GROUP BY conversation_uid ORDER BY conversation_id", params):
            block = _block(n, int(t), int(r), int(tl))
            rows.append({"conversation_id": cid, **block, "non_system_tokens": int(ns)})
        summary["per_conversation"] = rows
    return summary


def run_ledger(conn: apsw.Connection, provider: str, run_id: str, encoding_file: str) -> dict[str, Any]:
    """The ledger of a provider-run DB."""
    return {"schema": SCHEMA, "scope": "provider_run", "provider": provider, "run_id": run_id,
            "generated_at": utc_now_iso(),
            "encoding": {"name": ENCODING_NAME, "sha256": ENCODING_SHA256, "file": encoding_file},
            **_summarise(conn, "", (), per_conversation=True)}


def main_ledger(conn: apsw.Connection, encoding_file: str) -> dict[str, Any]:
    """The ledger of the mash: combined, and per provider (with per-conversation rows)."""
    providers = [r[0] for r in conn.execute("SELECT DISTINCT provider FROM conversations ORDER BY provider")]
    return {"schema": SCHEMA, "scope": "main", "generated_at": utc_now_iso(),
            "encoding": {"name": ENCODING_NAME, "sha256": ENCODING_SHA256, "file": encoding_file},
            **_summarise(conn, "", (), per_conversation=False),
            "by_provider": {p: _summarise(conn, "WHERE provider = ?", (p,), per_conversation=True)
                            for p in providers}}
