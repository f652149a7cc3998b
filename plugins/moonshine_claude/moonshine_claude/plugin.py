"""The Claude provider's hook implementations (thin: the work lives in the sibling modules)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources

from moonshine_core import hookimpl
from moonshine_core.records import Detection, RawRecord, Record
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import parse


@hookimpl
def moonshine_detect(source: ExportSource) -> Detection | None:
    """claude.ai exports (every era) and Claude Code session logs."""
    return detect(source)


@hookimpl
def moonshine_parse(provider: str, source: ExportSource) -> Iterator[RawRecord] | None:
    """Stream raw conversations, then side records; None for other providers."""
    if provider != PROVIDER:
        return None
    return parse(source)


@hookimpl
def moonshine_normalize(provider: str, raw: RawRecord) -> list[Record] | None:
    """Conversations with their regeneration comparisons, or one side record; None for other providers."""
    if provider != PROVIDER:
        return None
    return normalize(raw)


@hookimpl
def moonshine_sample_exports() -> list[str]:
    """The synthetic sample exports shipped in ``moonshine_claude/samples``."""
    root = resources.files("moonshine_claude") / "samples"
    return sorted(str(root / name) for name in ("claude_ai_2026", "claude_ai_legacy", "claude_code"))
