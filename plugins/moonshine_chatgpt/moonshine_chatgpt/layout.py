"""Which files of an export hold what: the layout shared by detection and parsing.

A ChatGPT export is recognised by member names first (``conversations.json``,
``conversations-000.json`` ..., ``message_feedback.json`` ...) and by the head of
each JSON file second (``sniff_json``: the keys seen in the first 256 KiB), so
a bare file renamed by its owner, or a folder of loose files, still reads.
Nothing here loads a file whole.

DeepSeek exports also hold ``conversations.json`` with a ``mapping`` tree; they
are told apart by their messages (``fragments``, no ``author``) and their
conversation keys (``inserted_at``, no ``current_node``), and are never claimed.
"""

from __future__ import annotations

import re

import attrs

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource, JsonSniff

#: Conversation files: the single file (<= early 2026) or the 2026 shards.
CONVERSATIONS_NAME = re.compile(r"conversations(?:-\d+)?\.json")
#: Side files whose records carry signal or provenance, by exact base name.
SIDE_NAMES = {
    "message_feedback.json": "feedback",
    "model_comparisons.json": "comparisons",
    "shared_conversations.json": "shared_conversations",
    "user.json": "user",
}
#: Other small JSON files of newer exports, kept as side records: name -> (kind, personal).
OTHER_SIDE_NAMES = {
    "user_settings.json": ("user_settings", True),
    "export_manifest.json": ("export_manifest", False),
    "conversation_asset_file_names.json": ("asset_file_names", False),
    "library_files.json": ("library_files", True),
    "sora.json": ("sora", True),
    "group_chats.json": ("group_chats", True),
    "shopping.json": ("shopping", True),
    "ads.json": ("ads", True),
}
#: Order in which side files are streamed after the conversations.
SIDE_ORDER = ("feedback", "comparisons", "shared_conversations", "user")
#: Loose JSON members classified by content in a folder without standard names (bounded work).
_MAX_SNIFFED_MEMBERS = 200


@attrs.define
class Member:
    """One file of the export and what it holds.

    ``kind`` is ``conversations`` or a side kind (``feedback``, ``comparisons``,
    ``shared_conversations``, ``user``, or ``other:<kind>``); ``prefix`` is the
    ijson prefix of its records (``item`` for a top-level array,
    ``conversations.item`` for the wrapper, ``""`` for a single object).
    """

    name: str
    kind: str
    prefix: str = "item"
    personal: bool = False


@attrs.define
class Layout:
    """What detection saw: the members, the variant name, a confidence and the evidence."""

    container: str
    members: list[Member] = attrs.field(factory=list)
    layout: str = "unknown"
    confidence: float = 0.0
    evidence: list[str] = attrs.field(factory=list)
    rejected: str | None = None
    #: Files named like a conversations file that could not be read as one, with why: parsing refuses
    #: the export rather than succeed with the conversations silently missing.
    unread: list[str] = attrs.field(factory=list)

    @property
    def variant(self) -> str:
        """``<container>:<layout>``, e.g. ``zip:single``, ``folder:sharded``, ``file:message_feedback``."""
        return f"{self.container}:{self.layout}"

    def conversation_members(self) -> list[Member]:
        return [m for m in self.members if m.kind == "conversations"]

    def side_members(self) -> list[Member]:
        """Side files in streaming order (signal first, then provenance, then the rest)."""
        rank = {kind: i for i, kind in enumerate(SIDE_ORDER)}
        sides = [m for m in self.members if m.kind != "conversations"]
        return sorted(sides, key=lambda m: (rank.get(m.kind, len(rank)), m.name))


def base_name(name: str) -> str:
    return name.rsplit("/", 1)[-1]


# -- content classification ------------------------------------------------------


def _has_suffix(prefixes: set[str], *suffixes: str) -> bool:
    return any(p.endswith(suffixes) for p in prefixes)


def looks_deepseek(sniff: JsonSniff) -> bool:
    """DeepSeek's tree: messages made of ``fragments``, conversations with ``inserted_at``."""
    p = sniff.prefixes
    if _has_suffix(p, ".message.fragments", ".message.inserted_at"):
        return True
    return bool({"item.inserted_at", "conversations.item.inserted_at"} & p) and not bool(
        {"item.current_node", "conversations.item.current_node"} & p)


