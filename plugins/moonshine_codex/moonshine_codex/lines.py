"""One rollout line, whatever CLI era wrote it, as ``(kind, payload, timestamp)``.

Three shapes reach us (docs/formats/codex.md §2):

- the envelope (Sept 2025 on): ``{"timestamp", "type": <kind>, "payload": {...}}``;
- the bare lines of 2025 (docs/formats/codex.md §2.2): a first line
  ``{"id", "timestamp", "instructions", "git"}`` without a type, response items
  written as they are (``{"type": "message", ...}``), and ``{"record_type":
  "state"}`` markers;
- the TypeScript CLI's single JSON file ``{"session": {...}, "items": [...]}``,
  whose items are bare response items.

The tables here say which response items are messages, which are the
assistant's side of a step, and which events end a step; the normaliser and
the independent raw count both read them (docs/formats/codex.md §6).
"""

from __future__ import annotations

from typing import Any

from moonshine_core.provider import as_dict, as_str

#: Envelope kinds (``RolloutItem`` variants) this plugin knows.
ENVELOPE_KINDS = frozenset({
    "session_meta", "response_item", "event_msg", "turn_context", "compacted", "world_state",
    "inter_agent_communication", "inter_agent_communication_metadata",
})
#: Response item types that are the assistant acting (folded into one assistant message per step).
CALL_TYPES = frozenset({
    "function_call", "custom_tool_call", "local_shell_call", "web_search_call", "tool_search_call",
    "image_generation_call",
})
#: Response item types that carry a tool's answer (one tool message each).
OUTPUT_TYPES = frozenset({"function_call_output", "custom_tool_call_output", "tool_search_call_output"})
#: Response item types that are harness bookkeeping, not messages.
PLUMBING_TYPES = frozenset({"ghost_snapshot", "compaction", "compaction_summary", "context_compaction", "other"})
KNOWN_ITEM_TYPES = CALL_TYPES | OUTPUT_TYPES | PLUMBING_TYPES | {"message", "reasoning"}
#: Events that start or end a turn: an assistant step never spans one.
BOUNDARY_EVENTS = frozenset({
    "task_started", "task_complete", "turn_started", "turn_complete", "turn_aborted", "user_message",
    "thread_rolled_back", "entered_review_mode", "exited_review_mode",
})
#: Events we read or knowingly skip (others are reported as unknown shapes).
KNOWN_EVENTS = BOUNDARY_EVENTS | frozenset({
    "token_count", "agent_message", "agent_reasoning", "agent_reasoning_raw_content", "agent_reasoning_section_break",
    "context_compacted", "undo_completed", "undo_started", "exec_command_begin", "exec_command_end",
    "patch_apply_begin", "patch_apply_end", "mcp_tool_call_begin", "mcp_tool_call_end", "web_search_begin",
    "web_search_end", "image_generation_end", "error", "warning", "stream_error", "background_event",
    "item_started", "item_completed", "plan_update", "turn_diff", "view_image_tool_call", "sub_agent_activity",
    "thread_goal_updated", "thread_settings_applied", "thread_name_updated", "deprecation_notice",
})


def item_class(payload: dict) -> str:
    """``assistant`` (a step of the assistant), ``output`` (a tool answer), ``message`` (another
    role's message) or ``plumbing`` (no message) for one response item."""
    kind = as_str(payload.get("type")) or ""
    if kind == "reasoning" or kind in CALL_TYPES:
        return "assistant"
    if kind == "message":
        return "assistant" if payload.get("role") == "assistant" else "message"
    if kind in OUTPUT_TYPES:
        return "output"
    if kind in PLUMBING_TYPES:
        return "plumbing"
    if kind.endswith("_call_output") or kind.endswith("_output"):
        return "output"
    if kind.endswith("_call"):
        return "assistant"
    return "plumbing"


def unify(record: Any) -> tuple[str, dict, Any]:
    """``(kind, payload, timestamp)`` of one line as read; ``kind`` is an envelope kind, ``state``,
    ``invalid`` (not an object) or ``unknown``."""
    if not isinstance(record, dict):
        return "invalid", {}, None
    kind = record.get("type")
    if isinstance(kind, str) and "payload" in record:
        return kind, as_dict(record.get("payload")), record.get("timestamp")
    if "record_type" in record and "type" not in record:
        return "state", record, record.get("timestamp")
    if isinstance(kind, str) and kind:
        return "response_item", record, record.get("timestamp")
    if "type" not in record and ("id" in record or "session_id" in record) and (
            "timestamp" in record or "instructions" in record or "git" in record):
        return "session_meta", record, record.get("timestamp")
    return "unknown", record, record.get("timestamp")


def session_id_of(payload: dict) -> Any:
    """The id a ``session_meta`` payload names (``id``, else ``session_id``)."""
    value = payload.get("id")
    return value if value is not None else payload.get("session_id")
