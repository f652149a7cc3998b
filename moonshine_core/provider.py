"""The provider toolkit: the rules every provider plugin shares, in one place.

A provider plugin reads one vendor's export; what is common to all of them
lives here so that four plugins do not write it four ways:

- **coercions** (:func:`as_id`, :func:`as_str`, :func:`as_text`, :func:`as_int`,
  :func:`as_dict`, :func:`as_list`): what counts as an id, a string, a number.
  Ids feed record identity (``record_uid``), so one rule for all providers;
- **fallback ids** (:func:`fallback_id`): the id of a record the export gives
  none, from the record's own content, stable across runs of the same export;
- **ratings** (:func:`normalize_rating`, :func:`rating_direction`): every
  spelling of a thumb up or down, one vocabulary;
- **regenerations** (:func:`regeneration_comparisons`): the one definition of
  "the user asked again" (:func:`moonshine_core.trees.regeneration_forks`),
  turned into :class:`~moonshine_core.records.Comparison` records;
- **mapping trees** (:class:`MappingTree`): exports that store a conversation
  as ``{node_id: {"parent", "children", "message"}}`` (ChatGPT, DeepSeek);
- **the hooks themselves** (:class:`ProviderPlugin`): the "is this my
  provider" check, sample exports, and the rule that only
  :class:`~moonshine_core.errors.NormalizeError` leaves ``moonshine_normalize``.

Plugins import this module, the names in ``moonshine_core.__all__`` and the
other documented modules (see ``docs/writing_a_provider_plugin.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import NormalizeError, ParseError
from .hookspecs import hookimpl
from .ids import content_sha256
from .records import Comparison, Conversation, Detection, Message, RawRecord, Record
from .sources import ExportSource
from .trees import ConversationTree, RegenerationFork, final_answer, is_visible_answer, regeneration_forks

__all__ = [
    "as_id", "as_str", "as_text", "as_int", "as_dict", "as_list", "fallback_id",
    "THUMBS_UP", "THUMBS_DOWN", "normalize_rating", "rating_direction",
    "regeneration_comparisons", "RegenerationFork", "is_visible_answer", "final_answer", "ConversationTree", "latest_time",
    "MappingTree", "ProviderPlugin", "unknown_keys",
]


# -- coercions ------------------------------------------------------------------------------


def as_id(value: Any) -> str | None:
    """A provider id as text, or ``None`` when ``value`` is not an id.

    A non-blank string is kept exactly as written (ids are matched against
    parent pointers written the same way, so nothing is stripped); an integer
    (not a bool) or an integral float becomes its decimal text. Anything else
    (``None``, blank strings, bools, objects) is not an id.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def as_str(value: Any) -> str | None:
    """``value`` when it is a non-empty string, else ``None``."""
    return value if isinstance(value, str) and value else None


