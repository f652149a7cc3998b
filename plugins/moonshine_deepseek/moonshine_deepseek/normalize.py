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

Both give ``Comparison(source="regeneration")`` for every prompt with two
or more assistant answers, the one on the active branch counted as chosen
(inferred).
"""

from __future__ import annotations

from typing import Any

from moonshine_core import trees
from moonshine_core.errors import NormalizeError
from moonshine_core.ids import content_sha256
from moonshine_core.records import Comparison, Conversation, Message, RawRecord, SideRecord
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


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _id(value: Any) -> str | None:
    """A provider id as a string (ints are stringified; anything else is not an id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int):
        return str(value)
    return None


def _add_unknown(found: list[str], shapes: list[str]) -> None:
    for shape in shapes:
        if shape not in found:
            found.append(shape)


def _unknown_keys(obj: dict[str, Any], known: frozenset[str], label: str) -> list[str]:
    return [f"{label}:{k}" for k in obj if k not in known]


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
        model=_str_or_none(model),
        created_at=to_epoch(created),
        metadata=metadata,
        raw=raw,
    )


def _finish(conversation: Conversation, pointer: str | None) -> list[Any]:
    """Repair the tree, choose the active leaf, and derive regeneration comparisons."""
    messages = conversation.messages
    repairs = trees.repair_tree(messages)
    if repairs:
        conversation.metadata["tree_repairs"] = repairs
    conversation.current_leaf_id, conversation.active_branch_inferred = trees.choose_active_leaf(messages, pointer)
    by_id = {m.message_id: m for m in messages}
    active_path = trees.path_to_root(messages, conversation.current_leaf_id or "")
    active = set(active_path)
    # The conversation's model is the one that answered last on the branch the user saw.
    conversation.model = next((by_id[i].model for i in reversed(active_path)
                               if by_id[i].role == "assistant" and by_id[i].model), None)
    records: list[Any] = [conversation]
    for prompt_id, kids in trees.children_map(messages).items():
        if prompt_id is None or by_id[prompt_id].role != "user":
            continue
        answers = [k for k in kids if by_id[k].role == "assistant"]
        if len(answers) < 2:
            continue
        chosen = [a for a in answers if a in active]
        records.append(Comparison(
            comparison_id=f"regen:{conversation.conversation_id}:{prompt_id}",
            source="regeneration",
            conversation_id=conversation.conversation_id,
            prompt_message_id=prompt_id,
            candidate_message_ids=answers,
            chosen_message_ids=chosen,
            rejected_message_ids=[a for a in answers if a not in chosen],
            chosen_is_inferred=True,
            created_at=max((by_id[a].created_at for a in answers if by_id[a].created_at is not None),
                           default=None),
        ))
    return records


# -- official export ------------------------------------------------------------------------------

