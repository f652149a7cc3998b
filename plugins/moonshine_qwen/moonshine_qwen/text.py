"""Text cleaning for Qwen messages: reasoning markup inside ``content`` and tag lists.

Current exports keep reasoning in ``content_list`` phases, but the ``content``
fallback of older (QwQ-era) and Open WebUI-style messages may carry it inline,
as a leading ``<think>...</think>`` block or as Open WebUI's
``<details type="reasoning">`` block. Those are moved out of the visible text.
"""

from __future__ import annotations

import re
from typing import Any

_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_DETAILS = re.compile(r'<details\s+type="reasoning"[^>]*>(.*?)</details>\s*', re.DOTALL)
_SUMMARY = re.compile(r"<summary>.*?</summary>\s*", re.DOTALL)
_QUOTE = re.compile(r"^> ?", re.MULTILINE)


def split_inline_reasoning(text: str) -> tuple[str, str | None]:
    """Visible text and the reasoning that was inline in it (``None`` when there was none)."""
    found: list[str] = []
    match = _THINK.match(text)
    if match:
        found.append(match.group(1).strip())
        text = text[match.end():]

    def _take(m: re.Match[str]) -> str:
        body = _SUMMARY.sub("", m.group(1))
        found.append(_QUOTE.sub("", body).strip())
        return ""

    text = _DETAILS.sub(_take, text)
    reasoning = "\n\n".join(part for part in found if part)
    return text, (reasoning or None) if found else None


def normalize_tags(value: Any) -> list[str]:
    """``meta.tags`` as a list of names, from a ``"#a #b"`` string or a list of strings/``{name}`` dicts."""
    if isinstance(value, str):
        return [t.lstrip("#") for t in re.split(r"[\s,]+", value) if t.lstrip("#")]
    tags: list[str] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, str) and item.strip():
                tags.append(item.strip().lstrip("#"))
            elif isinstance(item, dict):
                name = item.get("name") or item.get("id")
                if isinstance(name, str) and name.strip():
                    tags.append(name.strip())
    return tags


def as_bool(value: Any) -> bool | None:
    """A flag written as a bool, a number or a string (``"False"`` happens)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1", "yes"):
            return True
        if lowered in ("false", "0", "no", ""):
            return False
    return None
