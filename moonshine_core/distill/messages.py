"""Canonical message objects (distillation.md section 4.1) built from stored records.

Every message dict carries all six keys (``role``, ``content``,
``reasoning_content``, ``tool_calls``, ``tool_call_id``, ``name``), null when
unused, so Arrow infers one struct type for a whole lane file. Tool-call
``arguments`` are JSON strings (the OpenAI form; TRL users decode them, see
docs/lanes.md) because argument shapes vary from call to call.

The lanes never branch on provider names; they read the documented record
fields: ``hidden`` and ``hidden_reason`` (what the user never saw),
``tool_calls`` / ``tool_results`` (tool traffic, possibly on hidden plumbing
messages), ``reasoning`` and ``reasoning_kind``.

Every message :func:`convert` returns names the stored messages its content
came from (under :data:`~moonshine_core.lane.SOURCES_KEY`); the cuts and merges
below keep those ids with the content, and :func:`~moonshine_core.lane.lane_row`
turns them into the row's ``source_message_ids``, so every lane lists exactly
the stored messages whose content is in its rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from ..ids import canonical_json
from ..lane import SOURCES_KEY
from ..records import Attachment, Message, ToolResult

MESSAGE_KEYS = ("role", "content", "reasoning_content", "tool_calls", "tool_call_id", "name")
REASONING_POLICIES = ("drop", "keep_raw")


def message(role: str, content: str = "", *, reasoning_content: str | None = None,
            tool_calls: list[dict] | None = None, tool_call_id: str | None = None,
            name: str | None = None) -> dict[str, Any]:
    """One canonical message with every key present."""
    return {"role": role, "content": content, "reasoning_content": reasoning_content,
            "tool_calls": tool_calls or None, "tool_call_id": tool_call_id, "name": name}


def tool_call_dict(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """An OpenAI/TRL tool call; ``arguments`` becomes a JSON string of an object.

    Text arguments (code, a query) are wrapped as ``{"input": text}`` so every
    call's arguments decode to an object, which HF chat templates require.
    """
    if isinstance(arguments, dict):
        args = arguments
    elif arguments is None:
        args = {}
    else:
        args = {"input": arguments if isinstance(arguments, str) else canonical_json(arguments)}
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False, sort_keys=True)}}


@attrs.define
class ConversionStats:
    """What a conversion did, for the row's columns."""

    merged_messages: int = 0
    tool_outputs_truncated: int = 0
    reasoning_dropped: int = 0
    reasoning_kept: int = 0
    reasoning_kinds: set[str] = attrs.field(factory=set)
    tool_traffic_dropped: int = 0
    hidden_dropped: int = 0
    models: list[str] = attrs.field(factory=list)
    failed_calls: set[str] = attrs.field(factory=set)
    #: Tool results left out because no call in the conversion answers to them (no invented ids).
    unpaired_results: int = 0
    #: Further results of a call that already had one, joined into that call's tool message.
    joined_results: int = 0
    #: User turns that are only an upload, written as an upload note (:func:`upload_note`).
    uploads_noted: int = 0
    #: Messages cut before the first user turn (an assistant's greeting, tool traffic).
    leading_turns_cut: int = 0
    #: System messages after the first user turn, left out (strict templates take one system message, first).
    late_system_dropped: int = 0

    def reasoning_kind(self) -> str:
        """``raw`` when raw reasoning was kept, else the kind that was present (and dropped), else ``none``."""
        if self.reasoning_kept:
            return "raw"
        if "raw" in self.reasoning_kinds:
            return "raw_dropped"
        if "summary" in self.reasoning_kinds:
            return "summary_dropped"
        return "none"


_FAIL_STATUS = ("error", "fail", "exception", "timeout", "timed_out", "killed", "cancel")
_OK_STATUS = ("success", "ok", "succeeded", "completed", "done")


