"""Cleaning DeepSeek's inline markup out of visible text.

Answers written with web search carry citation markers that point at the
``cite_index`` of a SEARCH result: ``[citation:3]`` (2025 exports) and
``[reference:3]`` (2026 web API). They mean nothing without the search panel,
so the visible text drops them; the text before cleaning is kept as
``raw_text`` and the cited indexes in order are returned for metadata.
"""

from __future__ import annotations

import re

# A run of markers, with the horizontal space before it, so "foo [citation:1][citation:2]." becomes "foo.".
# Some renderings list several indexes in one marker ("[citation:1,2]", full-width comma included).
_MARKER = r"\[(?:citation|reference)\s*:\s*\d+(?:\s*[,，]\s*\d+)*\]"
_MARKERS = re.compile(rf"[ \t]*(?:{_MARKER})+")
_INDEXES = re.compile(r"\d+")
_ONE = re.compile(_MARKER)


def clean_citations(text: str) -> tuple[str, list[int]]:
    """Return ``text`` without citation markers and the cited indexes in order of appearance."""
    if "[" not in text:
        return text, []
    cited = [int(n) for marker in _ONE.findall(text) for n in _INDEXES.findall(marker)]
    if not cited:
        return text, []
    return _MARKERS.sub("", text), cited


def join_parts(parts: list[str]) -> str:
    """Join the non-empty text pieces of one node (several RESPONSE fragments, say) with a blank line."""
    return "\n\n".join(p for p in parts if p)