def _conversation_confidence(sniff: JsonSniff, base: str) -> tuple[float, str]:
    p = sniff.prefixes
    chatgpt_messages = _has_suffix(p, ".message.author", ".message.content.content_type", ".message.author.role")
    pointer = f"{base}.current_node" in p
    if chatgpt_messages:
        return 0.95, "mapping tree with author/content_type messages"
    if pointer:
        return 0.8, "mapping tree with current_node"
    if f"{base}.create_time" in p or f"{base}.update_time" in p:
        return 0.6, "mapping tree with create_time"
    return 0.4, "mapping tree"


def classify_sniff(sniff: JsonSniff, name: str) -> tuple[str, str, float, str] | None:
    """Classify one JSON file by its head: ``(kind, prefix, confidence, evidence)`` or ``None``."""
    base = base_name(name).lower()
    p = sniff.prefixes
    if sniff.top == "invalid":
        return None
    if looks_deepseek(sniff):
        return None
    if sniff.top == "array":
        if "item.mapping" in p:
            conf, why = _conversation_confidence(sniff, "item")
            return "conversations", "item", conf, why
        if {"item.original_message_id", "item.new_message_id"} & p:
            return "comparisons", "item", 0.9, "flat model comparison records (shape C)"
        if {"item.input.prompt_convo", "item.output.feedback_step_2"} & p or "item.content.input.prompt_convo" in p:
            return "comparisons", "item", 0.9, "inline model comparison records (shape A/B)"
        if "item.rating" in p and ("item.conversation_id" in p or "item.message_id" in p):
            return "feedback", "item", 0.85, "message feedback records (rating + conversation_id)"
        if "item.is_anonymous" in p and "item.conversation_id" in p:
            return "shared_conversations", "item", 0.7, "shared conversation records"
        if not p and sniff.complete:
            # An empty array says nothing about its owner; only the file name does.
            for suffix, kind in (("message_feedback.json", "feedback"), ("model_comparisons.json", "comparisons"),
                                 ("shared_conversations.json", "shared_conversations")):
                if base.endswith(suffix):
                    return kind, "item", 0.3, f"empty array named {suffix}"
        return None
    if sniff.top == "object":
        if "conversations.item.mapping" in p:
            conf, why = _conversation_confidence(sniff, "conversations.item")
            return "conversations", "conversations.item", conf, why + " inside a {\"conversations\": [...]} wrapper"
        keys = set(sniff.first_item_keys)
        if "email" in keys and keys & {"chatgpt_plus_user", "phone_number", "birth_year"} and not keys & {
                "mobile", "oauth_profiles"}:
            return "user", "", 0.6, "user.json account object"
    return None


# -- layout discovery ----------------------------------------------------------


def _empty_array(source: ExportSource, name: str) -> bool:
    try:
        return re.fullmatch(rb"(?:\xef\xbb\xbf)?\s*\[\s*\]\s*", source.head(name, 4096)) is not None
    except ParseError:
        return False


def _sniff(source: ExportSource, name: str) -> JsonSniff | None:
    try:
        return source.sniff_json(name)
    except ParseError:
        return None


def discover(source: ExportSource) -> Layout:
    """Find the members of a ChatGPT export in ``source`` (never raises for a foreign export)."""
    container = {"dir": "folder"}.get(source.kind, source.kind)
    layout = Layout(container=container)
    try:
        names = source.names()
    except (ParseError, OSError) as exc:
        layout.rejected = f"cannot list the export: {exc}"
        return layout
    if source.kind == "file":
        return _discover_file(source, names[0], layout)
    return _discover_archive(source, names, layout)


def _discover_file(source: ExportSource, name: str, layout: Layout) -> Layout:
    sniff = _sniff(source, name)
    if sniff is None:
        layout.rejected = "unreadable file"
        return layout
    found = classify_sniff(sniff, name)
    if found is None:
        layout.rejected = "not a ChatGPT export file"
        return layout
    kind, prefix, confidence, why = found
    layout.members.append(Member(name=name, kind=kind, prefix=prefix, personal=kind == "user"))
    if kind == "conversations":
        layout.layout = "wrapped" if prefix != "item" else "single"
    else:
        layout.layout = kind
    layout.confidence = confidence
    layout.evidence.append(why)
    return layout