def result_failed(result: ToolResult) -> bool | None:
    """True / False when the record says how the tool run ended, ``None`` when it does not.

    ``is_error`` wins; otherwise a ``status`` such as ``failed_with_in_kernel_exception`` or ``success``.
    """
    if result.is_error is not None:
        return bool(result.is_error)
    status = (result.status or "").lower()
    if any(word in status for word in _FAIL_STATUS):
        return True
    if any(word in status for word in _OK_STATUS):
        return False
    return None


def is_text_answer(m: Message) -> bool:
    """An assistant message the user saw with some text in it (what a training row can hold)."""
    return m.role == "assistant" and not m.hidden and bool(m.text.strip())


def is_tool_traffic(m: Message) -> bool:
    return bool(m.tool_calls or m.tool_results)


def upload_note(attachments: Sequence[Attachment]) -> str:
    """What a user turn holding only uploads says in a row: ``[uploaded: report.pdf (application/pdf)]``.

    One entry per attachment, comma-separated: its file name (else its kind, ``image``, ``file``),
    with the MIME type in parentheses when the export gives one. The file's bytes, pointer and
    extracted text are never copied.
    """
    parts = []
    for a in attachments:
        label = " ".join((a.name or "").split()) or a.kind or "file"
        parts.append(f"{label} ({a.mime_type})" if a.mime_type else label)
    return f"[uploaded: {', '.join(parts)}]"


def turn_text(m: Message) -> str:
    """The text a message gives a row: its own, or for a user turn that is only an upload, the upload note."""
    if m.role == "user" and not m.text.strip() and m.attachments:
        return upload_note(m.attachments)
    return m.text


def truncate_output(text: str, limit: int) -> tuple[str, bool]:
    """Head and tail of a long tool output with the number of characters cut in between."""
    if limit <= 0 or len(text) <= limit:
        return text, False
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    return f"{text[:head]}\n[... {cut} characters truncated ...]\n{text[-tail:] if tail else ''}", True


