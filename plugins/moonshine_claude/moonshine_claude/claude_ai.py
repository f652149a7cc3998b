"""Normalise one claude.ai conversation (official export or API-shape capture).

Mapping (see ``docs/providers/claude.md``): ``content[]`` blocks are the
source of truth and the flat ``text`` only a fallback; thinking goes to
reasoning; tool_use/tool_result become paired ToolCall/ToolResult on the
assistant message that holds both; injected prompt blocks are platform
context kept in metadata, out of the user's words; attachment text is part of
the human turn. Trees come from ``parent_message_uuid``; exports without it are
ordered by time and flagged ``order_inferred``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import as_dict, as_id, as_int, as_list, as_str, as_text, fallback_id
from moonshine_core.records import Attachment, Conversation, Message, RawRecord, Record, ToolCall, ToolResult
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, link_by_time, repair_tree

from .blocks import TextJoiner, block_type, bool_or_none, result_text
from .branches import leaf_under, regenerations
from .models import default_model_at
from .text import clean_flat_text

#: The parent id claude.ai gives root messages.
ROOT_SENTINEL = "00000000-0000-4000-8000-000000000000"
_ROLES = {"human": "user", "assistant": "assistant", "user": "user", "system": "system"}
_CONVERSATION_KEYS = {
    "uuid", "name", "summary", "created_at", "updated_at", "account", "chat_messages", "project_uuid", "model",
    "settings", "is_starred", "is_temporary", "platform", "current_leaf_message_uuid", "effective_thinking_mode",
    "project", "session_id", "user_uuid",
}
_MESSAGE_KEYS = {
    "uuid", "text", "content", "sender", "created_at", "updated_at", "attachments", "files", "parent_message_uuid",
    "index", "truncated", "stop_reason", "input_mode", "files_v2", "sync_sources",
}
_KNOWN_BLOCKS = {"text", "thinking", "tool_use", "tool_result", "injected_prompt_block", "voice_note"}


class _State:
    """What one conversation's messages share while being normalised."""

    def __init__(self, conversation_id: str, api_model: str | None):
        self.conversation_id = conversation_id
        self.api_model = api_model
        self.unknown: Counter[str] = Counter()
        self.artifact_versions: Counter[str] = Counter()


def normalize_conversation(raw: RawRecord) -> list[Record]:
    """The Conversation (plus regeneration Comparisons) of one raw claude.ai conversation."""
    conv = raw.data
    if not isinstance(conv, dict):
        raise NormalizeError(f"conversation is a {type(conv).__name__}, not a JSON object")
    cid = as_id(conv.get("uuid"))
    if cid is None:
        raise NormalizeError("conversation has no uuid")
    items = conv.get("chat_messages", [])
    if items is None:
        items = []
    if not isinstance(items, list):
        raise NormalizeError(f"conversation {cid}: chat_messages is a {type(items).__name__}, not a list")
    api_model = as_text(conv.get("model"))
    state = _State(cid, api_model)
    for key in conv:
        if key not in _CONVERSATION_KEYS:
            state.unknown[f"field:conversation.{key}"] += 1

    raw_count = sum(1 for item in items if isinstance(item, dict))
    tree = any(isinstance(m, dict) and isinstance(m.get("parent_message_uuid"), str) for m in items)
    messages: list[Message] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            state.unknown["message:not_object"] += 1
            continue
        messages.append(_message(item, index, state, tree))

    pointer = as_id(conv.get("current_leaf_message_uuid"))
    explicit = pointer is not None
    if tree:
        repair_tree(messages)
        if not explicit and messages:
            pointer = leaf_under(messages, messages[-1].message_id)
    else:
        # No parent links: sort by time, human before assistant on ties (2024 pairs share a timestamp).
        order = {id(m): i for i, m in enumerate(messages)}
        messages.sort(key=lambda m: (m.created_at if m.created_at is not None else float("inf"),
                                     0 if m.role == "user" else 1, order[id(m)]))
        link_by_time(messages)
        repair_tree(messages)
        pointer = None
    leaf, inferred = choose_active_leaf(messages, pointer)
    _number_artifacts(messages)

    era = ("api_capture" if raw.context.get("api_shape") else "2026_tree" if tree
           else "2025_blocks" if any(isinstance(m, dict) and isinstance(m.get("content"), list) and m.get("content")
                                     for m in items) else "2024_text")
    metadata: dict[str, Any] = {
        "source_member": raw.member, "source_index": raw.index, "export_variant": raw.variant, "era": era,
        "summary": as_text(conv.get("summary")),
        "account_uuid": as_dict(conv.get("account")).get("uuid"),
        "project_uuid": as_text(conv.get("project_uuid")),
    }
    if state.unknown:
        metadata["unknown_shape_counts"] = dict(sorted(state.unknown.items()))
    if api_model is None and any(m.model_inferred for m in messages):
        metadata["model_inference"] = "claude.ai default-model timeline by message date"
    conversation = Conversation(
        conversation_id=cid, messages=messages,
        title=as_text(conv.get("name")),
        created_at=to_epoch(conv.get("created_at")), updated_at=to_epoch(conv.get("updated_at")),
        model=api_model, current_leaf_id=leaf, active_branch_inferred=inferred or not explicit,
        order_inferred=not tree, format_variant=f"claude_ai:{era}", raw_message_count=raw_count,
        unknown_shapes=sorted(state.unknown), metadata=metadata, raw=conv,
    )
    return [conversation, *regenerations(conversation)]


