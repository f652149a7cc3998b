"""Branch helpers: the active leaf under the export's last message, and regeneration comparisons."""

from __future__ import annotations

from moonshine_core.provider import regeneration_comparisons
from moonshine_core.records import Comparison, Conversation, Message
from moonshine_core.trees import children_map


def in_main_chain(message: Message) -> bool:
    """Whether a message belongs to the user's own turn: Claude Code sidechain (sub-agent) messages do not."""
    return not message.metadata.get("is_sidechain")


def regenerations(conversation: Conversation) -> list[Comparison]:
    """The conversation's regeneration comparisons (claude.ai retries, Claude Code rewinds).

    The toolkit's one rule (``moonshine_core.trees.regeneration_forks``);
    Claude's only quirk is that sidechain (sub-agent) messages are not
    alternatives of the turn they sit in.
    """
    return regeneration_comparisons(conversation, in_turn=in_main_chain)


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