def as_text(value: Any) -> str | None:
    """``value`` when it is a string (empty included), else ``None``."""
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    """An integer from an int (not a bool), an integral float or a string of digits; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def as_dict(value: Any) -> dict:
    """``value`` when it is a dict, else an empty dict (a missing or mistyped object reads as empty)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    """``value`` when it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def fallback_id(value: Any) -> str:
    """``sha256:<32 hex>``: the id of a record the export gives none, from its canonical JSON.

    The same record in next month's export gets the same id (so re-ingesting
    updates instead of duplicating); two records with identical content get
    the same id, which :func:`moonshine_core.trees.repair_tree` (messages) or
    the upsert (side records) then resolves. Plugins may prefix it with a kind
    (``user:sha256:…``) to keep namespaces apart.
    """
    return "sha256:" + content_sha256(value)[:32]


def unknown_keys(obj: dict, known: Iterable[str], label: str) -> list[str]:
    """``label:key`` for every key of ``obj`` not in ``known``: the ``unknown_shapes`` entries of a record."""
    known = known if isinstance(known, (set, frozenset)) else frozenset(known)
    return [f"{label}:{k}" for k in obj if k not in known]


def latest_time(times: Iterable[float | None]) -> float | None:
    """The latest of ``times``, ignoring missing ones (``None`` when none is known)."""
    return max((t for t in times if t is not None), default=None)


# -- ratings --------------------------------------------------------------------------------

THUMBS_UP = "thumbs_up"
THUMBS_DOWN = "thumbs_down"
_UP = frozenset({"thumbs_up", "thumbsup", "up", "like", "liked", "good", "positive", "1", "+1", "true"})
_DOWN = frozenset({"thumbs_down", "thumbsdown", "down", "dislike", "disliked", "bad", "negative", "-1", "false"})


def normalize_rating(value: Any) -> str:
    """``thumbs_up`` / ``thumbs_down`` for every spelling of a thumb; other values kept, lower-cased.

    Strings are matched case-insensitively with ``-`` read as ``_``
    (``Thumbs-Up``, ``like``, ``+1``); bools and signed numbers map by sign.
    A zero (which is "neutral" in -1/0/1 schemes and "down" in 0/1 ones) is
    ``neutral``, never guessed; a missing rating is ``unknown``. The
    vocabulary is open: an unseen word is kept as written (lower-cased) for
    the plugin to report.
    """
    if isinstance(value, bool):
        return THUMBS_UP if value else THUMBS_DOWN
    if isinstance(value, (int, float)):
        return THUMBS_UP if value > 0 else THUMBS_DOWN if value < 0 else "neutral"
    if isinstance(value, str) and value.strip():
        word = value.strip().lower().replace("-", "_").replace(" ", "_")
        if word in _UP:
            return THUMBS_UP
        if word in _DOWN:
            return THUMBS_DOWN
        return "neutral" if word == "0" else value.strip().lower()
    return "unknown"


def rating_direction(value: Any) -> str | None:
    """``up``, ``down`` or ``None`` (neutral, unknown or another word) for a rating in any spelling."""
    rating = normalize_rating(value)
    return "up" if rating == THUMBS_UP else "down" if rating == THUMBS_DOWN else None


# -- regenerations --------------------------------------------------------------------------


def regeneration_comparisons(conversation: Conversation, *,
                             is_answer: Callable[[Message], bool] = is_visible_answer,
                             in_turn: Callable[[Message], bool] | None = None,
                             group_key: Callable[[Message], str | None] | None = None,
                             skip_prompts: Iterable[str] = (),
                             metadata: Callable[[RegenerationFork], dict] | None = None,
                             tree: ConversationTree | None = None) -> list[Comparison]:
    """One ``Comparison(source="regeneration")`` per fork where the user asked again.

    Forks are found by :func:`moonshine_core.trees.regeneration_forks` (the
    parameters are passed to it). The answers on the branch the user went on
    with are ``chosen`` (``chosen_is_inferred``: nobody said so, the user
    continued from them), the others ``rejected``; when no alternative is on
    the active branch there is no choice to infer and both lists are empty.
    ``skip_prompts`` names forks another signal already covers (ChatGPT's
    explicit "which response do you prefer?"); ``metadata`` adds per-fork
    facts; ``tree`` reuses a :class:`ConversationTree` the plugin already
    built. Ids are ``regen:<conversation>:<fork>`` (``:<group>`` when a fork
    has several groups).
    """
    skip = set(skip_prompts)
    tree = tree or ConversationTree(conversation)
    forks = [f for f in regeneration_forks(conversation, is_answer=is_answer, in_turn=in_turn,
                                           group_key=group_key, tree=tree) if f.prompt_id not in skip]
    groups_at: dict[str, int] = {}
    for fork in forks:
        groups_at[fork.prompt_id] = groups_at.get(fork.prompt_id, 0) + 1
    cid = conversation.conversation_id
    out: list[Comparison] = []
    for fork in forks:
        suffix = f":{fork.group}" if groups_at[fork.prompt_id] > 1 and fork.group is not None else ""
        chosen = list(fork.chosen)
        out.append(Comparison(
            comparison_id=f"regen:{cid}:{fork.prompt_id}{suffix}",
            source="regeneration",
            conversation_id=cid,
            prompt_message_id=fork.prompt_id,
            candidate_message_ids=list(fork.answers),
            chosen_message_ids=chosen,
            rejected_message_ids=[a for a in fork.answers if a not in chosen] if chosen else [],
            chosen_is_inferred=True,
            created_at=latest_time(tree.by_id[a].created_at for a in fork.answers),
            metadata=metadata(fork) if metadata is not None else {},
        ))
    return out


# -- mapping trees ----------------------------------------------------------------------------


class MappingTree:
    """A ``mapping`` of ``{node_id: {"parent", "children", "message"}}`` read as a message tree.

    Parent links come from ``parent`` when the node has that key, else from
    the ``children`` list of the node that names it (some exports drop one or
    the other). Nodes without a message (the synthetic root, placeholders)
    are plumbing, not messages: a message's parent is its nearest ancestor
    that has a message, and the plumbing it links past is reported. A parent
    id missing from the mapping is returned as is, for
    :func:`moonshine_core.trees.repair_tree` to record and drop. Odd shapes
    are collected in :attr:`unknown` (``unknown_shapes`` entries). Exports
    that name the links otherwise (Qwen's ``parentId`` / ``childrenIds``)
    pass ``parent_key`` / ``children_key``.
    """

    def __init__(self, mapping: dict, *, has_message: Callable[[dict], bool] | None = None,
                 parent_key: str = "parent", children_key: str = "children"):
        self.unknown: list[str] = []
        self.nodes: dict[str, dict] = {}
        for key, node in mapping.items():
            if isinstance(node, dict):
                self.nodes[key] = node
            else:
                self._unknown(f"node_type:{type(node).__name__}")
        self._has_message = has_message or (lambda node: isinstance(node.get("message"), dict))
        from_children: dict[str, str] = {}
        for key, node in self.nodes.items():
            children = node.get(children_key)
            if isinstance(children, list):
                for child in children:
                    if isinstance(child, str):
                        from_children.setdefault(child, key)
            elif children is not None:
                self._unknown(f"node_children_type:{type(children).__name__}")
        self.parent_of: dict[str, str | None] = {}
        for key, node in self.nodes.items():
            if parent_key not in node:
                self.parent_of[key] = from_children.get(key)
                continue
            parent = node[parent_key]
            if parent is not None and as_id(parent) is None:
                self._unknown(f"node_parent_type:{type(parent).__name__}")
            self.parent_of[key] = as_id(parent)

    def _unknown(self, shape: str) -> None:
        if shape not in self.unknown:
            self.unknown.append(shape)

    def has_message(self, key: str) -> bool:
        """Whether node ``key`` is in the mapping and carries a message."""
        node = self.nodes.get(key)
        return node is not None and bool(self._has_message(node))

    def message_nodes(self) -> Iterator[tuple[str, dict]]:
        """``(key, node)`` of every node with a message, in mapping order."""
        for key, node in self.nodes.items():
            if self.has_message(key):
                yield key, node

    def plumbing_count(self) -> int:
        """How many nodes carry no message."""
        return sum(1 for key in self.nodes if not self.has_message(key))

    def nearest_message(self, start: str | None) -> tuple[str | None, list[str]]:
        """The nearest node from ``start`` upwards that has a message, and the message-less nodes passed.

        A node missing from the mapping is returned as is (a dangling parent);
        a loop of message-less nodes ends the walk with ``None``.
        """
        skipped: list[str] = []
        seen: set[str] = set()
        node = start
        while node is not None:
            if node not in self.nodes or self.has_message(node):
                return node, skipped
            if node in seen:
                return None, skipped
            seen.add(node)
            skipped.append(node)
            node = self.parent_of.get(node)
        return None, skipped

    def message_parent(self, key: str) -> tuple[str | None, list[str]]:
        """The parent a message node gets in the stored tree, and the plumbing nodes linked past.

        The synthetic root (a message-less node with no parent) is not listed
        among the nodes passed: skipping it is normal, not worth recording.
        """
        parent, skipped = self.nearest_message(self.parent_of.get(key))
        return parent, [s for s in skipped if self.parent_of.get(s) is not None]


# -- the hooks ----------------------------------------------------------------------------------


class ProviderPlugin:
    """The hook implementations of one provider plugin, built from the plugin's own functions.

    Point the plugin's entry point (group ``moonshine``, name = the provider
    name) at an instance::

        plugin = ProviderPlugin("chatgpt", detect=detect, parse=iter_raw_records,
                                normalize=normalize, samples=SAMPLES_DIR)

    - ``detect(source)`` returns a :class:`~moonshine_core.records.Detection`
      or ``None``; a :class:`~moonshine_core.errors.ParseError` while
      sniffing means "not mine" (``None``). Its ``provider`` must be this
      plugin's name (the plugin manager drops a detection that is not);
    - ``parse(source)`` is called only for this provider and returns an
      iterator of raw records (raising only ``ParseError``);
    - ``normalize(raw)`` is called only for this provider. A
      ``NormalizeError`` is re-raised naming the record's location; any other
      exception (a shape nobody foresaw deep in a record) becomes a
      ``NormalizeError`` too, so one bad record costs that record, not the
      run. Set :attr:`raise_unexpected` in tests to see such bugs instead;
    - ``samples`` is a folder whose entries (not starting with ``.`` or
      ``_``) are the sample exports, or a list of paths, or ``None``.
    """

    def __init__(self, provider: str, *, detect: Callable[[ExportSource], Detection | None],
                 parse: Callable[[ExportSource], Iterable[RawRecord]],
                 normalize: Callable[[RawRecord], Iterable[Record]],
                 samples: str | Path | Sequence[str | Path] | None = None):
        self.provider = provider
        self._detect, self._parse, self._normalize = detect, parse, normalize
        self._samples = samples
        #: Let unexpected exceptions out of ``moonshine_normalize`` (tests that hunt bugs set it).
        self.raise_unexpected = False

    def __repr__(self) -> str:
        return f"ProviderPlugin({self.provider!r})"

    @hookimpl
    def moonshine_detect(self, source: ExportSource) -> Detection | None:
        try:
            return self._detect(source)
        except ParseError:
            return None

    @hookimpl
    def moonshine_parse(self, provider: str, source: ExportSource) -> Iterator[RawRecord] | None:
        if provider != self.provider:
            return None
        return iter(self._parse(source))

    @hookimpl
    def moonshine_normalize(self, provider: str, raw: RawRecord) -> list[Record] | None:
        if provider != self.provider:
            return None
        where = raw.location()
        try:
            return list(self._normalize(raw))
        except NormalizeError as exc:
            message = str(exc)
            raise NormalizeError(message if message.startswith(where) else f"{where}: {message}") from exc
        except RecursionError as exc:
            raise NormalizeError(f"{where}: {raw.kind} record is nested too deeply") from exc
        except Exception as exc:
            if self.raise_unexpected:
                raise
            raise NormalizeError(f"{where}: malformed {raw.kind} record ({type(exc).__name__}: {exc})") from exc

    @hookimpl
    def moonshine_sample_exports(self) -> list[str] | None:
        if self._samples is None:
            return None
        if isinstance(self._samples, (str, Path)):
            folder = Path(self._samples)
            return [str(p) for p in sorted(folder.iterdir()) if not p.name.startswith((".", "_"))]
        return [str(p) for p in self._samples]