def _message(item: dict, index: int, state: _State, tree: bool) -> Message:
    message_id = as_id(item.get("uuid")) or fallback_id(item)
    sender = as_str(item.get("sender"))
    if sender is not None:
        role = _ROLES.get(sender, sender)
        if sender not in _ROLES:
            state.unknown[f"sender:{sender}"] += 1
    else:
        role = "unknown"
        state.unknown["sender:missing"] += 1
    for key in item:
        if key not in _MESSAGE_KEYS:
            state.unknown[f"field:message.{key}"] += 1
    parent = as_id(item.get("parent_message_uuid")) if tree else None
    if parent == ROOT_SENTINEL:
        parent = None
    created = to_epoch(item.get("created_at"))
    message = Message(message_id=message_id, role=role, parent_id=parent, created_at=created,
                      updated_at=to_epoch(item.get("updated_at")), raw=item)
    message.metadata["source_position"] = index
    content = item.get("content")
    blocks = [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []
    flat = as_text(item.get("text")) or ""
    if blocks:
        _from_blocks(message, content, state)
        if not (message.text or message.reasoning or message.tool_calls or message.tool_results) and flat.strip():
            # Hollow blocks (one empty text block) next to a non-empty flat text: the flat text is all there is.
            _from_flat_text(message, flat, state)
            message.metadata["text_source"] = "flat_fallback"
    else:
        _from_flat_text(message, flat, state)
    _attachments(message, item, state)
    if as_text(item.get("stop_reason")) is not None:
        message.status = item["stop_reason"]
    if item.get("truncated") is True:
        message.metadata["truncated"] = True
    if as_text(item.get("input_mode")) is not None:
        message.metadata["input_mode"] = item["input_mode"]
    if role == "assistant":
        if state.api_model is not None:
            message.model = state.api_model
        else:
            message.model = default_model_at(created)
            message.model_inferred = message.model is not None
    if role == "user" and not message.text and message.metadata.get("injected_prompts"):
        message.hidden, message.hidden_reason = True, "platform_injected"
    elif role in ("user", "assistant") and not (message.text.strip() or message.reasoning or message.tool_calls
                                                or message.tool_results or message.attachments):
        # Nothing to show (an empty text block, or a placeholder that was all there was): hidden, like
        # ChatGPT's placeholder answers, so no lane sees an empty turn.
        message.hidden, message.hidden_reason = True, "empty"
    return message


def _from_blocks(message: Message, content: list, state: _State) -> None:
    joiner = TextJoiner()
    raw_thinking: list[str] = []
    summaries: list[str] = []
    pending: list[ToolCall] = []   # calls still waiting for a result, in block order
    calls_by_id: dict[str, ToolCall] = {}
    citations: list[str] = []
    kinds: list[str] = []
    for position, block in enumerate(content):
        kind = block_type(block)
        kinds.append(kind)
        if kind == "text":
            joiner.add_text_block(block)
            for cite in as_list(block.get("citations")):
                url = as_text(as_dict(as_dict(cite).get("details")).get("url"))
                if url is not None and url not in citations:
                    citations.append(url)
            continue
        joiner.interrupt()
        if kind == "thinking":
            thought = as_text(block.get("thinking")) or ""
            block_summaries = [as_text(s.get("summary")) or "" for s in as_list(block.get("summaries"))
                               if isinstance(s, dict)]
            if thought.strip() and not block.get("thinking_hidden"):
                raw_thinking.append(thought)
            summaries.extend(s for s in block_summaries if s.strip())
            for flag, key in (("cut_off", "thinking_cut_off"), ("truncated", "thinking_truncated"),
                              ("hidden", "thinking_block_hidden"), ("thinking_hidden", "thinking_hidden")):
                if block.get(flag) is True:
                    message.metadata[key] = True
        elif kind == "tool_use":
            arguments = block.get("input")
            call_id = (as_id(block.get("id")) or as_id(as_dict(arguments).get("_tool_call_id"))
                       or f"{message.message_id}:block{position}")
            call = ToolCall(name=as_str(block.get("name")) or "unknown", arguments=arguments,
                            call_id=call_id, raw=block)
            message.tool_calls.append(call)
            calls_by_id.setdefault(call_id, call)
            pending.append(call)
        elif kind == "tool_result":
            message.tool_results.append(_tool_result(block, pending, calls_by_id, message))
        elif kind == "injected_prompt_block":
            message.metadata.setdefault("injected_prompts", []).append({
                "injection_source": block.get("injection_source"), "prompt": as_text(block.get("prompt")) or ""})
        elif kind == "voice_note":
            joiner.add(as_text(block.get("text")) or "")
            message.metadata["voice_note"] = True
        else:
            state.unknown[f"content_type:{kind}"] += 1
            message.metadata.setdefault("unknown_blocks", []).append(kind)
    message.text = joiner.text()
    if raw_thinking:
        message.reasoning, message.reasoning_kind = "\n\n".join(raw_thinking), "raw"
    elif summaries:
        message.reasoning, message.reasoning_kind = "\n\n".join(summaries), "summary"
    if summaries and raw_thinking:
        message.metadata["thinking_summaries"] = summaries
    if citations:
        message.metadata["citation_urls"] = citations
    message.content_kind = "blocks:" + ",".join(dict.fromkeys(kinds))
    unanswered = [c.call_id for c in pending]
    if unanswered:
        message.metadata["calls_without_result"] = unanswered


def _tool_result(block: dict, pending: list[ToolCall], calls_by_id: dict[str, ToolCall],
                 message: Message) -> ToolResult:
    """Pair a result with its call: by ``tool_use_id``, else the earliest open call (same name first)."""
    text, has_other = result_text(block.get("content"))
    name = as_text(block.get("name"))
    call_id = as_id(block.get("tool_use_id"))
    call = calls_by_id.get(call_id) if call_id else None
    how = "id" if call is not None else None
    if call is None and call_id is None and pending:
        call = next((c for c in pending if name and c.name == name), pending[0])
        call_id, how = call.call_id, "position"
    if call is not None and call in pending:
        pending.remove(call)
    meta = as_dict(block.get("meta"))
    structured = block.get("structured_content")
    if structured is None and has_other:
        structured = block.get("content")
    result = ToolResult(content=text, call_id=call_id, name=name or (call.name if call else None),
                        is_error=bool_or_none(block.get("is_error")),
                        status=as_text(meta.get("error_type")),
                        structured=structured, raw=block)
    if how == "position":
        message.metadata.setdefault("tool_results_paired_by_position", []).append(call_id)
    elif how is None:
        message.metadata.setdefault("tool_results_unpaired", []).append(call_id)
    return result


def _from_flat_text(message: Message, flat: str, state: _State) -> None:
    cleaned = clean_flat_text(flat)
    message.text = cleaned.text
    if cleaned.text != flat:
        message.raw_text = flat
    message.content_kind = "text"
    if cleaned.thinking:
        message.reasoning, message.reasoning_kind = "\n\n".join(cleaned.thinking), "raw"
        message.metadata["reasoning_source"] = "antThinking"
    if cleaned.placeholders:
        message.metadata["placeholders_removed"] = cleaned.placeholders
    for number, artifact in enumerate(cleaned.artifacts):
        arguments: dict[str, Any] = {k: v for k, v in artifact.attributes.items()}
        arguments["content"] = artifact.body
        arguments["source"] = "inline_antArtifact"
        if not artifact.closed:
            arguments["unclosed"] = True
        message.tool_calls.append(ToolCall(name="artifacts", arguments=arguments,
                                           call_id=f"{message.message_id}:antArtifact{number}",
                                           raw={"antArtifact": artifact.attributes}))
    if cleaned.artifacts:
        message.metadata["inline_artifacts"] = len(cleaned.artifacts)


def _number_artifacts(messages: list[Message]) -> None:
    """Inline artifacts repeat an identifier per version: the first is ``create``, later ones ``rewrite``."""
    seen: Counter[str] = Counter()
    for message in messages:
        for call in message.tool_calls:
            args = call.arguments
            if isinstance(args, dict) and args.get("source") == "inline_antArtifact":
                ident = str(args.get("identifier", ""))
                seen[ident] += 1
                args["version"] = seen[ident]
                args["command"] = "create" if seen[ident] == 1 else "rewrite"


def _attachments(message: Message, item: dict, state: _State) -> None:
    extracted: list[str] = []
    by_name: dict[str, Attachment] = {}
    for raw in as_list(item.get("attachments")):
        if not isinstance(raw, dict):
            state.unknown["attachment:not_object"] += 1
            continue
        name = as_text(raw.get("file_name"))
        text = as_text(raw.get("extracted_content"))
        attachment = Attachment(kind="attachment", name=name, mime_type=as_str(raw.get("file_type")),
                                size_bytes=as_int(raw.get("file_size")),
                                extracted_text=text, raw=raw)
        message.attachments.append(attachment)
        if name:
            by_name.setdefault(name, attachment)
        if text and text.strip():
            extracted.append(text)
    for key in ("files", "files_v2"):
        for raw in as_list(item.get(key)):
            if not isinstance(raw, dict):
                continue
            name = as_text(raw.get("file_name"))
            pointer = as_id(raw.get("file_uuid"))
            twin = by_name.get(name) if name else None
            if twin is not None:
                # Every attachment is mirrored in files under the same name: one reference, not two.
                twin.pointer = twin.pointer or pointer
                continue
            kind = as_text(raw.get("file_kind")) or "file"
            message.attachments.append(Attachment(kind=kind, name=name or None, pointer=pointer, raw=raw))
    if extracted and message.role == "user":
        typed = message.text
        message.text = "\n\n".join(p for p in [typed, *extracted] if p)
        message.metadata["attachment_text_included"] = len(extracted)
