"""Raw DeepSeek records to canonical Moonshine records.

Official export (``mapping`` tree)
    Every node whose ``message`` is a JSON object becomes a :class:`Message`
    with the mapping key as its id. The synthetic ``root`` node and any
    ``message: null`` node are tree plumbing, not messages: a message's parent
    is its nearest ancestor that has a message (``None`` at the top), so the
    stored tree skips them. The role comes from the fragments (REQUEST means
    user). There is no active-branch pointer: the latest leaf is taken and
    ``active_branch_inferred`` is set.

Web API (``chat_session`` + ``chat_messages``)
    Every chat message becomes a :class:`Message` with ``str(message_id)``;
    several roots are kept; ``current_message_id`` is the active pointer.

Both give ``Comparison(source="regeneration")`` wherever the toolkit's one
rule (:func:`moonshine_core.provider.regeneration_comparisons`) finds a
regeneration: a message whose turn branches into two or more alternatives
with a visible answer, the one on the active branch counted as chosen
(inferred).
"""

from __future__ import annotations

from typing import Any

from moonshine_core import trees
from moonshine_core.errors import NormalizeError
from moonshine_core.provider import (MappingTree, as_id, as_int, as_str, as_text, fallback_id,
                                     regeneration_comparisons, unknown_keys)
from moonshine_core.records import Conversation, Message, RawRecord, SideRecord
from moonshine_core.timeutil import to_epoch

from . import layout
from .fragments import Parts, file_attachments, from_flat, from_fragments
from .text import clean_citations, join_parts

CONVERSATION_KEYS = frozenset({"id", "title", "inserted_at", "updated_at", "mapping"})
NODE_KEYS = frozenset({"id", "parent", "children", "message"})
EXPORT_MESSAGE_KEYS = frozenset({"files", "model", "inserted_at", "fragments"})
SESSION_KEYS = frozenset({"id", "seq_id", "agent", "character", "title", "title_type", "version",
                          "current_message_id", "pinned", "inserted_at", "updated_at", "model_type",
                          "is_empty"})
BIZ_KEYS = frozenset({"chat_session", "chat_messages", "cache_valid", "route_id"})
API_MESSAGE_KEYS = frozenset({
    "message_id", "parent_id", "model", "role", "content", "thinking_enabled", "thinking_content",
    "thinking_elapsed_secs", "ban_edit", "ban_regenerate", "status", "accumulated_token_usage", "files",
    "tips", "inserted_at", "search_enabled", "search_status", "search_results", "feedback",
    "incomplete_message", "fragments", "conversation_mode", "auto_continue", "has_pending_fragment",
})
USER_KEYS = frozenset({"user_id", "email", "mobile", "oauth_profiles"})
_API_ROLES = {"USER": "user", "ASSISTANT": "assistant", "SYSTEM": "system", "TOOL": "tool"}


