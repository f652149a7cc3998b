"""Text cleaning for Claude exports: flat-text placeholders, inline 2024 tags, Claude Code markup.

The claude.ai flat ``text`` field is only a fallback (content blocks are the
source of truth); when it is used, the fenced "not supported on this device"
placeholders that stand where tool blocks were are removed, and the 2024
inline ``<antThinking>`` / ``<antArtifact>`` tags are lifted out of the visible
text into reasoning and structured artifact calls.
"""

from __future__ import annotations

import re

import attrs

#: The fenced placeholders claude.ai writes into the flat ``text`` where a tool block was.
PLACEHOLDERS = (
    "Viewing artifacts created via the Analysis Tool web feature preview isn\u2019t yet supported on mobile.",
    "Viewing artifacts created via the Analysis Tool web feature preview isn't yet supported on mobile.",
    "This block is not supported on your current device yet.",
)
_PLACEHOLDER_RE = re.compile(
    r"```[ \t]*\n?[ \t]*(?:" + "|".join(re.escape(p) for p in PLACEHOLDERS) + r")[ \t]*\n?```")
_THINKING_RE = re.compile(r"<antThinking>(.*?)(?:</antThinking>|\Z)", re.DOTALL)
_ARTIFACT_RE = re.compile(r"<antArtifact\b([^>]*)>(.*?)(</antArtifact>|\Z)", re.DOTALL)
_ATTR_RE = re.compile(r"""([A-Za-z_][\w-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_BLANKS_RE = re.compile(r"\n{3,}")


@attrs.define
class InlineArtifact:
    """One ``<antArtifact>`` element lifted out of 2024 assistant text."""

    attributes: dict[str, str]
    body: str
    closed: bool
    position: int


@attrs.define
class CleanedText:
    """Visible text, the reasoning and artifacts lifted out of it, and what was removed."""

    text: str
    thinking: list[str] = attrs.field(factory=list)
    artifacts: list[InlineArtifact] = attrs.field(factory=list)
    placeholders: int = 0


def strip_placeholders(text: str) -> tuple[str, int]:
    """Remove the fenced tool placeholders; returns the text and how many were removed."""
    cleaned, count = _PLACEHOLDER_RE.subn("", text)
    return cleaned, count


def tidy(text: str) -> str:
    """Collapse the blank runs that removing markup leaves and trim the ends."""
    return _BLANKS_RE.sub("\n\n", text).strip()


def clean_flat_text(text: str) -> CleanedText:
    """Clean a flat ``text`` field: placeholders out, antThinking to reasoning, antArtifact to artifacts."""
    thinking = [m.group(1).strip() for m in _THINKING_RE.finditer(text)]
    body = _THINKING_RE.sub("", text)
    artifacts: list[InlineArtifact] = []
    for match in _ARTIFACT_RE.finditer(body):
        attributes = {m.group(1): (m.group(2) if m.group(2) is not None else m.group(3) or "")
                      for m in _ATTR_RE.finditer(match.group(1))}
        artifacts.append(InlineArtifact(attributes=attributes, body=match.group(2).strip("\n"),
                                        closed=bool(match.group(3)), position=match.start()))
    body = _ARTIFACT_RE.sub("", body)
    body, placeholders = strip_placeholders(body)
    return CleanedText(text=tidy(body), thinking=[t for t in thinking if t], artifacts=artifacts,
                       placeholders=placeholders)


# -- Claude Code ------------------------------------------------------------------
_COMMAND_TAGS = ("<command-name>", "<command-message>", "<command-args>", "<local-command-stdout>",
                 "<local-command-stderr>", "<local-command-caveat>", "<bash-input>", "<bash-stdout>",
                 "<bash-stderr>")
_INTERRUPT_RE = re.compile(r"^\[Request interrupted by user[^\]]*\]$")


def claude_code_prompt_kind(text: str) -> str | None:
    """Why a Claude Code user text is not a human prompt (``command``, ``interrupt``), or None when it is one."""
    stripped = text.strip()
    if stripped.startswith(_COMMAND_TAGS):
        return "command"
    if _INTERRUPT_RE.match(stripped):
        return "interrupt"
    return None
