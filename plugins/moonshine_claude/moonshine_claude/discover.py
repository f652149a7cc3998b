"""Find what an export holds: which member is a conversations file, a side file, a session log.

Every input shape docs/formats/claude.md §1 lists reduces to a set of *units*: a member
of an :class:`~moonshine_core.sources.ExportSource` (possibly inside nested
zips, for batch zips and the late-2026 per-category zips) with its role. Names
decide first (``conversations.json``, ``projects/<uuid>.json``,
``manifest-*.json``, ``*.jsonl``); the head of the JSON decides when the name
says nothing (``Claude.json``) or when a name-only guess would claim another
provider's file (ChatGPT also ships a ``conversations.json``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import attrs
from moonshine_core.sources import ExportSource, JsonSniff

#: How deep zips inside zips are followed (folder of batch zips -> per-category zip -> member).
MAX_NESTING = 3
#: Roles whose member holds conversations.
CONVERSATION_ROLES = ("conversations", "conversation", "session")
#: Side roles and the SideRecord kind each becomes.
SIDE_KINDS = {
    "users": "user", "user": "user", "projects": "project", "project": "project",
    "memories": "memory", "memory": "memory", "design_chat": "design_chat", "reflection": "reflection",
    "manifest": "manifest",
}
_MANIFEST_RE = re.compile(r"(member-)?manifest.*\.json", re.IGNORECASE)
_SESSION_TYPES = {"user", "assistant", "system", "summary", "file-history-snapshot", "progress",
                  "queue-operation", "custom-title"}
_PROJECT_KEYS = {"prompt_template", "docs", "is_starter_project"}
_MEMORY_KEYS = {"conversations_memory", "project_memories", "memory_files"}
_USER_KEYS = {"email_address", "verified_phone_number"}


@attrs.define
class Unit:
    """One member of an export and what it holds.

    ``role`` is one of ``conversations`` (array; ``prefix`` is its ijson
    prefix), ``conversation`` (one API-shape object), ``session`` (Claude Code
    JSONL), the array side roles ``users``/``projects``/``memories`` (with
    ``prefix``), the single-object side roles ``user``/``project``/``memory``/
    ``design_chat``/``reflection``/``manifest``, or ``frame`` (published
    artifacts, only counted). ``where`` names the member through its nesting
    (``batch-0001.zip!conversations.json``).
    """

    role: str
    member: str
    where: str
    prefix: str | None = None
    subagent: bool = False
    confidence: float = 0.9


def is_junk(name: str) -> bool:
    """macOS resource forks and hidden files that archivers add."""
    parts = name.split("/")
    return any(p.startswith("__MACOSX") for p in parts) or parts[-1].startswith(".")


def walk(source: ExportSource, *, prefix: str = "", depth: int = 0) -> Iterator[tuple[ExportSource, Unit]]:
    """Yield ``(source, unit)`` for every recognised member, following nested zips.

    A nested source is open only while its units are being yielded, so use each
    unit before asking for the next one.
    """
    for name in source.names():
        if is_junk(name):
            continue
        lower = name.lower()
        where = f"{prefix}{name}"
        if lower.endswith(".zip") and source.kind != "file":
            if depth >= MAX_NESTING:
                continue
            inner = source.nested(name)
            try:
                yield from walk(inner, prefix=f"{where}!", depth=depth + 1)
            finally:
                inner.close()
            continue
        unit = classify(source, name, where)
        if unit is not None:
            yield source, unit


def classify(source: ExportSource, name: str, where: str) -> Unit | None:
    """The unit a member is, or None when it is nothing this plugin reads."""
    lower = name.lower()
    base = lower.rsplit("/", 1)[-1]
    parent = lower.rsplit("/", 2)[-2] if "/" in lower else ""
    if lower.endswith(".jsonl"):
        if base == "history.jsonl" or not _looks_like_session(source, name):
            return None
        subagent = base.startswith("agent-") or "/subagents/" in f"/{lower}"
        return Unit("session", name, where, subagent=subagent, confidence=0.9)
    if not lower.endswith(".json"):
        return None
    if "/artifacts/" in f"/{lower}":
        return Unit("frame", name, where, confidence=0.3)
    sniff = source.sniff_json(name)
    if _MANIFEST_RE.fullmatch(base) and sniff.top == "object" and "data_files" in sniff.first_item_keys:
        return Unit("manifest", name, where, confidence=0.9)
    by_dir = {"projects": "project", "memories": "memory", "design_chats": "design_chat",
              "reflections": "reflection"}.get(parent)
    shaped = _by_shape(sniff)
    if by_dir is not None and sniff.top == "object":
        return Unit(by_dir, name, where, confidence=_side_confidence(by_dir, shaped))
    if shaped is not None:
        role, prefix, confidence = shaped
        return Unit(role, name, where, prefix=prefix, confidence=confidence)
    # Name-only guesses for files whose head is not conclusive (an empty array, a lone object).
    for suffix, role in (("conversations.json", "conversations"), ("users.json", "users"),
                         ("projects.json", "projects"), ("memories.json", "memories")):
        if base.endswith(suffix) and (sniff.top == "invalid" or (sniff.top == "array" and not sniff.first_item_keys)):
            return Unit(role, name, where, prefix="item", confidence=0.2)
    return None


def _side_confidence(role: str, shaped: tuple[str, str | None, float] | None) -> float:
    if shaped is not None and SIDE_KINDS.get(shaped[0]) == SIDE_KINDS.get(role):
        return shaped[2]
    return 0.4


def _by_shape(sniff: JsonSniff) -> tuple[str, str | None, float] | None:
    keys = set(sniff.first_item_keys)
    if sniff.top == "array":
        if "chat_messages" in keys:
            return "conversations", "item", 0.95
        if keys & _MEMORY_KEYS:
            return "memories", "item", 0.85
        if keys & _USER_KEYS:
            return "users", "item", 0.6
        if keys & _PROJECT_KEYS:
            return "projects", "item", 0.8
        return None
    if sniff.top != "object":
        return None
    if "chat_messages" in keys:
        return "conversation", None, 0.9
    for key, role, confidence in (("conversations", "conversations", 0.9), ("projects", "projects", 0.8),
                                  ("memories", "memories", 0.8), ("users", "users", 0.6)):
        if key in keys and _wrapped_shape(sniff, key, role):
            return role, f"{key}.item", confidence
    if "data_files" in keys:
        return "manifest", None, 0.85
    if keys & _MEMORY_KEYS:
        return "memory", None, 0.8
    if keys & _PROJECT_KEYS:
        return "project", None, 0.7
    if keys & _USER_KEYS:
        return "user", None, 0.5
    return None


def _wrapped_shape(sniff: JsonSniff, key: str, role: str) -> bool:
    """A ``{"conversations": [...]}`` style wrapper whose items look like Claude's."""
    inner = {p.split(".", 2)[2].split(".", 1)[0] for p in sniff.prefixes if p.startswith(f"{key}.item.")}
    if not inner:
        return False
    wanted = {"conversations": {"chat_messages"}, "projects": _PROJECT_KEYS, "memories": _MEMORY_KEYS,
              "users": _USER_KEYS}[role]
    return bool(inner & wanted)


def _looks_like_session(source: ExportSource, name: str, max_lines: int = 8,
                        max_bytes: int = 4 << 20) -> bool:
    """Whether the first lines of a JSONL member are Claude Code session records."""
    seen = 0
    read = 0
    with source.open(name) as handle:
        for line in handle:
            read += len(line)
            if not line.strip():
                continue
            seen += 1
            try:
                record: Any = json.loads(line)
            except (ValueError, UnicodeDecodeError):
                record = None
            if isinstance(record, dict) and record.get("type") in _SESSION_TYPES and (
                    "sessionId" in record or "parentUuid" in record or "leafUuid" in record
                    or "messageId" in record):
                return True
            if seen >= max_lines or read >= max_bytes:
                return False
    return False