def _discover_archive(source: ExportSource, names: list[str], layout: Layout) -> Layout:
    conversation_names = [n for n in names if CONVERSATIONS_NAME.fullmatch(base_name(n))]
    for name in names:
        base = base_name(name)
        if base in SIDE_NAMES:
            layout.members.append(Member(name=name, kind=SIDE_NAMES[base], personal=base == "user.json"))
        elif base in OTHER_SIDE_NAMES:
            kind, personal = OTHER_SIDE_NAMES[base]
            layout.members.append(Member(name=name, kind=f"other:{kind}", prefix="", personal=personal))
    confidence = 0.0
    best = 0.0
    sharded = any(base_name(n) != "conversations.json" for n in conversation_names)
    for name in conversation_names:
        sniff = _sniff(source, name)
        if sniff is None:
            layout.unread.append(f"{name}: cannot be read")
            continue
        found = classify_sniff(sniff, name)
        if sniff.top != "invalid" and looks_deepseek(sniff):
            layout.rejected = f"{name} is a DeepSeek conversation tree (fragments / inserted_at)"
            layout.members = []
            return layout
        if found is None or found[0] != "conversations":
            if not _empty_array(source, name):   # `[]` is an account with no conversations, not damage
                layout.unread.append(f"{name}: {sniff.error or 'not an array of conversations'}"
                                     + ("" if sniff.top in ("invalid", "array") else f" (a JSON {sniff.top})"))
            continue
        layout.members.append(Member(name=name, kind="conversations", prefix=found[1]))
        if found[2] > best:
            best = found[2]
            layout.evidence.append(f"{name}: {found[3]}")
    if layout.conversation_members():
        layout.layout = "sharded" if sharded else "single"
        if len(layout.conversation_members()) > 1 and not sharded:
            layout.layout = "multi"
        confidence = best
        if any(m.kind in ("feedback", "comparisons", "shared_conversations") for m in layout.members):
            confidence = min(0.98, confidence + 0.03)
            layout.evidence.append("ChatGPT side files present")
        if any(base_name(n) == "chat.html" for n in names):
            confidence = min(0.98, confidence + 0.02)
            layout.evidence.append("chat.html present")
    elif any(m.kind in SIDE_NAMES.values() for m in layout.members):
        # Side files without conversations: check their content, keep those that really are ours.
        kept = []
        for member in layout.members:
            if member.kind.startswith("other:"):
                kept.append(member)
                continue
            sniff = _sniff(source, member.name)
            found = classify_sniff(sniff, member.name) if sniff is not None else None
            if found is not None and found[0] == member.kind:
                member.prefix = found[1]
                kept.append(member)
                confidence = max(confidence, found[2])
                layout.evidence.append(f"{member.name}: {found[3]}")
        layout.members = kept if confidence else []
        layout.layout = "side-files"
    else:
        _discover_loose(source, names, layout)
        return layout
    layout.confidence = confidence
    return layout


def _discover_loose(source: ExportSource, names: list[str], layout: Layout) -> None:
    """A folder or zip of renamed files: classify each JSON member by its content."""
    confidence = 0.0
    for name in [n for n in names if n.lower().endswith(".json")][:_MAX_SNIFFED_MEMBERS]:
        sniff = _sniff(source, name)
        if sniff is None:
            continue
        found = classify_sniff(sniff, name)
        if found is None:
            continue
        kind, prefix, conf, why = found
        layout.members.append(Member(name=name, kind=kind, prefix=prefix, personal=kind == "user"))
        layout.evidence.append(f"{name}: {why}")
        confidence = max(confidence, conf)
    if layout.members:
        layout.layout = "loose" if layout.conversation_members() else "side-files"
        # Loose files are weaker evidence than an export's own names.
        layout.confidence = max(0.2, confidence - 0.1)
    else:
        layout.rejected = "no ChatGPT export files found"
