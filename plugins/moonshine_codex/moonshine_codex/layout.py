"""Where the rollouts are in an export, what shape each has, and which conversation id it gets.

An export is one rollout file, a ``sessions`` folder (``YYYY/MM/DD/rollout-*.jsonl``,
older flat ``rollout-*.json(l)``, ``archived_sessions/``), a whole ``~/.codex``
folder, or a zip of any of them. Only the head of each file is read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import attrs
from moonshine_core.errors import ParseError
from moonshine_core.provider import as_dict, as_id, as_str, fallback_id
from moonshine_core.sources import ExportSource

from .lines import ENVELOPE_KINDS, KNOWN_ITEM_TYPES, session_id_of, unify

_ROLLOUT_NAME = re.compile(r"rollout-.*\.jsonl?", re.IGNORECASE)
_STEM_TAIL = re.compile(r"rollout-\d{4}-\d{2}-\d{2}(?:T\d{2}-\d{2}-\d{2})?-(.+)", re.IGNORECASE)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
#: JSONL files in a Codex home that are not rollouts.
NOT_ROLLOUTS = {"history.jsonl", "session_index.jsonl"}
#: At most this many non-rollout-named ``.jsonl`` files are opened to look for rollouts.
MAX_UNNAMED = 50
HEAD_LINES = 6
HEAD_BYTES = 1 << 20


@attrs.define
class Rollout:
    """One rollout file: its member name, its shape (``envelope``, ``legacy``, ``typescript_json``),
    how sure we are, and the head facts (first session id, the first records)."""

    member: str
    shape: str
    confidence: float
    session_id: str | None = None
    head: list[Any] = attrs.field(factory=list)

    @property
    def stem(self) -> str:
        base = self.member.rsplit("/", 1)[-1]
        return base.rsplit(".", 1)[0]


def conversation_key(session_id: str | None, stem: str, first_record: Any) -> str:
    """The conversation id of a rollout, from the file alone (docs/providers/codex.md, "Identity").

    The session id of the first ``session_meta``; else the UUID in the file
    name; else a content hash of the first record. When the file name carries
    the id plus a segment (``<id>_<segment>``, a resumed paginated thread), the
    segment is kept so the segments stay apart.
    """
    tail_match = _STEM_TAIL.fullmatch(stem)
    tail = tail_match.group(1) if tail_match else None
    if session_id is None:
        found = _UUID.search(tail or stem)
        session_id = found.group(0) if found else fallback_id({"codex_first_record": first_record})
    if tail and tail != session_id and tail.startswith(session_id):
        return tail
    return session_id


def _head_lines(source: ExportSource, name: str) -> list[Any]:
    out: list[Any] = []
    read = 0
    with source.open(name) as handle:
        for line in handle:
            read += len(line)
            if line.strip():
                try:
                    out.append(json.loads(line))
                except (ValueError, UnicodeDecodeError):
                    out.append(None)
            if len(out) >= HEAD_LINES or read >= HEAD_BYTES:
                break
    return out


def classify(source: ExportSource, name: str) -> Rollout | None:
    """The :class:`Rollout` a member is, or None when it is not a Codex rollout."""
    base = name.rsplit("/", 1)[-1]
    named = bool(_ROLLOUT_NAME.fullmatch(base))
    if base.lower().endswith(".json"):
        return _classify_json(source, name) if named else None
    head = _head_lines(source, name)
    kinds = [unify(r) for r in head]
    envelope = [k for (k, _, _), r in zip(kinds, head) if k in ENVELOPE_KINDS and isinstance(r, dict) and "payload" in r]
    meta = next((p for k, p, _ in kinds if k == "session_meta"), None)
    sid = as_id(session_id_of(meta)) if meta is not None else None
    bare_items = [p for (k, p, _), r in zip(kinds, head)
                  if k == "response_item" and isinstance(r, dict) and "payload" not in r]
    if envelope:
        first = kinds[0][0] if kinds else None
        confidence = 0.95 if first == "session_meta" and sid is not None else 0.85 if named else 0.7
        return Rollout(name, "envelope", confidence, sid, head)
    states = [k for k, _, _ in kinds if k == "state"]
    codex_items = [p for p in bare_items if as_str(p.get("type")) in KNOWN_ITEM_TYPES]
    if kinds and kinds[0][0] == "session_meta" and (states or codex_items or named):
        return Rollout(name, "legacy", 0.9 if named else 0.75, sid, head)
    if named and (states or codex_items):
        return Rollout(name, "legacy", 0.7, sid, head)
    if named and len(head) <= 1 and kinds and kinds[0][0] == "session_meta":
        return Rollout(name, "legacy", 0.6, sid, head)
    return None


def _classify_json(source: ExportSource, name: str) -> Rollout | None:
    """The TypeScript CLI's ``rollout-*.json``: ``{"session": {...}, "items": [...]}``."""
    sniff = source.sniff_json(name)
    if sniff.top != "object" or "session" not in sniff.first_item_keys or "items" not in sniff.first_item_keys:
        return None
    session = None
    try:
        session = next(iter(source.iter_json(name, "session")), None)
    except ParseError:
        session = None
    sid = as_id(session_id_of(as_dict(session))) if isinstance(session, dict) else None
    return Rollout(name, "typescript_json", 0.9 if sid is not None else 0.7, sid, [session])


def find_rollouts(source: ExportSource) -> Iterator[Rollout]:
    """Every rollout member of ``source``, in name order (date folders sort by time)."""
    unnamed = 0
    for name in source.names():
        base = name.rsplit("/", 1)[-1]
        lower = base.lower()
        if base.startswith(".") or "__MACOSX" in name or lower in NOT_ROLLOUTS:
            continue
        if not (lower.endswith(".jsonl") or lower.endswith(".json")):
            continue
        if not _ROLLOUT_NAME.fullmatch(base):
            if not lower.endswith(".jsonl") or unnamed >= MAX_UNNAMED:
                continue
            unnamed += 1
        try:
            found = classify(source, name)
        except ParseError:
            found = None
        if found is not None:
            yield found


def thread_names(source: ExportSource) -> dict[str, str]:
    """``session_index.jsonl`` (a Codex home's thread names): id → the latest name given."""
    names: dict[str, tuple[str, str]] = {}
    for member in source.find(r"session_index\.jsonl"):
        for _, value, error in source.iter_jsonl(member):
            if error is not None or not isinstance(value, dict):
                continue
            sid, name = as_id(value.get("id")), value.get("thread_name")
            if sid is None or not isinstance(name, str) or not name.strip():
                continue
            when = str(value.get("updated_at") or "")
            if sid not in names or when >= names[sid][1]:
                names[sid] = (name.strip(), when)
    return {sid: name for sid, (name, _) in names.items()}
