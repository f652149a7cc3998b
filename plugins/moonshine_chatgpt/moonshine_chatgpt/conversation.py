"""One raw ChatGPT conversation -> a :class:`Conversation` tree plus its in-tree comparisons.

Tree rules (docs/formats/chatgpt.md §4.1-4.2, §11):

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

Preference signal found in the tree (docs/formats/chatgpt.md §4.3-4.4): ``paragen_variant_choice``
("Which response do you prefer?") becomes ``Comparison(source="paragen")``,
its candidates being the alternatives of the regeneration fork the choice
belongs to; every other fork where the user asked again becomes
``Comparison(source="regeneration")`` by the core's one rule
(:func:`moonshine_core.provider.regeneration_comparisons`: hidden system
nodes, reasoning and tool traffic are looked through down to each
alternative's final visible answer).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import MappingTree, as_id, as_str, as_text, regeneration_comparisons, unknown_keys
from moonshine_core.records import Comparison, Conversation, Message, Record
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import (ConversationTree, RegenerationFork, choose_active_leaf, is_visible_answer,
                                  regeneration_forks, repair_tree)

from .content import build_message
from .profile import profile_records

#: Conversation keys seen in exports 2023-2026 (docs/formats/chatgpt.md §3); others are reported.
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
    return as_id(data.get("conversation_id")) or as_id(data.get("id"))


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


def _carries_message(node: dict) -> bool:
    """ChatGPT's rule: any non-null ``message`` makes a message (a malformed one is kept as such)."""
    return node.get("message") is not None


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
    tree = MappingTree(mapping, has_message=_carries_message)
    unknown: list[str] = unknown_keys(data, KNOWN_CONVERSATION_KEYS, "conversation_field") + tree.unknown
    for node in tree.nodes.values():
        unknown.extend(unknown_keys(node, KNOWN_NODE_KEYS, "node_field"))
    messages: list[Message] = []
    for key, node in tree.message_nodes():
        parent, passed = tree.message_parent(key)
        message, shapes = build_message(key, parent, node["message"])
        unknown.extend(shapes)
        if passed:
            message.metadata["linked_past"] = passed
        messages.append(message)
    raw_count = len(tree.nodes) - tree.plumbing_count()

    repairs = repair_tree(messages)
    messages = _tree_order(messages)
    pointer = as_id(data.get("current_node"))
    if pointer is not None and pointer in tree.nodes and not tree.has_message(pointer):
        pointer, _ = tree.nearest_message(pointer)
    leaf, inferred = choose_active_leaf(messages, pointer)

    default_model = as_str(data.get("default_model_slug"))
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
        title=as_text(data.get("title")),
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
    links = ConversationTree(conversation)
    _link_reasoning(links)
    _pair_tool_results(links)
    return conversation, tree_comparisons(conversation, links)


# -- derived links -----------------------------------------------------------------


def _pair_tool_results(tree: ConversationTree) -> None:
    """Point each tool result at the call it answers: the nearest tool-calling ancestor in the turn.

    The walk goes up however many steps it takes (a browser call can be answered by a long chain of
    result messages, each the child of the previous one) and stops at the user's turn; a result with no
    tool-calling ancestor in its turn keeps no call id.
    """
    by_id = tree.by_id
    for message in tree.conversation.messages:
        if not message.tool_results:
            continue
        node = message.parent_id
        seen: set[str] = set()
        while node is not None and node in by_id and node not in seen:
            seen.add(node)
            ancestor = by_id[node]
            if ancestor.role == "user":
                break
            if ancestor.tool_calls:
                for result in message.tool_results:
                    result.call_id = ancestor.tool_calls[0].call_id
                break
            node = ancestor.parent_id


def _link_reasoning(tree: ConversationTree) -> None:
    """Name, on each visible answer, the reasoning (``thoughts``) nodes of its turn that precede it."""
    by_id = tree.by_id
    for message in tree.conversation.messages:
        if not is_visible_answer(message):
            continue
        found: list[str] = []
        node = message.parent_id
        seen: set[str] = set()
        while node is not None and node in by_id and node not in seen:
            seen.add(node)
            ancestor = by_id[node]
            if ancestor.role == "user" or is_visible_answer(ancestor):
                break
            if ancestor.reasoning:
                found.append(ancestor.message_id)
            node = ancestor.parent_id
        if found:
            message.metadata["reasoning_message_ids"] = list(reversed(found))


def prompt_of(tree: ConversationTree, message_id: str) -> str | None:
    """The nearest user message at or above ``message_id``."""
    return next((i for i in reversed(tree.path(message_id)) if tree.by_id[i].role == "user"), None)


# -- comparisons found in the tree ---------------------------------------------------


def _paragen_fork(tree: ConversationTree, forks: dict[str, RegenerationFork], prompt: str,
                  choice: str) -> RegenerationFork | None:
    """The fork the paragen variants hang from: the first one from the prompt down to the chosen variant."""
    path = tree.path(choice)
    if prompt in path:
        for node in path[path.index(prompt):-1]:
            if node in forks:
                return forks[node]
    return forks.get(prompt)


def paragen_comparisons(conversation: Conversation, tree: ConversationTree) -> tuple[list[Comparison], set[str]]:
    """``paragen`` choices, and the messages whose regeneration fork they already cover.

    The candidates are the alternatives of the regeneration fork the choice
    belongs to (:func:`moonshine_core.trees.regeneration_forks`); the chosen
    answer is the one whose branch contains the chosen id, whatever
    ``current_node`` says.
    """
    cid = conversation.conversation_id
    found: list[Comparison] = []
    prompts: set[str] = set()
    covered: set[str] = set()
    forks: dict[str, RegenerationFork] | None = None
    for message in conversation.messages:
        choice = as_id(message.metadata.get("paragen_variant_choice"))
        if choice is None:
            continue
        prompt = prompt_of(tree, message.message_id)
        if prompt is None or prompt in prompts:
            continue
        prompts.add(prompt)
        if forks is None:
            forks = {f.prompt_id: f for f in regeneration_forks(conversation, tree=tree)}
        fork = _paragen_fork(tree, forks, prompt, choice)
        answers = list(fork.answers) if fork is not None else []
        # A prompt with a paragen choice gets no second, regeneration record.
        covered.update([prompt, fork.prompt_id] if fork is not None else [prompt])
        chosen = [a for a in answers if choice in tree.path(a)] or [choice]
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
                      "choice_on_active_branch": choice in tree.active},
        ))
    return found, covered


def tree_comparisons(conversation: Conversation, tree: ConversationTree | None = None) -> list[Comparison]:
    """``paragen`` choices, then one ``regeneration`` comparison per other fork where the user asked again."""
    tree = tree or ConversationTree(conversation)
    paragen, covered = paragen_comparisons(conversation, tree)
    return paragen + regeneration_comparisons(conversation, skip_prompts=covered, tree=tree)


def normalize_conversation(data: Any, *, variant: str | None = None) -> list[Record]:
    """``[Conversation, *Comparison, *SideRecord]`` for one raw conversation object; the side records
    are its custom instructions and memory, personal (:mod:`.profile`)."""
    conversation, comparisons = build_conversation(data, variant=variant)
    return [conversation, *comparisons, *profile_records(conversation)]
