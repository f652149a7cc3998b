"""Cleaning ChatGPT's citation markup out of visible text.

Two generations of markers exist (docs/formats/chatgpt.md §8):

- 2025+: private-use-area sequences ``U+E200 <kind> U+E202 <args> U+E201``
  (``cite``, ``filecite``, ``entity``, ``image_group``, ``navlist`` ...), plus
  ``U+E203 ... U+E204`` around highlighted spans and stray ``U+E206``;
- 2023-24: ``【12†source】``, ``【4:0†file.pdf】`` and ``【turn0search1】`` markers.

The UI renders an ``entity`` marker as the entity's display name, so that name
is kept; every other marker is removed. Highlight markers are removed and the
span they enclose is kept.
"""

from __future__ import annotations

import json
import re

# A marker takes the blanks before it along, so "fact <marker>." reads "fact.".
_PUA_SEQUENCE = re.compile("([ \t]*)\ue200([^\ue200\ue201\ue202]*)(?:\ue202([^\ue200\ue201]*))?\ue201")
_PUA_SINGLES = re.compile("[\ue200-\ue206]")
_BRACKET_MARKER = re.compile(r"[ \t]*(?:【[^【】\n]{0,120}?†[^【】\n]{0,200}】|【turn\d+[a-z_]+\d+(?:[^【】\n]{0,40})】)")


def _pua_replacement(match: re.Match[str]) -> str:
    kind = (match.group(2) or "").strip()
    if kind == "entity" and match.group(3):
        # Entity args are a JSON list like ["people", "Ada Lovelace", ...]: the UI shows the name.
        try:
            args = json.loads(match.group(3))
        except ValueError:
            return ""
        if isinstance(args, list) and len(args) > 1 and isinstance(args[1], str):
            return match.group(1) + args[1]
    return ""


def clean_text(text: str) -> str:
    """Return ``text`` without citation markers (see the module docstring)."""
    if not text:
        return text
    if "\ue200" <= max(text) or "【" in text:
        cleaned = _PUA_SEQUENCE.sub(_pua_replacement, text)
        cleaned = _PUA_SINGLES.sub("", cleaned)
        return _BRACKET_MARKER.sub("", cleaned)
    return text
