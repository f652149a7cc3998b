"""Small helpers the Claude tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from moonshine_core.records import Comparison, Conversation, RawRecord, SideRecord
from moonshine_core.sources import ExportSource

from moonshine_claude import PROVIDER
from moonshine_claude.plugin import plugin


def normalize(raw: RawRecord) -> list[Any]:
    """Normalise one raw record through the plugin's hook (errors name the record, as in a run)."""
    return plugin.moonshine_normalize(PROVIDER, raw)


def parse(source: ExportSource) -> Any:
    return plugin.moonshine_parse(PROVIDER, source)


def detect(source: ExportSource) -> Any:
    return plugin.moonshine_detect(source)


def run(path: Path) -> list[Any]:
    """Parse and normalise a whole export."""
    out: list[Any] = []
    with ExportSource(path) as source:
        for raw in parse(source):
            out.extend(normalize(raw))
    return out


def raws(path: Path) -> list[RawRecord]:
    with ExportSource(path) as source:
        return list(parse(source))


def detected(path: Path):
    with ExportSource(path) as source:
        return detect(source)


def conversations(records: list[Any]) -> dict[str, Conversation]:
    return {r.conversation_id: r for r in records if isinstance(r, Conversation)}


def sides(records: list[Any]) -> list[SideRecord]:
    return [r for r in records if isinstance(r, SideRecord)]


def comparisons(records: list[Any]) -> list[Comparison]:
    return [r for r in records if isinstance(r, Comparison)]


def one_conversation(data: Any, **context: Any) -> list[Any]:
    """Normalise one in-memory claude.ai conversation."""
    return normalize(RawRecord(kind="conversation", data=data, member="conversations.json", index=0,
                               variant="test", context={"format": "claude_ai", **context}))


def one_session(records: list[Any], **context: Any) -> list[Any]:
    """Normalise one in-memory Claude Code session."""
    ctx = {"format": "claude_code", "file_stem": "session", "subagent": False,
           "line_numbers": list(range(1, len(records) + 1)) if isinstance(records, list) else [], "malformed_lines": [], **context}
    return normalize(RawRecord(kind="conversation", data=records, member="s.jsonl", index=0, variant="test",
                               context=ctx))
