"""Conversation-tree helpers shared by every provider plugin and the gates.

Exports describe trees through parent pointers that are not always sound:
parents that are missing from the export, cycles, duplicate ids. Plugins call
:func:`repair_tree` after building their messages so the stored tree is always
a forest with no dangling parent and no cycle (what was repaired is recorded in
each message's ``metadata`` and returned), then :func:`choose_active_leaf` to
pick the branch the user last saw.

:class:`ConversationTree` navigates a finished conversation, and
:func:`regeneration_forks` is the one definition of "the user asked again"
that provider plugins (through :mod:`moonshine_core.provider`) and lanes share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from .records import Conversation, Message


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


class ConversationTree:
    """Read-only navigation over one conversation's messages: parents, children, the active branch.

    Built once per conversation and shared by the regeneration rule below and
    the lanes. ``children`` maps each id (``None`` for the roots) to its
    children in list order; a parent missing from the list counts as a root.
    """

    def __init__(self, conversation: Conversation):
        self.conversation = conversation
        self.by_id: dict[str, Message] = {m.message_id: m for m in conversation.messages}
        self.children: dict[str | None, list[str]] = {}
        for m in conversation.messages:
            parent = m.parent_id if m.parent_id in self.by_id else None
            self.children.setdefault(parent, []).append(m.message_id)
        leaf = conversation.current_leaf_id
        self.active_path: list[str] = path_to_root(conversation.messages, leaf) if leaf in self.by_id else []
        self.active: set[str] = set(self.active_path)

    def path(self, message_id: str) -> list[str]:
        """Ids from the root down to ``message_id`` (empty if unknown). Safe on cycles.

        Walks :attr:`by_id` instead of :func:`path_to_root`, which rebuilds the
        parent map on every call: lanes ask for many paths per conversation.
        """
        path: list[str] = []
        seen: set[str] = set()
        node: str | None = message_id
        while node is not None and node in self.by_id and node not in seen:
            seen.add(node)
            path.append(node)
            node = self.by_id[node].parent_id
        path.reverse()
        return path

    def messages(self, ids: Sequence[str]) -> list[Message]:
        """The messages of ``ids`` that exist, in the order given."""
        return [self.by_id[i] for i in ids if i in self.by_id]

    def turn_children(self, message_id: str | None, in_turn: Callable[[Message], bool] | None = None) -> list[str]:
        """Children of ``message_id`` that continue its turn: not user messages (and ``in_turn`` when given)."""
        return [k for k in self.children.get(message_id, []) if self.by_id[k].role != "user"
                and (in_turn is None or in_turn(self.by_id[k]))]

    def turn_paths(self, message_id: str, ends_well: Callable[[Message], bool]) -> list[list[str]]:
        """Every path of the turn below ``message_id``: id chains from its child down to the end of
        the turn (the next user message), one per branch; chains with no message that ``ends_well``
        are left out."""
        chains: list[list[str]] = []

        def walk(node: str, chain: list[str]) -> None:
            kids = self.turn_children(node)
            if not kids:
                if any(ends_well(self.by_id[i]) for i in chain):
                    chains.append(chain)
                return
            for kid in kids:
                if kid not in chain and len(chain) < 200:
                    walk(kid, chain + [kid])

        walk(message_id, [])
        return chains

    def follow(self, kids: Sequence[str]) -> str:
        """Which child a reader follows at a fork: the one on the active branch, else the newest
        (latest ``created_at``; without times, the later in the list: the latest retry)."""
        on_path = [k for k in kids if k in self.active]
        if on_path:
            return on_path[0]
        return max(kids, key=lambda k: (self.by_id[k].created_at or 0.0, kids.index(k)))

    def turn_end(self, message_id: str, in_turn: Callable[[Message], bool] | None = None) -> list[str]:
        """Ids below ``message_id`` that complete its turn: follow children until the next user message.

        At a fork :meth:`follow` chooses; hidden plumbing, reasoning and tool
        nodes are walked through (``in_turn`` as in :meth:`turn_children`).
        """
        out: list[str] = []
        node = message_id
        seen = {node}
        while True:
            kids = self.turn_children(node, in_turn)
            if not kids:
                return out
            node = self.follow(kids)
            if node in seen:
                return out
            seen.add(node)
            out.append(node)


def is_visible_answer(message: Message) -> bool:
    """An assistant message the user saw, with something to show (text or an attachment)."""
    return message.role == "assistant" and not message.hidden and bool(message.text.strip() or message.attachments)


@attrs.frozen
class RegenerationFork:
    """One place where the user asked again: a message whose turn branches into several answers.

    ``prompt_id`` is the fork (the message the alternatives hang from, usually
    the user's prompt); ``answers`` holds one final answer id per alternative,
    in child order; ``chosen`` those on the active branch (the user went on
    from them); ``group`` the plugin's group key (``None`` unless it groups).
    """

    prompt_id: str
    answers: tuple[str, ...]
    chosen: tuple[str, ...]
    group: str | None = None


def final_answer(tree: ConversationTree, start: str, is_answer: Callable[[Message], bool] = is_visible_answer,
                 in_turn: Callable[[Message], bool] | None = None) -> str | None:
    """The last answer of the branch that starts at ``start``, down to the end of the turn.

    At a deeper fork :meth:`ConversationTree.follow` chooses: the answer the
    user would see on that branch.
    """
    answers = [i for i in (start, *tree.turn_end(start, in_turn)) if is_answer(tree.by_id[i])]
    return answers[-1] if answers else None


def regeneration_forks(conversation: Conversation, *,
                       is_answer: Callable[[Message], bool] = is_visible_answer,
                       in_turn: Callable[[Message], bool] | None = None,
                       group_key: Callable[[Message], str | None] | None = None,
                       tree: ConversationTree | None = None) -> list[RegenerationFork]:
    """Every fork in the conversation where one turn has two or more alternative answers.

    The one definition of "regeneration siblings" every provider uses: at any
    message, each child that continues the turn (not a user message) starts
    one alternative, represented by the final answer of its branch (hidden
    plumbing, reasoning and tool traffic are looked through, and commentary
    followed by a final answer counts once). A fork with two or more
    alternatives that have an answer is a regeneration. A plugin says what it
    knows of its export: ``is_answer`` (default: :func:`is_visible_answer`),
    ``in_turn`` (messages that do not belong to the turn, such as sub-agent
    side chains, return False and are not alternatives) and ``group_key``
    (called with the child that starts each alternative; alternatives that
    are not rivals, such as columns of a multi-model chat, get different
    keys, and each group is its own fork).
    """
    tree = tree or ConversationTree(conversation)
    forks: list[RegenerationFork] = []
    for message in conversation.messages:
        kids = tree.turn_children(message.message_id, in_turn)
        if len(kids) < 2:
            continue
        groups: dict[str | None, list[str]] = {}
        for kid in kids:
            answer = final_answer(tree, kid, is_answer, in_turn)
            if answer is not None:
                key = group_key(tree.by_id[kid]) if group_key is not None else None
                groups.setdefault(key, []).append(answer)
        for key, answers in groups.items():
            unique = list(dict.fromkeys(answers))
            if len(unique) < 2:
                continue
            forks.append(RegenerationFork(prompt_id=message.message_id, answers=tuple(unique),
                                          chosen=tuple(a for a in unique if a in tree.active), group=key))
    return forks