def _object(value: Any, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, else :class:`NormalizeError` saying what ``what`` is instead."""
    if isinstance(value, dict):
        return value
    found = "missing" if value is None else f"a {type(value).__name__}"
    raise NormalizeError(f"{what} is {found}, not an object")


def _build_message(message_id: str, parent_id: str | None, parts: Parts, *, role: str | None,
                   model: Any, created: Any, raw: Any) -> Message:
    """A Message from parts; ``role`` wins over the role the fragments imply when given."""
    hidden = set(parts.types) == {"TIP"} and not parts.attachments
    # A node of UI tips only is platform text the user never wrote nor asked for.
    role = role or parts.role() or ("system" if hidden else "unknown")
    pieces = parts.request if role == "user" else parts.answer
    if role == "user" and not pieces and parts.answer:
        pieces = parts.answer
    raw_text = join_parts(pieces)
    text, cited = clean_citations(raw_text)
    reasoning_raw = join_parts(parts.think)
    reasoning, cited_in_reasoning = clean_citations(reasoning_raw)
    metadata: dict[str, Any] = {}
    if parts.types:
        metadata["fragment_types"] = list(parts.types)
    if cited or cited_in_reasoning:
        metadata["citations"] = cited + [c for c in cited_in_reasoning if c not in cited]
    if parts.think_secs is not None:
        metadata["thinking_elapsed_secs"] = parts.think_secs
    if parts.tips:
        metadata["tips_dropped"] = parts.tips
    if parts.attachments:
        # DeepSeek exports file metadata only: the turn's context is incomplete without the file.
        metadata["context_incomplete"] = True
    return Message(
        message_id=message_id,
        parent_id=parent_id,
        role=role,
        text=text,
        raw_text=raw_text if text != raw_text else None,
        reasoning=reasoning or None,
        reasoning_kind="raw" if reasoning else None,
        tool_calls=parts.tool_calls,
        tool_results=parts.tool_results,
        attachments=parts.attachments,
        hidden=hidden,
        hidden_reason="ui_tip" if hidden else None,
        content_kind="+".join(dict.fromkeys(parts.types)) or None,
        model=as_str(model),
        created_at=to_epoch(created),
        metadata=metadata,
        raw=raw,
    )


def _finish(conversation: Conversation, pointer: str | None) -> list[Any]:
    """Repair the tree, choose the active leaf, and derive regeneration comparisons."""
    messages = conversation.messages
    # Each unknown shape once, in the order first seen.
    conversation.unknown_shapes = list(dict.fromkeys(conversation.unknown_shapes))
    repairs = trees.repair_tree(messages)
    if repairs:
        conversation.metadata["tree_repairs"] = repairs
    conversation.current_leaf_id, conversation.active_branch_inferred = trees.choose_active_leaf(messages, pointer)
    by_id = {m.message_id: m for m in messages}
    active_path = trees.path_to_root(messages, conversation.current_leaf_id or "")
    # The conversation's model is the one that answered last on the branch the user saw.
    conversation.model = next((by_id[i].model for i in reversed(active_path)
                               if by_id[i].role == "assistant" and by_id[i].model), None)
    return [conversation, *regeneration_comparisons(conversation)]


# -- official export ------------------------------------------------------------------------------

def normalize_export_conversation(data: Any, variant: str) -> list[Any]:
    """One conversation of ``conversations.json`` (a ``mapping`` tree) to records."""
    data = _object(data, "conversation")
    conversation_id = as_id(data.get("id"))
    if conversation_id is None:
        raise NormalizeError("conversation has no id")
    mapping = _object(data.get("mapping"), f"conversation {conversation_id}: mapping")
    unknown: list[str] = unknown_keys(data, CONVERSATION_KEYS, "conversation_key")
    tree = MappingTree(mapping)
    unknown += tree.unknown
    messages: list[Message] = []
    for key, node in tree.nodes.items():
        unknown += unknown_keys(node, NODE_KEYS, "node_key")
        message = node.get("message")
        if not tree.has_message(key):
            if message is not None:
                unknown.append(f"node_message:{type(message).__name__}")
            continue
        unknown += unknown_keys(message, EXPORT_MESSAGE_KEYS, "message_key")
        parts = from_fragments(message.get("fragments"), key)
        file_attachments(message.get("files"), parts, "files")
        unknown += parts.unknown
        parent, _ = tree.message_parent(key)
        messages.append(_build_message(key, parent, parts, role=None, model=message.get("model"),
                                       created=message.get("inserted_at"), raw=node))
    _infer_missing_roles(messages)
    title = data.get("title")
    conversation = Conversation(
        conversation_id=conversation_id,
        messages=messages,
        title=as_text(title),
        created_at=to_epoch(data.get("inserted_at")),
        updated_at=to_epoch(data.get("updated_at")),
        format_variant=variant,
        raw_message_count=count_export_messages(data),
        unknown_shapes=unknown,
        metadata={"plumbing_nodes": tree.plumbing_count()},
        raw=data,
    )
    return _finish(conversation, None)


def count_export_messages(data: dict[str, Any]) -> int:
    """Independent count for the ingest gate: mapping nodes whose ``message`` is a JSON object."""
    mapping = data.get("mapping")
    if not isinstance(mapping, dict):
        return 0
    return sum(1 for node in mapping.values() if isinstance(node, dict) and isinstance(node.get("message"), dict))


def _infer_missing_roles(messages: list[Message]) -> None:
    """Nodes whose fragments say nothing (empty, TIP only, unknown types) alternate with their parent."""
    by_id = {m.message_id: m for m in messages}
    for message in messages:
        if message.role != "unknown":
            continue
        parent = by_id.get(message.parent_id or "")
        message.role = "assistant" if parent is not None and parent.role == "user" else "user"
        message.metadata["role_inferred"] = True


# -- web API ------------------------------------------------------------------------------------

def _unwrap_api(data: Any) -> tuple[dict[str, Any], list[str]]:
    """The ``biz_data`` object of a saved history response (or the object itself when it is one)."""
    data = _object(data, "chat record")
    inner = data.get("data")
    if isinstance(inner, dict) and isinstance(inner.get("biz_data"), dict):
        return inner["biz_data"], []
    if "chat_session" in data or "chat_messages" in data:
        return data, []
    raise NormalizeError("chat record has neither data.biz_data nor chat_session/chat_messages")


def normalize_api_chat(data: Any, variant: str) -> list[Any]:
    """One saved web-API chat (``chat_session`` + ``chat_messages``) to records."""
    biz, unknown = _unwrap_api(data)
    session = _object(biz.get("chat_session"), "chat_session")
    conversation_id = as_id(session.get("id"))
    if conversation_id is None:
        raise NormalizeError("chat_session has no id")
    chat_messages = biz.get("chat_messages")
    if not isinstance(chat_messages, list):
        raise NormalizeError(f"chat {conversation_id}: chat_messages is missing or not a list")
    unknown += unknown_keys(biz, BIZ_KEYS, "biz_key")
    unknown += unknown_keys(session, SESSION_KEYS, "session_key")
    messages: list[Message] = []
    uses_fragments = False
    for index, item in enumerate(chat_messages):
        if not isinstance(item, dict):
            unknown.append(f"chat_message:{type(item).__name__}")
            continue
        unknown += unknown_keys(item, API_MESSAGE_KEYS, "message_key")
        message_id = as_id(item.get("message_id")) or f"index:{index}"
        raw_role = item.get("role")
        role = _API_ROLES.get(raw_role) if isinstance(raw_role, str) else None
        if role is None and isinstance(raw_role, str) and raw_role:
            role = raw_role.lower()
        if "fragments" in item:
            uses_fragments = True
            parts = from_fragments(item.get("fragments"), message_id)
        else:
            parts = from_flat(item, message_id, role or "assistant")
        file_attachments(item.get("files"), parts, "files")
        unknown += parts.unknown
        msg = _build_message(message_id, as_id(item.get("parent_id")), parts, role=role,
                             model=item.get("model"), created=item.get("inserted_at"), raw=item)
        msg.status = as_text(item.get("status"))
        usage = as_int(item.get("accumulated_token_usage"))
        if usage is not None:
            msg.usage = {"accumulated_token_usage": usage}
        for flag in ("thinking_enabled", "search_enabled"):
            if isinstance(item.get(flag), bool):
                msg.metadata[flag] = item[flag]
        if item.get("feedback") is not None:
            # Never seen non-null, so its shape is unknown: keep it visible rather than guess a rating.
            msg.metadata["feedback"] = item["feedback"]
            unknown.append("message_feedback")
        messages.append(msg)
    _infer_missing_roles(messages)
    title = session.get("title")
    metadata = {k: session[k] for k in ("agent", "seq_id", "title_type", "model_type", "version")
                if isinstance(session.get(k), (str, int)) and not isinstance(session.get(k), bool)}
    conversation = Conversation(
        conversation_id=conversation_id,
        messages=messages,
        title=as_text(title),
        created_at=to_epoch(session.get("inserted_at")),
        updated_at=to_epoch(session.get("updated_at")),
        format_variant=layout.API_FRAGMENTS if uses_fragments else layout.API_FLAT,
        raw_message_count=sum(1 for item in chat_messages if isinstance(item, dict)),
        unknown_shapes=unknown,
        metadata=metadata,
        raw=data,
    )
    return _finish(conversation, as_id(session.get("current_message_id")))


# -- side files ---------------------------------------------------------------------------------

def normalize_user(data: Any, context: dict[str, Any]) -> list[Any]:
    """``user.json`` (account details, all personal) to one ``SideRecord(kind="user", personal=True)``."""
    if context.get("error"):
        raise NormalizeError(f"user.json unreadable: {context['error']}")
    data = _object(data, "user.json")
    user_id = as_id(data.get("user_id"))
    record_id = f"user:{user_id}" if user_id else f"user:{fallback_id(data)}"
    return [SideRecord(kind="user", record_id=record_id, personal=True, data=data,
                       unknown_shapes=unknown_keys(data, USER_KEYS, "user_key"), raw=data)]


def normalize(raw: RawRecord) -> list[Any]:
    """Dispatch one raw record (``ProviderPlugin`` turns any stray exception into ``NormalizeError``)."""
    if raw.kind == "conversation":
        if raw.context.get("shape") == "api":
            return normalize_api_chat(raw.data, raw.variant or layout.API_FLAT)
        return normalize_export_conversation(raw.data, raw.variant or layout.OFFICIAL)
    if raw.kind == "side" and raw.context.get("side") == "user":
        return normalize_user(raw.data, raw.context)
    raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