def convert(records: Sequence[Message], *, reasoning_policy: str, include_tools: bool,
            max_tool_output_chars: int, stats: ConversionStats | None = None,
            call_ids: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Canonical messages for a run of stored messages (one branch, root first).

    - Hidden messages are dropped, except tool traffic when ``include_tools``
      (tool calls and results are often plumbing the user did not see, yet
      they are the trajectory).
    - Without ``include_tools`` tool calls and results are dropped and counted.
    - Reasoning follows ``reasoning_policy``: ``drop`` removes it; ``keep_raw``
      keeps raw chains of thought as ``reasoning_content`` and never summaries.
    - A user turn with no text but uploads says what was uploaded (:func:`upload_note`).
    - A message holding both calls and results (one stored message for a whole
      tool round-trip) becomes assistant(tool_calls), tool..., assistant(text).
    - Tool messages always answer a real call (``pair_problem`` checks it): a result
      with a ``call_id`` goes to that call; without one, to the oldest call of
      the same turn still waiting for a result. Further results of a call that
      was answered just before are joined into its tool message (one tool
      message per call). A result no call of the conversion answers to is left
      out and counted (``stats.unpaired_results``), never given an invented id.
      Call ids are numbered ``call_1``, ``call_2``, ... in order of appearance.

    Each message names the stored messages its content came from (``SOURCES_KEY``).
    """
    if reasoning_policy not in REASONING_POLICIES:
        raise ValueError(f"reasoning_policy must be one of {', '.join(REASONING_POLICIES)}, not {reasoning_policy!r}")
    stats = stats if stats is not None else ConversionStats()
    call_ids = call_ids if call_ids is not None else {}
    out: list[dict[str, Any]] = []
    open_calls: list[tuple[str, str]] = []  # (call id, tool name) awaiting a result

    def reasoning_of(m: Message) -> str | None:
        if not m.reasoning:
            return None
        stats.reasoning_kinds.add(m.reasoning_kind or "summary")
        if reasoning_policy == "keep_raw" and m.reasoning_kind == "raw":
            stats.reasoning_kept += 1
            return m.reasoning
        stats.reasoning_dropped += 1
        return None

    answered: set[str] = set()

    def add_result(source: str, stored_id: str | None, content: str, cut: bool, failed: bool | None,
                   name: str | None) -> None:
        """One tool output, sent to the call it answers (or left out and counted when there is none)."""
        if stored_id is not None:
            cid = call_ids.get(stored_id)
            match = next((c for c in open_calls if c[0] == cid), None) if cid else None
        else:
            match = open_calls[0] if open_calls else None
            cid = match[0] if match else None
        if cid is None:
            stats.unpaired_results += 1
            return
        if match is not None:
            open_calls.remove(match)
        elif cid in answered:
            last = out[-1] if out else None
            if last is None or last.get("role") != "tool" or last.get("tool_call_id") != cid:
                stats.unpaired_results += 1   # a late second answer to a call: no honest place for it
                return
            last["content"] = "\n\n".join(c for c in (last["content"], content) if c)
            last[SOURCES_KEY] = _union(last[SOURCES_KEY], [source])
            stats.joined_results += 1
            stats.tool_outputs_truncated += int(cut)
            if failed:
                stats.failed_calls.add(cid)
            return
        answered.add(cid)
        stats.tool_outputs_truncated += int(cut)
        if failed:
            stats.failed_calls.add(cid)
        out.append(_sourced(message("tool", content, tool_call_id=cid,
                                    name=name or (match[1] if match else None) or "tool"), source))

    for m in records:
        traffic = is_tool_traffic(m)
        if m.hidden and not (include_tools and traffic):
            if m.reasoning and not m.text.strip():
                reasoning = reasoning_of(m)   # a reasoning-only node: attach to the next answer
                if reasoning:
                    out.append({"_pending_reasoning": reasoning, SOURCES_KEY: [m.message_id]})
            else:
                stats.hidden_dropped += 1
            continue
        if m.role == "assistant" and m.model and m.model not in stats.models:
            stats.models.append(m.model)
        if traffic and not include_tools:
            stats.tool_traffic_dropped += len(m.tool_calls) + len(m.tool_results)
        reasoning = reasoning_of(m) if m.role == "assistant" else None
        text_used = False
        if include_tools and m.tool_calls:
            calls = []
            for seq, call in enumerate(m.tool_calls):
                cid = call.call_id or f"call_{m.message_id}_{seq}"
                cid = call_ids.setdefault(cid, f"call_{len(call_ids) + 1}")
                calls.append(tool_call_dict(cid, call.name, call.arguments))
                open_calls.append((cid, call.name))
            # Text said alongside the calls ("Let me run the tests.") belongs to the calling message,
            # unless the same stored message also holds the results: then it is the answer after them.
            content = m.text if m.role == "assistant" and not m.tool_results else ""
            text_used = bool(content)
            out.append(_sourced(message("assistant", content, reasoning_content=reasoning, tool_calls=calls),
                                m.message_id))
            reasoning = None
        if include_tools and m.tool_results:
            for result in m.tool_results:
                content, cut = truncate_output(result.content or "", max_tool_output_chars)
                add_result(m.message_id, result.call_id, content, cut, result_failed(result), result.name)
        text = turn_text(m) if m.role != "tool" and not text_used else ""
        if m.role == "user" and text and not m.text.strip():
            stats.uploads_noted += 1
        if m.role == "tool" and not m.tool_results and m.text.strip() and include_tools:
            # A tool message with only text (no structured result) is still the tool's output.
            content, cut = truncate_output(m.text, max_tool_output_chars)
            add_result(m.message_id, None, content, cut, None, m.author_name)
            continue
        if m.role in ("user", "assistant", "system") and (text.strip() or reasoning):
            out.append(_sourced(message(m.role, text, reasoning_content=reasoning), m.message_id))
            if m.role == "user":
                open_calls.clear()   # a new turn: results without an id never reach back past it
    return _attach_pending_reasoning(out)


def _sourced(m: dict[str, Any], source: str) -> dict[str, Any]:
    m[SOURCES_KEY] = [source]
    return m


def _union(*lists: Sequence[str] | None) -> list[str]:
    return list(dict.fromkeys(i for ids in lists for i in ids or ()))


def _attach_pending_reasoning(items: list[dict]) -> list[dict[str, Any]]:
    """Reasoning stored on its own node goes onto the next assistant message (else it is dropped)."""
    out: list[dict[str, Any]] = []
    pending: list[dict] = []
    for item in items:
        if "_pending_reasoning" in item:
            pending.append(item)
            continue
        if pending and item["role"] == "assistant":
            texts = [p["_pending_reasoning"] for p in pending]
            joined = "\n\n".join(texts + ([item["reasoning_content"]] if item["reasoning_content"] else []))
            item = {**item, "reasoning_content": joined,
                    SOURCES_KEY: _union(*(p[SOURCES_KEY] for p in pending), item.get(SOURCES_KEY))}
            pending = []
        elif item["role"] == "user":
            pending = []
        out.append(item)
    return out


def _mergeable(prev: dict[str, Any], m: dict[str, Any], answered: set[str]) -> bool:
    if prev["role"] != m["role"] or m["role"] not in ("user", "assistant", "system"):
        return False
    if m["role"] != "assistant" or not prev["tool_calls"]:
        return True   # an assistant's text just before its calls is the calling message's preamble
    # Calls answered only after the next calling message are one parallel call with it (how some
    # exports store one); a call that was never answered and then retried stays a step of its own.
    return bool(m["tool_calls"]) and any(c["id"] in answered for c in prev["tool_calls"])


def merge_same_role(messages: list[dict[str, Any]], stats: ConversionStats | None = None) -> list[dict[str, Any]]:
    """Merge consecutive user (or assistant, or system) messages into one.

    SFT templates need alternating roles and LLaMA-Factory skips rows that do
    not alternate (distillation.md 1.8). Tool messages are never merged. An
    assistant text followed by an assistant message with tool calls becomes
    that message's text; an assistant message with calls answered only after
    the next message's calls takes those calls too (one parallel call). The
    merged message keeps the stored ids of both (a merged pair lists both).
    """
    answered = {m.get("tool_call_id") for m in messages if m["role"] == "tool"}
    out: list[dict[str, Any]] = []
    for m in messages:
        prev = out[-1] if out else None
        if prev is not None and _mergeable(prev, m, answered):
            reasoning = "\n\n".join(r for r in (prev["reasoning_content"], m["reasoning_content"]) if r) or None
            merged = {**prev, "content": "\n\n".join(c for c in (prev["content"], m["content"]) if c),
                      "reasoning_content": reasoning,
                      "tool_calls": (prev["tool_calls"] or []) + (m["tool_calls"] or []) or None}
            if SOURCES_KEY in prev or SOURCES_KEY in m:
                merged[SOURCES_KEY] = _union(prev.get(SOURCES_KEY), m.get(SOURCES_KEY))
            out[-1] = merged
            if stats is not None:
                stats.merged_messages += 1
        else:
            out.append(dict(m))
    return out


def drop_unpaired(messages: list[dict[str, Any]], stats: ConversionStats) -> list[dict[str, Any]]:
    """The messages without tool messages that are not right after the call they answer.

    A tool message must answer a call of the assistant message(s) just before it (consecutive
    calling messages count as one step, how some exports store parallel calls), once. One whose
    call was cut with the opening turns, lies behind a user turn or an assistant's text, or was
    already answered is left out and counted in ``stats.unpaired_results``. A call nothing
    answers stays (the user may have stopped it).
    """
    waiting: set[str] = set()   # calls of the current step not answered yet
    out = []
    for m in messages:
        if m["role"] == "tool":
            if m["tool_call_id"] not in waiting:
                stats.unpaired_results += 1
                continue
            waiting.discard(m["tool_call_id"])
        elif m["role"] == "assistant" and m["tool_calls"]:
            prev = out[-1] if out else None
            same_step = prev is not None and prev["role"] == "assistant" and prev["tool_calls"]
            waiting = (waiting if same_step else set()) | {c["id"] for c in m["tool_calls"]}
        else:
            waiting = set()
        out.append(m)
    return out


def open_on_user(messages: list[dict[str, Any]], stats: ConversionStats) -> list[dict[str, Any]]:
    """The messages from the first user turn on, after the system messages that open them.

    Strict chat templates take an optional system message, then a user turn. Anything else before
    the first user message (an assistant's greeting, tool traffic) is cut and counted in
    ``stats.leading_turns_cut``; a system message after it is left out and counted in
    ``stats.late_system_dropped``. No user turn at all gives nothing.
    """
    first = next((i for i, m in enumerate(messages) if m["role"] == "user"), None)
    if first is None:
        stats.leading_turns_cut += sum(1 for m in messages if m["role"] != "system")
        return []
    head = [m for m in messages[:first] if m["role"] == "system"]
    stats.leading_turns_cut += first - len(head)
    body = [m for m in messages[first:] if m["role"] != "system"]
    stats.late_system_dropped += len(messages) - first - len(body)
    return head + body


def settle_turns(messages: list[dict[str, Any]], stats: ConversionStats, *,
                 opening: bool = True) -> list[dict[str, Any]]:
    """Converted messages in the order strict chat templates accept (:func:`role_order_problem`).

    With ``opening`` (a prompt or a whole conversation) the list starts at the first user turn
    (:func:`open_on_user`); without it (an answer that follows a prompt) only the next two steps
    apply: tool messages without their call left out (:func:`drop_unpaired`) and same-role
    messages merged (:func:`merge_same_role`).
    """
    if opening:
        messages = open_on_user(messages, stats)
    return merge_same_role(drop_unpaired(messages, stats), stats)


def role_order_problem(messages: Sequence[dict[str, Any]]) -> str | None:
    """``None`` when ``messages`` are in the order strict chat templates accept, else a short reason.

    An optional system message, then user and assistant turns alternating from a user turn. A user
    turn is one user message; an assistant turn is one assistant message, or several when each but
    the last makes tool calls, with the tool messages answering a call right after the message that
    made it (each call answered at most once). Where the list ends is each lane's own rule.
    """
    body = list(messages[1:] if messages and messages[0].get("role") == "system" else messages)
    if not body:
        return None
    if body[0].get("role") != "user":
        return "first_turn_not_user"
    waiting: set[str] = set()   # calls of the last calling message not answered yet
    prev: dict[str, Any] | None = None
    for m in body:
        role = m.get("role")
        if role == "system":
            return "system_after_first_turn"
        if role == "tool":
            if prev is None or prev.get("role") not in ("assistant", "tool") or m.get("tool_call_id") not in waiting:
                return "tool_not_after_its_call"
            waiting.discard(m["tool_call_id"])
        else:
            if prev is not None and prev.get("role") == role and not (role == "assistant" and prev.get("tool_calls")):
                return f"consecutive_{role}_turns"
            waiting = {c["id"] for c in m.get("tool_calls") or []} if role == "assistant" else set()
        prev = m
    return None


def pair_problem(messages: Sequence[dict[str, Any]]) -> str | None:
    """``None`` when every tool message answers a call made earlier in ``messages`` (once per call),
    else a short reason: the pairing rule every lane row with tool traffic keeps."""
    calls: set[str] = set()
    answered: set[str] = set()
    for m in messages:
        if m.get("role") == "assistant":
            calls.update(c["id"] for c in m.get("tool_calls") or [])
        elif m.get("role") == "tool":
            cid = m.get("tool_call_id")
            if cid not in calls:
                return "tool_message_without_earlier_call"
            if cid in answered:
                return "call_answered_twice"
            answered.add(cid)
    return None
