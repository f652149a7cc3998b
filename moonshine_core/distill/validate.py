"""The message rules TRL puts on every lane's rows (distillation.md 1.1 and 1.8).

Each lane's ``validate`` (see :class:`moonshine_core.lane.Lane`) builds on
these and returns a short reason when a row breaks a rule (the pipeline counts
it under ``left_out`` as ``invalid_row:<reason>``) or ``None``. The same
checks back the tests, so what is written is what TRL accepts.
"""

from __future__ import annotations

from typing import Any

from .messages import MESSAGE_KEYS

ROLES = ("system", "user", "assistant", "tool")


def messages_problem(messages: Any) -> str | None:
    """The first rule a message list breaks (every key present, known roles, text content, tool pairing)."""
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


def alternates(messages: list[dict]) -> bool:
    """System first (optional), then user/assistant strictly alternating from user, ending on assistant."""
    body = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if not body or body[-1]["role"] != "assistant":
        return False
    return all(m["role"] == ("user" if i % 2 == 0 else "assistant") for i, m in enumerate(body))