def normalize_export_conversation(data: Any, variant: str) -> list[Any]:
    """One conversation of ``conversations.json`` (a ``mapping`` tree) to records."""
    if not isinstance(data, dict):
        raise NormalizeError(f"conversation is a {type(data).__name__}, not an object")
    conversation_id = _id(data.get("id"))
    if conversation_id is None:
        raise NormalizeError("conversation has no id")
    mapping = data.get("mapping")
    if not isinstance(mapping, dict):
        raise NormalizeError(f"conversation {conversation_id}: mapping is "
                             f"{'missing' if mapping is None else type(mapping).__name__}, not an object")
    unknown: list[str] = _unknown_keys(data, CONVERSATION_KEYS, "conversation_key")
    nodes: dict[str, dict[str, Any]] = {}
    for key, node in mapping.items():
        if isinstance(node, dict):
            nodes[key] = node
        else:
            _add_unknown(unknown, [f"node:{type(node).__name__}"])
    # Parent links: "parent" first; the parent's "children" list when "parent" is absent.
    parent_from_children: dict[str, str] = {}
    for key, node in nodes.items():
        children = node.get("children")
        if isinstance(children, list):
            for child in children:
                if isinstance(child, str):
                    parent_from_children.setdefault(child, key)
        elif children is not None:
            _add_unknown(unknown, [f"node_children:{type(children).__name__}"])

    def raw_parent(key: str) -> str | None:
        node = nodes[key]
        if "parent" in node:
            parent = node["parent"]
            if parent is not None and _id(parent) is None:
                _add_unknown(unknown, [f"node_parent:{type(parent).__name__}"])
            return _id(parent)
        return parent_from_children.get(key)

    has_message = {k for k, n in nodes.items() if isinstance(n.get("message"), dict)}

    def nearest_message_ancestor(key: str) -> str | None:
        seen = {key}
        parent = raw_parent(key)
        while parent is not None:
            if parent in has_message or parent not in nodes:
                return parent  # an id missing from the mapping stays; repair_tree records it as dangling
            if parent in seen:
                return None
            seen.add(parent)
            parent = raw_parent(parent)
        return None

    messages: list[Message] = []
    plumbing = 0
    for key, node in nodes.items():
        _add_unknown(unknown, _unknown_keys(node, NODE_KEYS, "node_key"))
        message = node.get("message")
        if not isinstance(message, dict):
            if message is not None:
                _add_unknown(unknown, [f"node_message:{type(message).__name__}"])
            plumbing += 1
            continue
        _add_unknown(unknown, _unknown_keys(message, EXPORT_MESSAGE_KEYS, "message_key"))
        parts = from_fragments(message.get("fragments"), key)
        file_attachments(message.get("files"), parts, "files")
        _add_unknown(unknown, parts.unknown)
        msg = _build_message(key, nearest_message_ancestor(key), parts, role=None,
                             model=message.get("model"), created=message.get("inserted_at"), raw=node)
        messages.append(msg)
    _infer_missing_roles(messages)
    title = data.get("title")
    conversation = Conversation(
        conversation_id=conversation_id,
        messages=messages,
        title=title if isinstance(title, str) else None,
        created_at=to_epoch(data.get("inserted_at")),
        updated_at=to_epoch(data.get("updated_at")),
        format_variant=variant,
        raw_message_count=count_export_messages(data),
        unknown_shapes=unknown,
        metadata={"plumbing_nodes": plumbing},
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
    if not isinstance(data, dict):
        raise NormalizeError(f"chat record is a {type(data).__name__}, not an object")
    inner = data.get("data")
    if isinstance(inner, dict) and isinstance(inner.get("biz_data"), dict):
        return inner["biz_data"], []
    if "chat_session" in data or "chat_messages" in data:
        return data, []
    raise NormalizeError("chat record has neither data.biz_data nor chat_session/chat_messages")


def normalize_api_chat(data: Any, variant: str) -> list[Any]:
    """One saved web-API chat (``chat_session`` + ``chat_messages``) to records."""
    biz, unknown = _unwrap_api(data)
    session = biz.get("chat_session")
    if not isinstance(session, dict):
        raise NormalizeError("chat_session is missing or not an object")
    conversation_id = _id(session.get("id"))
    if conversation_id is None:
        raise NormalizeError("chat_session has no id")
    chat_messages = biz.get("chat_messages")
    if not isinstance(chat_messages, list):
        raise NormalizeError(f"chat {conversation_id}: chat_messages is missing or not a list")
    _add_unknown(unknown, _unknown_keys(biz, BIZ_KEYS, "biz_key"))
    _add_unknown(unknown, _unknown_keys(session, SESSION_KEYS, "session_key"))
    messages: list[Message] = []
    uses_fragments = False
    for index, item in enumerate(chat_messages):
        if not isinstance(item, dict):
            _add_unknown(unknown, [f"chat_message:{type(item).__name__}"])
            continue
        _add_unknown(unknown, _unknown_keys(item, API_MESSAGE_KEYS, "message_key"))
        message_id = _id(item.get("message_id")) or f"index:{index}"
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
        _add_unknown(unknown, parts.unknown)
        msg = _build_message(message_id, _id(item.get("parent_id")), parts, role=role,
                             model=item.get("model"), created=item.get("inserted_at"), raw=item)
        status = item.get("status")
        msg.status = status if isinstance(status, str) else None
        usage = item.get("accumulated_token_usage")
        if isinstance(usage, int) and not isinstance(usage, bool):
            msg.usage = {"accumulated_token_usage": usage}
        for flag in ("thinking_enabled", "search_enabled"):
            if isinstance(item.get(flag), bool):
                msg.metadata[flag] = item[flag]
        if item.get("feedback") is not None:
            # Never seen non-null, so its shape is unknown: keep it visible rather than guess a rating.
            msg.metadata["feedback"] = item["feedback"]
            _add_unknown(unknown, ["message_feedback"])
        messages.append(msg)
    _infer_missing_roles(messages)
    title = session.get("title")
    metadata = {k: session[k] for k in ("agent", "seq_id", "title_type", "model_type", "version")
                if isinstance(session.get(k), (str, int)) and not isinstance(session.get(k), bool)}
    conversation = Conversation(
        conversation_id=conversation_id,
        messages=messages,
        title=title if isinstance(title, str) else None,
        created_at=to_epoch(session.get("inserted_at")),
        updated_at=to_epoch(session.get("updated_at")),
        format_variant=layout.API_FRAGMENTS if uses_fragments else layout.API_FLAT,
        raw_message_count=sum(1 for item in chat_messages if isinstance(item, dict)),
        unknown_shapes=unknown,
        metadata=metadata,
        raw=data,
    )
    return _finish(conversation, _id(session.get("current_message_id")))


# -- side files ---------------------------------------------------------------------------------

def normalize_user(data: Any, context: dict[str, Any]) -> list[Any]:
    """``user.json`` (account details, all personal) to one ``SideRecord(kind="user", personal=True)``."""
    if context.get("error"):
        raise NormalizeError(f"user.json unreadable: {context['error']}")
    if not isinstance(data, dict):
        raise NormalizeError(f"user.json is a {type(data).__name__}, not an object")
    user_id = _id(data.get("user_id"))
    record_id = f"user:{user_id}" if user_id else f"user:sha256:{content_sha256(data)[:16]}"
    return [SideRecord(kind="user", record_id=record_id, personal=True, data=data,
                       unknown_shapes=_unknown_keys(data, USER_KEYS, "user_key"), raw=data)]


def normalize(raw: RawRecord) -> list[Any]:
    """Dispatch one raw record; raises only :class:`NormalizeError`."""
    try:
        if raw.kind == "conversation":
            if raw.context.get("shape") == "api":
                return normalize_api_chat(raw.data, raw.variant or layout.API_FLAT)
            return normalize_export_conversation(raw.data, raw.variant or layout.OFFICIAL)
        if raw.kind == "side" and raw.context.get("side") == "user":
            return normalize_user(raw.data, raw.context)
        raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
    except NormalizeError:
        raise
    except RecursionError as exc:
        raise NormalizeError("record is nested too deeply") from exc
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as exc:
        # A shape we did not foresee must cost one record, never the run.
        raise NormalizeError(f"unexpected shape: {type(exc).__name__}: {exc}") from exc
