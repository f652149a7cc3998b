"""TRL format rules each lane's rows must pass before they are written (distillation.md 1.1 and 1.8).

:func:`validate_row` returns a short reason when a row breaks a rule (the
pipeline counts it under ``left_out`` as ``invalid_row:<reason>``) or ``None``.
The same checks back the tests, so what is written is what TRL accepts.
"""

from __future__ import annotations

from typing import Any

from .grpo import RESERVED
from .messages import MESSAGE_KEYS

ROLES = ("system", "user", "assistant", "tool")


def _messages_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "empty_messages"
    for m in messages:
        if not isinstance(m, dict) or set(m) != set(MESSAGE_KEYS):
            return "message_keys"
        if m["role"] not in ROLES:
            return f"role_{m['role']}"
        if not isinstance(m["content"], str):
            return "content_not_string"
        if m["role"] == "tool" and not m["tool_call_id"]:
            return "tool_without_call_id"
        if m["tool_calls"] and m["role"] != "assistant":
            return "tool_calls_not_on_assistant"
    return None


def _alternates(messages: list[dict]) -> bool:
    """System first (optional), then user/assistant strictly alternating from user, ending on assistant."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body or body[-1]["role"] != "assistant":
        return False
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(body))


def validate_row(lane: str, row: dict[str, Any]) -> str | None:
    """``None`` when ``row`` follows its lane's TRL shape, else the first rule it breaks."""
    if lane == "dpo":
        for col in ("prompt", "chosen", "rejected"):
            problem = _messages_problem(row.get(col))
            if problem:
                return f"{col}_{problem}"
        if row["prompt"][-1]["role"] not in ("user", "tool"):
            return "prompt_must_end_on_user_or_tool"
        for col in ("chosen", "rejected"):
            if row[col][0]["role"] != "assistant" or row[col][-1]["role"] != "assistant":
                return f"{col}_must_be_assistant_turn"
        if row["chosen"] == row["rejected"]:
            return "chosen_equals_rejected"
    elif lane == "grpo":
        problem = _messages_problem(row.get("prompt"))
        if problem:
            return f"prompt_{problem}"
        if row["prompt"][-1]["role"] != "user":
            return "prompt_must_end_on_user"
        clash = sorted(RESERVED & set(row))
        if clash:
            return f"reserved_column_{clash[0]}"
        if not (row.get("solution") or row.get("verification_info")):
            return "no_checkable_signal"
    elif lane == "conversational":
        problem = _messages_problem(row.get("messages"))
        if problem:
            return problem
        if any(m["tool_calls"] or m["role"] == "tool" for m in row["messages"]):
            return "tool_traffic_in_conversational"
        if not _alternates(row["messages"]):
            return "roles_do_not_alternate"
    elif lane == "agentic_code":
        problem = _messages_problem(row.get("messages"))
        if problem:
            return problem
        msgs = row["messages"]
        if msgs[0]["role"] not in ("system", "user") or msgs[-1]["role"] != "assistant":
            return "must_start_user_end_assistant"
        if not any(m["tool_calls"] for m in msgs):
            return "no_tool_calls"
        if not isinstance(row.get("tools"), str):
            return "tools_not_json_string"
    return None
