"""Content-block helpers shared by the claude.ai and Claude Code normalisers."""

from __future__ import annotations

import json
from typing import Any

from moonshine_core.provider import as_str, as_text


def block_type(block: Any) -> str:
    """The ``type`` of a block, ``<not-object>`` / ``<missing>`` when it has none."""
    if not isinstance(block, dict):
        return "<not-object>"
    return as_str(block.get("type")) or "<missing>"


def result_text(content: Any) -> tuple[str, bool]:
    """The text form of a ``tool_result`` content, and whether it also held non-text items.

    ``content`` is usually a list of items (``text``, ``knowledge`` for web
    results, ``image``, ``local_resource`` ...), sometimes a string or an object.
    Text and knowledge items give text; other items are kept structured.
    """
    if content is None:
        return "", False
    if isinstance(content, str):
        return content, False
    if isinstance(content, dict):
        content = [content]
    if not isinstance(content, list):
        return json.dumps(content, ensure_ascii=False, default=str), False
    parts: list[str] = []
    other = False
    for item in content:
        if isinstance(item, str):
            parts.append(item)
            continue
        kind = block_type(item)
        if kind == "text":
            parts.append(as_text(item.get("text")) or "")
        elif kind == "knowledge":
            head = " ".join(p for p in (as_text(item.get("title")), as_text(item.get("url"))) if p)
            parts.append("\n".join(p for p in (head, as_text(item.get("text"))) if p))
            other = True
        else:
            other = True
    return "\n\n".join(p for p in parts if p), other


def bool_or_none(value: Any) -> bool | None:
    """A JSON boolean, or None for anything else (``is_error`` may be missing or odd)."""
    return value if isinstance(value, bool) else None


class TextJoiner:
    """Joins text blocks the way the flat ``text`` does: adjacent text blocks glue, others separate.

    claude.ai splits one paragraph into several text blocks around citations,
    so adjacent text blocks are concatenated as they are; text on either side
    of a thinking or tool block is a separate paragraph.
    """

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._break = False

    def add(self, text: str) -> None:
        if not text:
            return
        if self.parts and self._break:
            self.parts.append("\n\n")
        self.parts.append(text)
        self._break = False

    def add_text_block(self, block: dict) -> None:
        """The text of a ``text`` block (blank text adds nothing)."""
        text = as_text(block.get("text")) or ""
        if text.strip():
            self.add(text)

    def interrupt(self) -> None:
        """A non-text block sits here."""
        self._break = True

    def text(self) -> str:
        return "".join(self.parts).strip()
