"""Conversation-tree helpers shared by every provider plugin and the gates.

Exports describe trees through parent pointers that are not always sound:
parents that are missing from the export, cycles, duplicate ids. Plugins call
:func:`repair_tree` after building their messages so the stored tree is always
a forest with no dangling parent and no cycle (what was repaired is recorded in
each message's ``metadata`` and returned), then :func:`choose_active_leaf` to
pick the branch the user last saw.
"""

from __future__ import annotations

from collections.abc import Sequence

from .records import Message


def children_map(messages: Sequence[Message]) -> dict[str | None, list[str]]:
    """Children of every node (key ``None`` holds the roots), in list order."""
    ids = {m.message_id for m in messages}
    children: dict[str | None, list[str]] = {None: []}
    for message in messages:
        parent = message.parent_id if message.parent_id in ids else None
        children.setdefault(parent, []).append(message.message_id)
    return children


def check_tree(messages: Sequence[Message]) -> list[str]:
    """Problems that make a message list not a sound forest (empty when it is).

    Reports duplicate ids, parents missing from the list, self-parenting and
    cycles. The raw-only ingest gate and the plugin contract suite use it.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for message in messages:
        if message.message_id in seen:
            problems.append(f"duplicate message id {message.message_id!r}")
        seen.add(message.message_id)
    parent_of = {m.message_id: m.parent_id for m in messages}
    for message in messages:
        if message.parent_id is not None and message.parent_id not in parent_of:
            problems.append(f"message {message.message_id!r} has dangling parent {message.parent_id!r}")
    for node in sorted(_on_cycles(parent_of)):
        problems.append(f"message {node!r} is on a parent cycle")
    return problems


def _on_cycles(parent_of: dict[str, str | None]) -> set[str]:
    """Nodes that lie on a parent cycle, in one pass (each node is walked once)."""
    done: set[str] = set()
    cyclic: set[str] = set()
    for start in parent_of:
        walk: list[str] = []
        position: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in parent_of and node not in done:
            if node in position:
                cyclic.update(walk[position[node]:])
                break
            position[node] = len(walk)
            walk.append(node)
            node = parent_of[node]
        done.update(walk)
    return cyclic


def repair_tree(messages: list[Message]) -> list[str]:
    """Make ``messages`` a sound forest in place; return what was repaired.

    - a duplicate id keeps its first occurrence; later ones get ``#2``, ``#3``
      suffixes (``metadata['duplicate_of']`` names the original id);
    - a parent missing from the list becomes ``None`` (``metadata['dangling_parent']``);
    - a cycle is broken at the member that appears first in the list, which
      becomes a root (``metadata['cycle_broken_parent']``).
    """
    repairs: list[str] = []
    counts: dict[str, int] = {}
    for message in messages:
        n = counts.get(message.message_id, 0) + 1
        counts[message.message_id] = n
        if n > 1:
            original = message.message_id
            message.message_id = f"{original}#{n}"
            message.metadata["duplicate_of"] = original
            repairs.append(f"duplicate id {original!r} renamed {message.message_id!r}")
    ids = {m.message_id for m in messages}
    for message in messages:
        if message.parent_id is not None and message.parent_id not in ids:
            message.metadata["dangling_parent"] = message.parent_id
            repairs.append(f"message {message.message_id!r}: dangling parent {message.parent_id!r} dropped")
            message.parent_id = None
        elif message.parent_id == message.message_id:
            message.metadata["cycle_broken_parent"] = message.parent_id
            repairs.append(f"message {message.message_id!r}: self-parent dropped")
            message.parent_id = None
    # One pass over the forest: walking up from each unvisited node either reaches a root,
    # a node already known to be sound, or a node on the current walk (a cycle, broken
    # at the first of its members in list order).
    by_id = {m.message_id: m for m in messages}
    order = {m.message_id: i for i, m in enumerate(messages)}
    sound: set[str] = set()
    for message in messages:
        walk: list[str] = []
        on_walk: set[str] = set()
        node: str | None = message.message_id
        while node is not None and node not in sound:
            if node in on_walk:
                cycle = walk[walk.index(node):]
                first = min(cycle, key=order.__getitem__)
                by_id[first].metadata["cycle_broken_parent"] = by_id[first].parent_id
                repairs.append(f"message {first!r}: parent cycle broken")
                by_id[first].parent_id = None
                break
            walk.append(node)
            on_walk.add(node)
            node = by_id[node].parent_id
        sound.update(walk)
    return repairs


def path_to_root(messages: Sequence[Message], leaf_id: str) -> list[str]:
    """Ids from the root down to ``leaf_id`` (empty if the id is unknown). Safe on cycles."""
    parent_of = {m.message_id: m.parent_id for m in messages}
    if leaf_id not in parent_of:
        return []
    path: list[str] = []
    seen: set[str] = set()
    node: str | None = leaf_id
    while node is not None and node in parent_of and node not in seen:
        seen.add(node)
        path.append(node)
        node = parent_of[node]
    path.reverse()
    return path


def leaves(messages: Sequence[Message]) -> list[str]:
    """Ids of messages that have no children, in list order."""
    has_child = {m.parent_id for m in messages if m.parent_id is not None}
    return [m.message_id for m in messages if m.message_id not in has_child]


def latest_leaf(messages: Sequence[Message]) -> str | None:
    """The leaf with the latest ``created_at``; ties (and missing times) go to the later one in the list."""
    leaf_ids = set(leaves(messages))
    best: tuple[float, int] | None = None
    best_id: str | None = None
    for index, message in enumerate(messages):
        if message.message_id not in leaf_ids:
            continue
        key = (message.created_at if message.created_at is not None else float("-inf"), index)
        if best is None or key >= best:
            best, best_id = key, message.message_id
    return best_id


def choose_active_leaf(messages: Sequence[Message], pointer: str | None) -> tuple[str | None, bool]:
    """The leaf of the branch the user last saw, and whether it was inferred.

    ``pointer`` is the export's own marker (ChatGPT ``current_node``, Qwen
    ``currentId``); when it is missing or names no message, the latest leaf is
    taken and the result is flagged as inferred.
    """
    ids = {m.message_id for m in messages}
    if pointer is not None and pointer in ids:
        return pointer, False
    return latest_leaf(messages), True


def link_by_time(messages: list[Message]) -> None:
    """Chain messages that have no parent links into one branch ordered by time.

    Sorts in place by ``created_at`` with the original list position as the
    stable tie-break (messages without a time keep their place after timed
    ones with the same neighbours), then points each message at the previous
    one. The caller sets ``Conversation.order_inferred``.
    """
    indexed = list(enumerate(messages))
    indexed.sort(key=lambda pair: (pair[1].created_at if pair[1].created_at is not None else float("inf"), pair[0]))
    messages[:] = [m for _, m in indexed]
    previous: str | None = None
    for message in messages:
        message.parent_id = previous
        previous = message.message_id
