"""Branch helpers: the active leaf under the export's last message, and regeneration comparisons."""

from __future__ import annotations

from moonshine_core.records import Comparison, Message
from moonshine_core.trees import children_map, path_to_root


def regeneration_comparisons(conversation_id: str, messages: list[Message],
                             current_leaf_id: str | None) -> list[Comparison]:
    """One ``regeneration`` comparison per prompt that has several visible assistant children.

    Retries on claude.ai (and rewinds in Claude Code) leave sibling assistant
    answers under one parent; the sibling on the active branch is taken as
    chosen (inferred: the user continued from it), the others as rejected.
    Sidechain (sub-agent) messages are not answers to the prompt and are left out.
    """
    by_id = {m.message_id: m for m in messages}
    active = set(path_to_root(messages, current_leaf_id)) if current_leaf_id else set()
    siblings: dict[str, list[str]] = {}
    for message in messages:
        parent = by_id.get(message.parent_id) if message.parent_id else None
        if parent is None or parent.role not in ("user", "tool"):
            continue
        if message.role != "assistant" or message.hidden or message.metadata.get("is_sidechain"):
            continue
        siblings.setdefault(parent.message_id, []).append(message.message_id)
    out = []
    for prompt_id, candidates in siblings.items():
        if len(candidates) < 2:
            continue
        chosen = [c for c in candidates if c in active]
        out.append(Comparison(
            comparison_id=f"regen:{conversation_id}:{prompt_id}", source="regeneration",
            conversation_id=conversation_id, prompt_message_id=prompt_id,
            candidate_message_ids=list(candidates), chosen_message_ids=chosen,
            rejected_message_ids=[c for c in candidates if c not in chosen], chosen_is_inferred=True,
            created_at=by_id[candidates[-1]].created_at,
        ))
    return out


def leaf_under(messages: list[Message], start: str) -> str:
    """``start`` if it is a leaf, else the leaf reached by following the newest child down."""
    children = children_map(messages)
    by_id = {m.message_id: m for m in messages}
    node, seen = start, set()
    while children.get(node) and node not in seen:
        seen.add(node)
        kids = children[node]
        node = max(kids, key=lambda c: (by_id[c].created_at if by_id[c].created_at is not None
                                        else float("-inf"), kids.index(c)))
    return node
