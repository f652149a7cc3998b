"""``moonshine_detect`` for Claude: which variant an export is, from its member names and JSON heads."""

from __future__ import annotations

from moonshine_core.records import Detection
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .discover import Unit, walk


def variant_of(units: list[Unit], source_kind: str) -> str | None:
    """The format variant a set of units makes (see ``docs/providers/claude.md``)."""
    roles = {u.role for u in units}
    if not roles - {"frame"}:
        return None
    has_ai = bool(roles & {"conversations", "conversation"})
    if "session" in roles and not has_ai:
        return "claude_code_session" if source_kind == "file" else "claude_code_projects"
    if "manifest" in roles:
        return "claude_ai_manifest_2026"
    if any("!" in u.where and u.role == "conversations" for u in units):
        return "claude_ai_batches"
    if roles & {"project", "memory", "design_chat", "reflection"} and has_ai:
        return "claude_ai_2026"
    if "conversation" in roles and "conversations" not in roles:
        return "claude_ai_api_conversation"
    if "conversations" in roles:
        if any(u.prefix == "conversations.item" for u in units if u.role == "conversations"):
            return "claude_ai_wrapped"
        if roles & {"users", "projects", "memories", "user", "project", "memory"}:
            return "claude_ai_legacy"
        return "claude_ai_conversations"
    return "claude_ai_side_files"


def detect(source: ExportSource) -> Detection | None:
    """A :class:`Detection` when ``source`` holds Claude data, else None (never raises)."""
    try:
        units = [unit for _, unit in walk(source)]
    except Exception:  # a detector must not fail on someone else's export
        return None
    variant = variant_of(units, source.kind)
    if variant is None:
        return None
    useful = [u for u in units if u.role != "frame"]
    confidence = max(u.confidence for u in useful)
    counts: dict[str, int] = {}
    for unit in useful:
        counts[unit.role] = counts.get(unit.role, 0) + 1
    # Units are files (or JSON members), not conversations: say so, a count of 1 reads as one chat.
    evidence = ", ".join(f"{role}: {n} file{'s' if n != 1 else ''}" for role, n in sorted(counts.items()))
    return Detection(provider=PROVIDER, variant=variant, confidence=round(min(confidence, 1.0), 3),
                     evidence=evidence)
