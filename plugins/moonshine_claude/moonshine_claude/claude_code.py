"""Normalise one Claude Code session log (``~/.claude/projects/<project>/<session>.jsonl``).

One file is one Conversation (``conversation_id`` = the session id; a
sub-agent file gets ``<session id>:agent-<agent id>`` and links back to its
session in metadata). Records sharing ``message.id`` are one API response
split one block per line: they are folded into one Message whose id is the
first record's ``uuid``. Parents follow ``parentUuid`` through non-message
records (progress lines sit in the chain). Non-message records are counted,
not turned into messages.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import as_dict, as_id, as_list, as_str, as_text, fallback_id
from moonshine_core.records import Attachment, Conversation, Message, RawRecord, Record, ToolCall, ToolResult
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import children_map, choose_active_leaf, repair_tree

from .blocks import TextJoiner, block_type, bool_or_none, result_text
from .branches import leaf_under, regenerations
from .text import claude_code_prompt_kind

MESSAGE_TYPES = ("user", "assistant", "system")
#: Record types that are session plumbing, not messages (counted in metadata).
NON_MESSAGE_TYPES = {"file-history-snapshot", "progress", "queue-operation", "summary", "custom-title"}
_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_BASE64_KEEP = 256


def count_folded_messages(records: Any) -> int:
    """How many messages a session holds after folding, counted straight from the raw lines.

    Deliberately independent of the normaliser: every ``user``/``assistant``/
    ``system`` record counts once per distinct key, the key being
    ``message.id`` for assistant records that have one and ``uuid`` otherwise;
    a record whose ``uuid`` came before is the same line written twice and
    counts nothing, whatever else it holds.
    """
    if not isinstance(records, list):
        return 0
    keys = set()
    uuids: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict) or record.get("type") not in MESSAGE_TYPES:
            continue
        api_id = as_id(as_dict(record.get("message")).get("id"))
        uuid = as_id(record.get("uuid"))
        if uuid is not None:
            if uuid in uuids:
                continue
            uuids.add(uuid)
        if record.get("type") == "assistant" and api_id is not None:
            keys.add(("api", api_id))
        elif uuid is not None:
            keys.add(("uuid", uuid))
        else:
            keys.add(("line", index))
    return len(keys)


class _Group:
    """The records that make one message (several for a split assistant response)."""

    def __init__(self, message_id: str):
        self.message_id = message_id
        self.records: list[tuple[int, dict]] = []


def normalize_session(raw: RawRecord) -> list[Record]:
    """The Conversation (plus regeneration Comparisons) of one Claude Code session file."""
    records = raw.data
    if not isinstance(records, list):
        raise NormalizeError(f"session log is a {type(records).__name__}, not a list of records")
    context = as_dict(raw.context)
    unknown: Counter[str] = Counter()
    type_counts: Counter[str] = Counter()
    node_parent: dict[str, Any] = {}
    groups: dict[tuple[str, str], _Group] = {}
    rec_to_msg: dict[str, str] = {}
    non_message: list[Any] = []
    duplicates = 0
    seen_uuids: set[str] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            unknown["record:not_object"] += 1
            non_message.append(record)
            continue
        kind = as_text(record.get("type"))
        kind = "<missing>" if kind is None else kind
        type_counts[kind] += 1
        uuid = as_id(record.get("uuid"))
        if uuid is not None and uuid not in node_parent:
            node_parent[uuid] = as_id(record.get("parentUuid"))
        if kind not in MESSAGE_TYPES:
            non_message.append(record)
            if kind not in NON_MESSAGE_TYPES:
                unknown[f"record_type:{kind}"] += 1
            continue
        if uuid is not None and uuid in seen_uuids:
            duplicates += 1   # the same line written twice (resume copies): one message
            continue
        if uuid is not None:
            seen_uuids.add(uuid)
        api_id = as_id(as_dict(record.get("message")).get("id"))
        if kind == "assistant" and api_id is not None:
            key = ("api", api_id)
        else:
            key = ("uuid", uuid or f"line{index}")
        if key not in groups:
            groups[key] = _Group(uuid or f"line{index}")
        groups[key].records.append((index, record))
        if uuid is not None:
            rec_to_msg[uuid] = groups[key].message_id

    tool_names = _tool_names(groups.values())
    messages: list[Message] = []
    for group in groups.values():
        message = _message(group, node_parent, rec_to_msg, tool_names, unknown, context)
        messages.append(message)
    _chain_parallel_results(messages)
    repair_tree(messages)

    main = [m for m in messages if not m.metadata.get("is_sidechain")] or messages
    pointer = leaf_under(messages, main[-1].message_id) if main else None
    leaf, _ = choose_active_leaf(messages, pointer)
    cid, metadata = _identity(records, groups.values(), context)
    metadata.update({
        "source_member": raw.member, "export_variant": raw.variant,
        "record_counts": dict(sorted(type_counts.items())),
    })
    if duplicates:
        metadata["duplicate_records"] = duplicates
    malformed = context.get("malformed_lines") or []
    if malformed:
        metadata["malformed_lines"] = list(malformed)
    if unknown:
        metadata["unknown_shape_counts"] = dict(sorted(unknown.items()))
    models = Counter(m.model for m in messages if m.model)
    times = [t for m in messages for t in (m.created_at, m.updated_at) if t is not None]
    conversation = Conversation(
        conversation_id=cid, messages=messages, title=_title(records, rec_to_msg),
        created_at=min(times) if times else None, updated_at=max(times) if times else None,
        model=models.most_common(1)[0][0] if models else None, current_leaf_id=leaf,
        active_branch_inferred=True, order_inferred=False, format_variant="claude_code",
        raw_message_count=count_folded_messages(records), unknown_shapes=sorted(unknown),
        metadata=metadata,
        raw={"session_file": raw.member, "non_message_records": non_message, "malformed_lines": list(malformed)},
    )
    return [conversation, *regenerations(conversation)]


def _identity(records: list, groups: Any, context: dict) -> tuple[str, dict[str, Any]]:
    """Conversation id and session metadata (cwd, branch, CLI version, sub-agent links)."""
    stem = as_text(context.get("file_stem"))
    stem = "session" if stem is None else stem
    message_records = [r for g in groups for _, r in g.records]
    sessions = Counter(r["sessionId"] for r in message_records if isinstance(r.get("sessionId"), str))
    agent_ids = [r["agentId"] for r in message_records if isinstance(r.get("agentId"), str)]
    subagent = bool(context.get("subagent")) or bool(
        message_records and agent_ids and all(r.get("isSidechain") is True for r in message_records))
    metadata: dict[str, Any] = {"session_ids": sorted(sessions)}
    for key, field in (("cwd", "cwd"), ("git_branch", "gitBranch"), ("cli_version", "version"),
                       ("slug", "slug")):
        value = next((r[field] for r in message_records if isinstance(r.get(field), str)), None)
        if value is not None:
            metadata[key] = value
    session = sessions.most_common(1)[0][0] if sessions else None
    if subagent:
        agent = agent_ids[0] if agent_ids else stem.removeprefix("agent-")
        metadata.update({"subagent": True, "agent_id": agent, "parent_session_id": session})
        return (f"{session}:agent-{agent}" if session else f"agent-{agent}"), metadata
    if context.get("subagent_files"):
        metadata["subagent_files"] = list(context["subagent_files"])
    if context.get("tool_result_files"):
        metadata["tool_result_files"] = list(context["tool_result_files"])
    if _UUID_RE.fullmatch(stem):
        return stem, metadata
    return (session or stem), metadata


def _title(records: list, rec_to_msg: dict[str, str]) -> str | None:
    title = None
    for record in records:
        if not isinstance(record, dict):
            continue
        if record.get("type") == "custom-title" and isinstance(record.get("customTitle"), str):
            title = record["customTitle"]
        elif (record.get("type") == "summary" and title is None and isinstance(record.get("summary"), str)
              and isinstance(record.get("leafUuid"), str) and record["leafUuid"] in rec_to_msg):
            title = record["summary"]
    return title


def _tool_names(groups: Any) -> dict[str, str]:
    names: dict[str, str] = {}
    for group in groups:
        for _, record in group.records:
            for block in _blocks(record):
                if block_type(block) not in ("tool_use", "server_tool_use"):
                    continue
                call_id, name = as_id(block.get("id")), as_text(block.get("name"))
                if call_id is not None and name is not None:
                    names[call_id] = name
    return names


def _blocks(record: dict) -> list:
    content = as_dict(record.get("message")).get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return as_list(content)


def _resolve_parent(record: dict, node_parent: dict[str, Any], rec_to_msg: dict[str, str]) -> str | None:
    """The message a record hangs under, looking through non-message records (progress lines)."""
    parent = as_id(record.get("parentUuid"))
    seen: set[str] = set()
    while parent is not None and parent not in rec_to_msg and parent in node_parent and parent not in seen:
        seen.add(parent)
        parent = node_parent[parent]
    if parent is not None:
        return rec_to_msg.get(parent, parent)   # unknown ids stay, repair_tree records them as dangling
    return None


def _message(group: _Group, node_parent: dict, rec_to_msg: dict[str, str], tool_names: dict[str, str],
             unknown: Counter, context: dict) -> Message:
    first_index, first = group.records[0]
    kind = first.get("type")
    parent = _resolve_parent(first, node_parent, rec_to_msg)
    if parent == group.message_id:
        parent = None
    line_numbers = as_list(context.get("line_numbers"))
    lines = [line_numbers[i] for i, _ in group.records if i < len(line_numbers)]
    raws = [_strip_base64(r) for _, r in group.records]
    message = Message(message_id=group.message_id, role=str(kind), parent_id=parent,
                      raw=raws[0] if len(raws) == 1 else raws)
    message.metadata["lines"] = lines
    if len(group.records) > 1:
        message.metadata["folded_records"] = [r.get("uuid") for _, r in group.records]
    times = [to_epoch(r.get("timestamp")) for _, r in group.records]
    times = [t for t in times if t is not None]
    if times:
        message.created_at = times[0]
        if len(times) > 1 and times[-1] != times[0]:
            message.updated_at = times[-1]
    for flag, key in (("isSidechain", "is_sidechain"), ("isMeta", "is_meta"), ("isCompactSummary", "compact_summary"),
                      ("isApiErrorMessage", "api_error"), ("isVisibleInTranscriptOnly", "transcript_only")):
        if first.get(flag) is True:
            message.metadata[key] = True
    if isinstance(first.get("agentId"), str):
        message.metadata["agent_id"] = first["agentId"]
    if isinstance(first.get("logicalParentUuid"), str):
        message.metadata["logical_parent"] = first["logicalParentUuid"]

    if kind == "system":
        subtype = as_text(first.get("subtype"))
        subtype = "message" if subtype is None else subtype
        message.text = as_text(first.get("content")) or ""
        message.hidden, message.hidden_reason = True, f"system:{subtype}"
        message.content_kind = f"system:{subtype}"
        return message

    joiner = TextJoiner()
    thinking: list[str] = []
    seen_blocks: set[str] = set()
    kinds: list[str] = []
    for _, record in group.records:
        result_blocks = [b for b in _blocks(record) if block_type(b).endswith("tool_result")]
        for block in _blocks(record):
            key = fallback_id(block)   # the block's content, as a key
            if key in seen_blocks:
                continue   # a streamed response may repeat a block in several records
            seen_blocks.add(key)
            btype = block_type(block)
            kinds.append(btype)
            if btype == "text":
                joiner.add_text_block(block)
                continue
            joiner.interrupt()
            if btype == "thinking":
                thought = as_text(block.get("thinking")) or ""
                if thought.strip():
                    thinking.append(thought)
            elif btype == "redacted_thinking":
                message.metadata["redacted_thinking"] = message.metadata.get("redacted_thinking", 0) + 1
            elif btype in ("tool_use", "server_tool_use"):
                call_id = as_id(block.get("id"))
                message.tool_calls.append(ToolCall(name=as_str(block.get("name")) or "unknown",
                                                   arguments=block.get("input"),
                                                   call_id=call_id, raw=block))
            elif btype.endswith("tool_result"):
                call_id = as_id(block.get("tool_use_id"))
                text, _ = result_text(block.get("content"))
                structured = record.get("toolUseResult") if len(result_blocks) == 1 else None
                message.tool_results.append(ToolResult(
                    content=text, call_id=call_id, name=tool_names.get(call_id or ""),
                    is_error=bool_or_none(block.get("is_error")), structured=_strip_base64(structured),
                    raw=_strip_base64(block)))
            elif btype in ("image", "document"):
                message.attachments.append(_media(block))
            else:
                unknown[f"content_type:{btype}"] += 1
                message.metadata.setdefault("unknown_blocks", []).append(btype)
    message.text = joiner.text()
    if thinking:
        message.reasoning, message.reasoning_kind = "\n\n".join(thinking), "raw"
    message.content_kind = "blocks:" + ",".join(dict.fromkeys(kinds)) if kinds else "empty"

    if kind == "assistant":
        _assistant_details(message, group)
    elif kind == "user":
        _user_role(message, first)
    return message


def _assistant_details(message: Message, group: _Group) -> None:
    for _, record in group.records:
        api = as_dict(record.get("message"))
        model = as_str(api.get("model"))
        if model is not None:
            if model == "<synthetic>":   # the CLI's own error notices, not a model's answer
                message.metadata["synthetic"] = True
            elif message.model is None:
                message.model = model
        usage = api.get("usage")
        if isinstance(usage, dict) and _output_tokens(usage) >= _output_tokens(message.usage):
            message.usage = usage   # split records repeat usage as it grows: keep the fullest
        if isinstance(api.get("stop_reason"), str):
            message.status = api["stop_reason"]
        if isinstance(api.get("id"), str):
            message.metadata["api_message_id"] = api["id"]
        if isinstance(record.get("requestId"), str):
            message.metadata["request_id"] = record["requestId"]
    if message.metadata.get("api_error"):
        message.status = "api_error"


def _output_tokens(usage: Any) -> float:
    value = usage.get("output_tokens") if isinstance(usage, dict) else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else -1


def _user_role(message: Message, first: dict) -> None:
    """Tool-result carriers become ``tool``; meta, command and interrupt records are kept but hidden."""
    if message.tool_results:
        message.role = "tool"
        return
    if first.get("isMeta") is True:
        message.hidden, message.hidden_reason = True, "meta"
    elif first.get("isCompactSummary") is True:
        message.hidden, message.hidden_reason = True, "compact_summary"
    else:
        reason = claude_code_prompt_kind(message.text)
        if reason is not None:
            message.hidden, message.hidden_reason = True, reason


def _media(block: dict) -> Attachment:
    source = as_dict(block.get("source"))
    data = source.get("data")
    size = (len(data) * 3) // 4 if isinstance(data, str) and source.get("type") == "base64" else None
    return Attachment(kind=block_type(block), mime_type=as_text(source.get("media_type")), size_bytes=size,
                      pointer=as_text(source.get("url")),
                      raw=_strip_base64(block))


def _strip_base64(value: Any) -> Any:
    """A copy without inline base64 payloads (images, file reads): a size and hash stand in for them."""
    if isinstance(value, list):
        return [_strip_base64(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    inline = value.get("type") == "base64"
    for key, item in value.items():
        if (isinstance(item, str) and len(item) > _BASE64_KEEP and
                ((inline and key == "data") or key == "base64")):
            digest = hashlib.sha256(item.encode("utf-8", "replace")).hexdigest()
            out[key] = f"<base64 removed: {len(item)} chars, sha256 {digest}>"
        else:
            out[key] = _strip_base64(item)
    return out


def _chain_parallel_results(messages: list[Message]) -> None:
    """Parallel tool results hang as siblings under one assistant message: chain them in file order.

    Claude Code writes each result of a parallel batch under the record that
    carried its call, so after folding they are siblings and only one would be
    on the active branch. Each later result is moved under the previous one
    when that one has no children of its own (``metadata['reparented_from']``).
    """
    by_id = {m.message_id: m for m in messages}
    children = children_map(messages)
    for message in messages:
        if message.role != "assistant":
            continue
        results = [by_id[c] for c in children.get(message.message_id, []) if by_id[c].role == "tool"]
        for previous, current in zip(results, results[1:]):
            if children.get(previous.message_id):
                continue
            current.metadata["reparented_from"] = current.parent_id
            current.parent_id = previous.message_id
            children.setdefault(previous.message_id, []).append(current.message_id)
            children[message.message_id].remove(current.message_id)
