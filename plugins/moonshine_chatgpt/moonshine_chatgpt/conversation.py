"""One raw ChatGPT conversation -> a :class:`Conversation` tree plus its in-tree comparisons.

Tree rules (format notes section 3):

- children are rebuilt from ``parent`` pointers (2026 exports drop
  ``children``); ``children`` lists are used only for a node that has no
  ``parent`` key at all;
- only nodes WITH a message become messages. The null-message root is not a
  message; a message whose parent has no message is linked to the nearest
  ancestor that has one (``metadata['linked_past']`` lists the skipped node
  ids), or becomes a root;
- dangling parents and cycles are repaired by :func:`moonshine_core.trees.repair_tree`;
- the active branch ends at ``current_node`` (mapped to its nearest message
  ancestor when that node has no message); when it is missing the latest leaf
  is taken and ``active_branch_inferred`` is set.

Preference signal found in the tree (section 3): ``paragen_variant_choice``
("Which response do you prefer?") becomes ``Comparison(source="paragen")``;
other prompts with two or more alternative answers become
``Comparison(source="regeneration")``. Alternatives are found by looking
through hidden system nodes, reasoning and tool traffic down to each final
visible assistant answer of the turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.records import Comparison, Conversation, Message, Record
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, path_to_root, repair_tree

from .content import build_message

#: Conversation keys seen in exports 2023-2026 (format notes section 2); others are reported.
KNOWN_CONVERSATION_KEYS = frozenset({
    "id", "conversation_id", "title", "create_time", "update_time", "mapping", "current_node",
    "moderation_results", "plugin_ids", "conversation_template_id", "gizmo_id", "gizmo_type",
    "default_model_slug", "is_archived", "is_starred", "pinned_time", "is_read_only", "is_study_mode",
    "is_do_not_remember", "safe_urls", "blocked_urls", "voice", "async_status", "disabled_tool_ids",
    "conversation_origin", "memory_scope", "context_scopes", "sugar_item_id", "sugar_item_visible", "owner",
    "atlas_mode_enabled",
})
KNOWN_NODE_KEYS = frozenset({"id", "message", "parent", "children"})
#: Conversation fields copied into ``Conversation.metadata`` (small, useful to lanes and reports).
_METADATA_KEYS = ("gizmo_id", "gizmo_type", "conversation_template_id", "is_archived", "is_starred",
                  "voice", "memory_scope", "conversation_origin", "plugin_ids", "is_study_mode")


def conversation_id_of(data: dict) -> str | None:
    """``conversation_id`` (2023-09+) or ``id`` (every era)."""
    for key in ("conversation_id", "id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def era_of(data: dict, mapping: dict) -> str:
    """Which export era the conversation object looks like (reported as ``format_variant``)."""
    nodes = [n for n in mapping.values() if isinstance(n, dict)]
    messages = [n["message"] for n in nodes if isinstance(n.get("message"), dict)]
    if nodes and all("children" not in n for n in nodes) or (
            messages and all("status" not in m and "recipient" not in m for m in messages)):
        return "2026-slim"
    keys = list(data)
    if len(keys) > 3 and keys == sorted(keys):
        return "2026-sorted"
    if "conversation_id" not in data:
        return "2023"
    return "2023-2025"


def _parents(mapping: dict, unknown: list[str]) -> dict[str, str | None]:
    parent_of: dict[str, str | None] = {}
    from_children: dict[str, str] = {}
    for key, node in mapping.items():
        if isinstance(node, dict) and isinstance(node.get("children"), list):
            for child in node["children"]:
                if isinstance(child, str):
                    from_children.setdefault(child, key)
    for key, node in mapping.items():
        if not isinstance(node, dict):
            parent_of[key] = None
            continue
        if "parent" not in node:
            parent_of[key] = from_children.get(key)
            continue
        parent = node.get("parent")
        if parent is not None and not isinstance(parent, str):
            unknown.append(f"parent_type:{type(parent).__name__}")
            parent = None
        parent_of[key] = parent
    return parent_of


def _has_message(mapping: dict, key: str) -> bool:
    node = mapping.get(key)
    return isinstance(node, dict) and node.get("message") is not None


def _message_ancestor(start: str | None, mapping: dict, parent_of: dict[str, str | None]) -> tuple[str | None, list[str]]:
    """Nearest node from ``start`` upwards that has a message; also the message-less nodes passed.

    A parent id missing from the mapping is returned as is (``repair_tree``
    records and drops it); a loop of message-less nodes ends the walk.
    """
    skipped: list[str] = []
    seen: set[str] = set()
    node = start
    while node is not None:
        if node not in mapping or _has_message(mapping, node):
            return node, skipped
        if node in seen:
            return None, skipped
        seen.add(node)
        skipped.append(node)
        node = parent_of.get(node)
    return None, skipped


def _tree_order(messages: list[Message]) -> list[Message]:
    """Messages in depth-first order from the roots, children by creation time (stable positions)."""
    index = {m.message_id: i for i, m in enumerate(messages)}
    children: dict[str | None, list[Message]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message)

    def key(m: Message) -> tuple:
        return (m.created_at is None, m.created_at or 0.0, index[m.message_id])

    ordered: list[Message] = []
    seen: set[str] = set()
    stack = sorted(children.get(None, []), key=key, reverse=True)
    while stack:
        message = stack.pop()
        if message.message_id in seen:
            continue
        seen.add(message.message_id)
        ordered.append(message)
        stack.extend(sorted(children.get(message.message_id, []), key=key, reverse=True))
    ordered.extend(m for m in messages if m.message_id not in seen)
    return ordered


def build_conversation(data: Any, *, variant: str | None = None) -> tuple[Conversation, list[Comparison]]:
    """The conversation record and its in-tree comparisons (raises :class:`NormalizeError` when unusable)."""
    if not isinstance(data, dict):
        raise NormalizeError(f"conversation is a {type(data).__name__}, not an object")
    conversation_id = conversation_id_of(data)
    if conversation_id is None:
        raise NormalizeError("conversation has neither conversation_id nor id")
    mapping = data.get("mapping")
    if not isinstance(mapping, dict):
        raise NormalizeError(f"conversation {conversation_id}: mapping is "
                             f"{'missing' if mapping is None else type(mapping).__name__}, not an object")
    unknown: list[str] = [f"conversation_field:{k}" for k in data if k not in KNOWN_CONVERSATION_KEYS]
    parent_of = _parents(mapping, unknown)
    messages: list[Message] = []
    raw_count = 0
    for key, node in mapping.items():
        if not isinstance(node, dict):
            unknown.append(f"node_type:{type(node).__name__}")
            continue
        unknown.extend(f"node_field:{k}" for k in node if k not in KNOWN_NODE_KEYS)
        if node.get("message") is None:
            continue
        raw_count += 1
        parent, skipped = _message_ancestor(parent_of.get(key), mapping, parent_of)
        message, shapes = build_message(key, parent, node["message"])
        unknown.extend(shapes)
        # The root placeholder is always skipped; only other message-less hops are worth recording.
        passed = [s for s in skipped if parent_of.get(s) is not None]
        if passed:
            message.metadata["linked_past"] = passed
        messages.append(message)

    repairs = repair_tree(messages)
    messages = _tree_order(messages)
    pointer = data.get("current_node") if isinstance(data.get("current_node"), str) else None
    if pointer is not None and pointer in mapping and not _has_message(mapping, pointer):
        pointer, _ = _message_ancestor(pointer, mapping, parent_of)
    leaf, inferred = choose_active_leaf(messages, pointer)

    default_model = data.get("default_model_slug") if isinstance(data.get("default_model_slug"), str) else None
    seen_models = Counter(m.model for m in messages if m.model and m.role == "assistant")
    conversation_model = default_model or (seen_models.most_common(1)[0][0] if seen_models else None)
    for message in messages:
        if message.role == "assistant" and message.model is None and conversation_model:
            message.model = conversation_model
            message.model_inferred = True

    metadata: dict[str, Any] = {k: data[k] for k in _METADATA_KEYS if data.get(k) not in (None, [], {})}
    if repairs:
        metadata["tree_repairs"] = repairs
    if inferred and isinstance(data.get("current_node"), str):
        metadata["current_node_unusable"] = data["current_node"]
    conversation = Conversation(
        conversation_id=conversation_id,
        messages=messages,
        title=data.get("title") if isinstance(data.get("title"), str) else None,
        created_at=to_epoch(data.get("create_time")),
        updated_at=to_epoch(data.get("update_time")),
        model=conversation_model,
        current_leaf_id=leaf,
        active_branch_inferred=inferred,
        format_variant=era_of(data, mapping) + (f" ({variant})" if variant else ""),
        raw_message_count=raw_count,
        unknown_shapes=sorted(set(unknown)),
        metadata=metadata,
        raw=data,
    )
    _link_reasoning(conversation)
    _pair_tool_results(conversation)
    return conversation, tree_comparisons(conversation)


# -- derived links -----------------------------------------------------------------


def _by_id(messages: Sequence[Message]) -> dict[str, Message]:
    return {m.message_id: m for m in messages}


def _children(messages: Sequence[Message]) -> dict[str | None, list[str]]:
    children: dict[str | None, list[str]] = {}
    for message in messages:
        children.setdefault(message.parent_id, []).append(message.message_id)
    return children


def _pair_tool_results(conversation: Conversation) -> None:
    """Point each tool result at the call it answers: the nearest tool-calling ancestor in the turn."""
    by_id = _by_id(conversation.messages)
    for message in conversation.messages:
        if not message.tool_results:
            continue
        node, steps = message.parent_id, 0
        while node is not None and node in by_id and steps < 6:
            ancestor = by_id[node]
            if ancestor.role == "user":
                break
            if ancestor.tool_calls:
                for result in message.tool_results:
                    result.call_id = ancestor.tool_calls[0].call_id
                break
            node, steps = ancestor.parent_id, steps + 1


def _link_reasoning(conversation: Conversation) -> None:
    """Name, on each visible answer, the reasoning (``thoughts``) nodes of its turn that precede it."""
    by_id = _by_id(conversation.messages)
    for message in conversation.messages:
        if not is_answer(message):
            continue
        found: list[str] = []
        node = message.parent_id
        seen: set[str] = set()
        while node is not None and node in by_id and node not in seen:
            seen.add(node)
            ancestor = by_id[node]
            if ancestor.role == "user" or is_answer(ancestor):
                break
            if ancestor.reasoning:
                found.append(ancestor.message_id)
            node = ancestor.parent_id
        if found:
            message.metadata["reasoning_message_ids"] = list(reversed(found))


def is_answer(message: Message) -> bool:
    """A visible assistant message with something to show."""
    return message.role == "assistant" and not message.hidden and bool(message.text.strip() or message.attachments)


def turn_answers(prompt_id: str, children: dict[str | None, list[str]], by_id: dict[str, Message]) -> list[str]:
    """Final visible assistant answers reachable from a prompt without crossing another user message.

    One per alternative: an answer counts when no visible answer follows it in
    its own branch of the turn (so commentary + final, or a continuation,
    count once). Hidden system nodes, reasoning and tool traffic are looked
    through.
    """
    order: list[str] = []
    stack = list(reversed(children.get(prompt_id, [])))
    seen: set[str] = set()
    while stack:
        node = stack.pop()
        if node in seen or node not in by_id or by_id[node].role == "user":
            continue
        seen.add(node)
        order.append(node)
        stack.extend(reversed(children.get(node, [])))
    below: dict[str, bool] = {}
    for node in reversed(order):
        below[node] = any(
            child in below and (below[child] or is_answer(by_id[child])) for child in children.get(node, []))
    return [node for node in order if is_answer(by_id[node]) and not below[node]]


def answer_below(start_id: str, conversation: Conversation, active: set[str] | None = None) -> str | None:
    """The final visible answer of the turn branch that starts at ``start_id``.

    Used to resolve comparison ids (which name the first message of a
    response) to the answer a lane needs. At a fork the branch on the active
    path wins, else the latest-created one.
    """
    by_id = _by_id(conversation.messages)
    if start_id not in by_id:
        return None
    children = _children(conversation.messages)
    if active is None:
        active = set(path_to_root(conversation.messages, conversation.current_leaf_id or ""))
    node: str | None = start_id
    best = start_id if is_answer(by_id[start_id]) else None
    seen: set[str] = set()
    while node is not None and node not in seen:
        seen.add(node)
        options = [c for c in children.get(node, []) if by_id[c].role != "user"]
        if not options:
            break
        on_path = [c for c in options if c in active]
        node = on_path[0] if on_path else max(options, key=lambda c: (by_id[c].created_at or 0.0))
        if is_answer(by_id[node]):
            best = node
    return best


def prompt_of(message_id: str, conversation: Conversation) -> str | None:
    """The nearest user message at or above ``message_id``."""
    by_id = _by_id(conversation.messages)
    node: str | None = message_id
    seen: set[str] = set()
    while node is not None and node in by_id and node not in seen:
        seen.add(node)
        if by_id[node].role == "user":
            return node
        node = by_id[node].parent_id
    return None


def tree_comparisons(conversation: Conversation) -> list[Comparison]:
    """``paragen`` choices and ``regeneration`` sibling answers found in the tree."""
    by_id = _by_id(conversation.messages)
    children = _children(conversation.messages)
    active = set(path_to_root(conversation.messages, conversation.current_leaf_id or ""))
    cid = conversation.conversation_id
    found: list[Comparison] = []
    paragen_prompts: set[str] = set()
    for message in conversation.messages:
        choice = message.metadata.get("paragen_variant_choice")
        if not isinstance(choice, str):
            continue
        prompt = message.message_id if message.role == "user" else prompt_of(message.message_id, conversation)
        if prompt is None or prompt in paragen_prompts:
            continue
        paragen_prompts.add(prompt)
        answers = turn_answers(prompt, children, by_id)
        chosen = [a for a in answers if choice in path_to_root(conversation.messages, a)]
        if not chosen:
            chosen = [choice]
        found.append(Comparison(
            comparison_id=f"paragen:{cid}:{prompt}",
            source="paragen",
            conversation_id=cid,
            prompt_message_id=prompt,
            candidate_message_ids=answers or chosen,
            chosen_message_ids=chosen,
            rejected_message_ids=[a for a in answers if a not in chosen],
            chosen_is_inferred=False,
            rating="chosen",
            metadata={"paragen_variant_choice": choice,
                      "paragen_variants_info": message.metadata.get("paragen_variants_info"),
                      "choice_on_active_branch": choice in active},
        ))
    for message in conversation.messages:
        if message.role != "user" or message.message_id in paragen_prompts:
            continue
        answers = turn_answers(message.message_id, children, by_id)
        if len(answers) < 2:
            continue
        chosen = [a for a in answers if a in active]
        found.append(Comparison(
            comparison_id=f"regen:{cid}:{message.message_id}",
            source="regeneration",
            conversation_id=cid,
            prompt_message_id=message.message_id,
            candidate_message_ids=answers,
            chosen_message_ids=chosen,
            rejected_message_ids=[a for a in answers if a not in chosen],
            chosen_is_inferred=True,
            created_at=max((by_id[a].created_at for a in answers if by_id[a].created_at is not None), default=None),
        ))
    return found


def normalize_conversation(data: Any, *, variant: str | None = None) -> list[Record]:
    """``[Conversation, *Comparison]`` for one raw conversation object."""
    conversation, comparisons = build_conversation(data, variant=variant)
    return [conversation, *comparisons]
