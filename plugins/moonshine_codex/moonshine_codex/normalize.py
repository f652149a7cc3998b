"""``moonshine_normalize`` for Codex: one rollout file → one Conversation.

Which records become messages (docs/providers/codex.md, "Messages"):

- the first ``session_meta``'s instructions → one hidden ``system`` message;
- each ``response_item`` message of a user / developer / system → one message
  (injected context and developer text hidden);
- each run of the assistant's items with nothing else between them
  (reasoning, assistant text, tool calls: one model response, parallel calls
  included) → one ``assistant`` message;
- each tool output item → one ``tool`` message with its ``ToolResult``;
- each ``compacted`` record → one hidden message holding the summary.

``event_msg`` records never become messages: ``user_message``,
``agent_message`` and ``agent_reasoning`` repeat response items. Events are
read for what the items lack: token usage, aborted turns, rollbacks, exit
codes of commands. :func:`count_raw_messages` counts the same rule straight
from the raw lines, independently of the messages built here.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import (as_dict, as_id, as_int, as_list, as_str, as_text, latest_time,
                                     regeneration_comparisons)
from moonshine_core.records import Conversation, Message, RawRecord, Record
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, repair_tree

from .content import context_reason, image_attachment, part_text, part_type, strip_inline_data, unknown_wrapper
from .content import IMAGE_PARTS
from .layout import conversation_key
from .lines import BOUNDARY_EVENTS, ENVELOPE_KINDS, KNOWN_EVENTS, KNOWN_ITEM_TYPES, item_class, session_id_of, unify
from .tools import call_names, outcome_events, tool_call, tool_result

_OUTCOME_EVENTS = ("exec_command_end", "patch_apply_end", "mcp_tool_call_end")
_ERRORS_KEPT = 20
_META_KEYS = ("cwd", "originator", "cli_version", "source", "model_provider", "forked_from_id", "parent_thread_id",
              "agent_nickname", "agent_role", "agent_path", "history_mode", "thread_source", "memory_mode")


def read_lines(raw: RawRecord) -> list[tuple[int, str, dict, Any, Any]]:
    """``(line number, kind, payload, timestamp, record)`` for every record of the raw file."""
    data = raw.data
    if isinstance(data, dict) and "unreadable" in data:
        raise NormalizeError(f"rollout file cannot be read: {data['unreadable']}")
    if isinstance(data, dict):   # the TypeScript CLI's {"session": {...}, "items": [...]}
        session = data.get("session")
        lines: list[tuple[int, str, dict, Any, Any]] = []
        if isinstance(session, dict):
            lines.append((0, "session_meta", session, session.get("timestamp"), session))
        items = data.get("items")
        if not isinstance(items, list):
            raise NormalizeError("TypeScript CLI rollout has no 'items' list")
        for n, item in enumerate(items, start=1):
            if isinstance(item, dict):
                lines.append((n, "response_item", item, item.get("timestamp"), item))
            else:
                lines.append((n, "invalid", {}, None, item))
        return lines
    if not isinstance(data, list):
        raise NormalizeError(f"rollout is a {type(data).__name__}, not a list of lines")
    numbers = as_list(as_dict(raw.context).get("line_numbers"))
    out = []
    for index, record in enumerate(data):
        number = as_int(numbers[index]) if index < len(numbers) else None
        kind, payload, ts = unify(record)
        out.append((number if number is not None else index + 1, kind, payload, ts, record))
    return out


def _instructions(payload: dict) -> tuple[str | None, str]:
    base = payload.get("base_instructions")
    text = as_str(base.get("text")) if isinstance(base, dict) else as_str(base)
    if text:
        return text, "codex:base_instructions"
    text = as_str(payload.get("instructions"))
    return (text, "codex:session_instructions") if text else (None, "")


def count_raw_messages(lines: list[tuple[int, str, dict, Any, Any]]) -> int:
    """How many messages the rule in the module docstring makes, counted from the raw lines alone."""
    count = 0
    in_step = False
    seen_meta = False
    for _, kind, payload, _, _ in lines:
        if kind == "session_meta":
            if not seen_meta and _instructions(payload)[0]:
                count += 1
            seen_meta = True
        elif kind == "response_item":
            cls = item_class(payload)
            if cls == "assistant":
                count += 0 if in_step else 1
                in_step = True
            elif cls in ("message", "output"):
                count += 1
                in_step = False
        elif kind == "compacted":
            count += 1
            in_step = False
        elif kind == "turn_context" or (kind == "event_msg" and as_str(payload.get("type")) in BOUNDARY_EVENTS):
            in_step = False
    return count


class _Step:
    """An assistant step being folded: its texts and reasoning until it closes."""

    def __init__(self, message: Message):
        self.message = message
        self.texts: list[str] = []
        self.summaries: list[str] = []
        self.raw_reasoning: list[str] = []
        self.encrypted = 0
        self.kinds: list[str] = []
        self.records: list[Any] = []


class _Builder:
    def __init__(self, lines: list, context: dict):
        self.lines = lines
        self.context = context
        self.messages: list[Message] = []
        self.by_id: dict[str, Message] = {}
        self.tip: str | None = None
        self.step: _Step | None = None
        self.last_assistant: Message | None = None
        self.turn_starts: list[str] = []
        self.model: str | None = None
        self.turn_id: str | None = None
        self.unknown: Counter[str] = Counter()
        self.kinds: Counter[str] = Counter()
        self.events: Counter[str] = Counter()
        self.non_message: list[Any] = []
        self.meta: dict | None = None
        self.meta_line: int | None = None
        self.other_sessions: list[str] = []
        self.repeated_meta = 0
        self.models: Counter[str] = Counter()
        self.errors: list[str] = []
        self.aborted: list[dict[str, Any]] = []
        self.rollbacks: list[dict[str, Any]] = []
        self.compactions = 0
        self.total_usage: Any = None
        items = [p for _, k, p, _, _ in lines if k == "response_item"]
        self.names = call_names([p for p in items if item_class(p) == "assistant" and p.get("type") != "message"
                                 and p.get("type") != "reasoning"])
        self.outcomes = outcome_events([(p.get("type"), p) for _, k, p, _, _ in lines
                                        if k == "event_msg" and as_str(p.get("type")) in _OUTCOME_EVENTS])

    # -- tree ------------------------------------------------------------------------------------
    def add(self, message: Message) -> Message:
        message.parent_id = self.tip
        self.messages.append(message)
        self.by_id[message.message_id] = message
        self.tip = message.message_id
        return message

    def close_step(self) -> None:
        step, self.step = self.step, None
        if step is None:
            return
        m = step.message
        m.text = "\n\n".join(t for t in step.texts if t.strip()).strip()
        if step.raw_reasoning:
            m.reasoning, m.reasoning_kind = "\n\n".join(step.raw_reasoning), "raw"
            if step.summaries:
                m.metadata["reasoning_summary"] = "\n\n".join(step.summaries)
        elif step.summaries:
            m.reasoning, m.reasoning_kind = "\n\n".join(step.summaries), "summary"
        if step.encrypted:
            m.metadata["encrypted_reasoning_items"] = step.encrypted   # kept in raw only, never decoded
        m.content_kind = "step:" + ",".join(dict.fromkeys(step.kinds))
        m.raw = step.records[0] if len(step.records) == 1 else step.records

    def rollback(self, turns: int, line: int) -> None:
        if turns <= 0 or not self.turn_starts:
            self.rollbacks.append({"line": line, "turns": turns, "applied": False})
            return
        k = min(turns, len(self.turn_starts))
        target = self.by_id[self.turn_starts[-k]]
        node = self.tip
        while node is not None:
            self.by_id[node].metadata["rolled_back"] = True
            if node == target.message_id:
                break
            node = self.by_id[node].parent_id
        self.turn_starts = self.turn_starts[:-k]
        self.tip = target.parent_id
        self.rollbacks.append({"line": line, "turns": turns, "applied": k, "branch_from": target.message_id})

    # -- records ----------------------------------------------------------------------------------
    def run(self) -> None:
        for number, kind, payload, ts, record in self.lines:
            self.kinds[kind] += 1
            when = to_epoch(ts)
            if kind == "response_item":
                self.response_item(number, payload, when, record)
            elif kind == "event_msg":
                self.event(number, payload, record)
            elif kind == "session_meta":
                self.session_meta(number, payload, when, record)
            elif kind == "turn_context":
                self.close_step()
                self.model = as_str(payload.get("model")) or self.model
                self.turn_id = as_id(payload.get("turn_id")) or self.turn_id
                self.non_message.append(record)
            elif kind == "compacted":
                self.close_step()
                self.compactions += 1
                replaced = payload.get("replacement_history")
                message = Message(message_id=f"L{number}", role="user", text=as_text(payload.get("message")) or "",
                                  hidden=True, hidden_reason="codex:compaction_summary", content_kind="compacted",
                                  created_at=when, raw=strip_inline_data(record))
                if isinstance(replaced, list):
                    message.metadata["replacement_history_items"] = len(replaced)
                self.add(message)
            else:
                if kind == "invalid":
                    self.unknown["line:not_object"] += 1
                elif kind not in ENVELOPE_KINDS and kind != "state":
                    self.unknown[f"line_kind:{kind}"] += 1
                self.non_message.append(strip_inline_data(record))
        self.close_step()

    def session_meta(self, number: int, payload: dict, when: float | None, record: Any) -> None:
        sid = as_id(session_id_of(payload))
        if self.meta is None:
            self.meta, self.meta_line = payload, number
            text, reason = _instructions(payload)
            if text:
                self.add(Message(message_id=f"L{number}:instructions", role="system", text=text, hidden=True,
                                 hidden_reason=reason, content_kind="instructions", created_at=when, raw=record))
                return
        elif sid is not None and sid != as_id(session_id_of(self.meta)):
            self.other_sessions.append(sid)   # a fork copies its parent's history, meta line included
        else:
            self.repeated_meta += 1
        self.non_message.append(record)

    def response_item(self, number: int, payload: dict, when: float | None, record: Any) -> None:
        kind = as_str(payload.get("type")) or "<missing>"
        if kind not in KNOWN_ITEM_TYPES:
            self.unknown[f"response_item:{kind}"] += 1
        cls = item_class(payload)
        if cls == "assistant":
            self.assistant_item(number, kind, payload, when, record)
        elif cls == "output":
            self.close_step()
            call_id = as_id(payload.get("call_id"))
            result, facts = tool_result(payload, self.names.get(call_id or ""), self.outcomes.get(call_id or ""))
            message = Message(message_id=f"L{number}", role="tool", tool_results=[result], content_kind=f"output:{kind}",
                              created_at=when, status=result.status, raw=strip_inline_data(record))
            message.metadata.update(facts)
            if call_id is not None and call_id not in self.names:
                message.metadata["orphan_output"] = True
            self.add(message)
        elif cls == "message":
            self.close_step()
            self.add(self.other_message(number, payload, when, record))
        else:
            self.non_message.append(strip_inline_data(record))

    def assistant_item(self, number: int, kind: str, payload: dict, when: float | None, record: Any) -> None:
        if self.step is None:
            message = Message(message_id=f"L{number}", role="assistant", model=self.model, created_at=when)
            if self.turn_id:
                message.metadata["turn_id"] = self.turn_id
            self.step = _Step(self.add(message))
            self.last_assistant = message
            if self.model:
                self.models[self.model] += 1
        step = self.step
        step.kinds.append(kind)
        step.records.append(strip_inline_data(record))
        message = step.message
        if when is not None and message.created_at is not None and when > message.created_at:
            message.updated_at = when
        if kind == "reasoning":
            for part in as_list(payload.get("summary")):
                text = part_text(part)
                if text is None and isinstance(part, dict):
                    text = as_text(part.get("text"))
                if text and text.strip():
                    step.summaries.append(text)
            for part in as_list(payload.get("content")):
                text = as_text(part.get("text")) if isinstance(part, dict) else as_text(part)
                if text and text.strip() and part_type(part) in ("reasoning_text", "text"):
                    step.raw_reasoning.append(text)
            if as_str(payload.get("encrypted_content")):
                step.encrypted += 1
        elif kind == "message":
            texts = []
            for part in as_list(payload.get("content")):
                text = part_text(part)
                if text is not None:
                    texts.append(text)
                elif part_type(part) == "refusal":
                    texts.append(as_text(part.get("refusal")) or "")
                    message.metadata["refusal"] = True
                else:
                    self.unknown[f"content_part:{part_type(part)}"] += 1
            step.texts.append("\n".join(texts))
            for key in ("phase", "end_turn"):
                if payload.get(key) is not None:
                    message.metadata.setdefault(f"{key}s", []).append(payload[key])
        else:
            message.tool_calls.append(tool_call(payload))

    def other_message(self, number: int, payload: dict, when: float | None, record: Any) -> Message:
        """A user, developer or system message; injected context and instructions are hidden."""
        role = as_str(payload.get("role")) or "user"
        message = Message(message_id=f"L{number}", role=role, created_at=when, content_kind=f"message:{role}",
                          raw=strip_inline_data(record))
        content = payload.get("content")
        parts = [content] if isinstance(content, str) else as_list(content)
        everything: list[str] = []
        written: list[str] = []
        reasons: list[str] = []
        for part in parts:
            text = part_text(part)
            if text is None:
                if part_type(part) in IMAGE_PARTS and isinstance(part, dict):
                    message.attachments.append(image_attachment(part))
                else:
                    self.unknown[f"content_part:{part_type(part)}"] += 1
                continue
            everything.append(text)
            reason = context_reason(text)
            if reason is not None:
                reasons.append(reason)
                continue
            tag = unknown_wrapper(text)
            if tag is not None:
                self.unknown[f"context_tag:{tag}"] += 1
            written.append(text)
        if role == "user" and (written or message.attachments or not reasons):
            message.text = "\n".join(written).strip()
            if reasons:
                message.metadata["context_parts"] = reasons
            self.turn_starts.append(message.message_id)
            return message
        message.text = "\n".join(everything).strip()
        if role == "user":
            message.hidden, message.hidden_reason = True, reasons[0]
        elif role == "developer":
            message.hidden, message.hidden_reason = True, reasons[0] if reasons else "codex:developer_instructions"
        elif role == "system":
            message.hidden, message.hidden_reason = True, "codex:system"
        else:
            self.unknown[f"role:{role}"] += 1
        return message

    def event(self, number: int, payload: dict, record: Any) -> None:
        kind = as_str(payload.get("type")) or "<missing>"
        self.events[kind] += 1
        if kind not in KNOWN_EVENTS:
            self.unknown[f"event_msg:{kind}"] += 1
        self.non_message.append(strip_inline_data(record))
        if kind in BOUNDARY_EVENTS:
            self.close_step()
        if kind == "token_count":
            info = as_dict(payload.get("info"))
            last = info.get("last_token_usage")
            if isinstance(last, dict) and self.last_assistant is not None and self.last_assistant.usage is None:
                self.last_assistant.usage = last
            if isinstance(info.get("total_token_usage"), dict):
                self.total_usage = info["total_token_usage"]
        elif kind == "turn_aborted":
            reason = as_str(payload.get("reason")) or "unknown"
            self.aborted.append({"line": number, "reason": reason, "turn_id": as_id(payload.get("turn_id"))})
            if self.tip is not None:
                self.by_id[self.tip].metadata["turn_aborted"] = reason
        elif kind == "thread_rolled_back":
            self.rollback(as_int(payload.get("num_turns")) or 0, number)
        elif kind in ("error", "stream_error") and len(self.errors) < _ERRORS_KEPT:
            text = as_str(payload.get("message"))
            if text:
                self.errors.append(text)
                if self.tip is not None:
                    self.by_id[self.tip].metadata.setdefault("errors", []).append(text)


def _pair_calls(messages: list[Message]) -> None:
    """Calls left without an output (an interrupted turn, a session that ended mid-call) are named."""
    answered = {r.call_id for m in messages for r in m.tool_results if r.call_id}
    for m in messages:
        open_calls = [c.call_id for c in m.tool_calls if c.call_id and c.call_id not in answered]
        if open_calls:
            m.metadata["unanswered_call_ids"] = open_calls


def normalize(raw: RawRecord) -> list[Record]:
    """The Conversation (and regeneration Comparisons, if any) of one rollout file."""
    if raw.kind != "conversation":
        raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
    context = as_dict(raw.context)
    lines = read_lines(raw)
    if not lines:
        raise NormalizeError("rollout file holds no records")
    builder = _Builder(lines, context)
    builder.run()
    messages = builder.messages
    _pair_calls(messages)
    repair_tree(messages)
    meta = builder.meta or {}
    stem = as_text(context.get("file_stem")) or "rollout"
    first = lines[0][4]
    cid = conversation_key(as_id(session_id_of(meta)) if meta else None, stem, first)
    cid += as_text(context.get("id_suffix")) or ""
    leaf, _ = choose_active_leaf(messages, builder.tip) if messages else (None, False)
    metadata = _metadata(builder, raw, context)
    times = [to_epoch(ts) for _, _, _, ts, _ in lines]
    created = to_epoch(meta.get("timestamp")) if meta else None
    conversation = Conversation(
        conversation_id=cid, messages=messages, title=as_str(context.get("thread_name")),
        created_at=created if created is not None else min((t for t in times if t is not None), default=None),
        updated_at=latest_time(times), model=builder.models.most_common(1)[0][0] if builder.models else None,
        current_leaf_id=leaf, active_branch_inferred=False, order_inferred=False,
        format_variant=f"codex-{as_text(context.get('shape')) or 'rollout'}",
        raw_message_count=count_raw_messages(lines), unknown_shapes=sorted(builder.unknown), metadata=metadata,
        raw={"session_file": raw.member, "non_message_records": builder.non_message,
             "malformed_lines": list(as_list(context.get("malformed_lines")))},
    )
    return [conversation, *regeneration_comparisons(conversation)]


def _metadata(b: _Builder, raw: RawRecord, context: dict) -> dict[str, Any]:
    meta = b.meta or {}
    out: dict[str, Any] = {"source_member": raw.member, "export_variant": raw.variant,
                           "session_id": as_id(session_id_of(meta)) if meta else None,
                           "record_counts": dict(sorted(b.kinds.items())),
                           "event_counts": dict(sorted(b.events.items()))}
    for key in _META_KEYS:
        value = meta.get(key)
        if value is not None and value != "":
            out[key] = value
    if isinstance(meta.get("git"), dict) and meta["git"]:
        out["git"] = meta["git"]
    spawn = as_dict(as_dict(as_dict(meta.get("source")).get("subagent")).get("thread_spawn"))
    if spawn:
        out["subagent"] = True
        out.setdefault("parent_thread_id", spawn.get("parent_thread_id"))
    optional = {
        "embedded_session_ids": b.other_sessions, "repeated_session_meta": b.repeated_meta,
        "aborted_turns": b.aborted, "rollbacks": b.rollbacks, "compactions": b.compactions, "errors": b.errors,
        "total_token_usage": b.total_usage, "models": dict(b.models) if len(b.models) > 1 else None,
        "continues_session": out["session_id"] if context.get("id_suffix") else None,
        "malformed_lines": list(as_list(context.get("malformed_lines"))),
        "unknown_shape_counts": dict(sorted(b.unknown.items())),
    }
    out.update({key: value for key, value in optional.items() if value})
    return out

