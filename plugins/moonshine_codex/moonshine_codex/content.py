"""Message content parts, the context Codex injects as user messages, and inline images.

Codex puts its own context into the conversation as ``user`` (and later
``developer``) messages whose whole text is wrapped in a marker:
``<environment_context>…</environment_context>``, ``<user_instructions>…``,
``# AGENTS.md instructions for <dir>`` … ``</INSTRUCTIONS>``, ``<turn_aborted>``,
``<user_shell_command>``, ``<skill>``, ``<subagent_notification>`` and more
(docs/formats/codex.md §4.2). Those parts are hidden plumbing, never user turns.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from moonshine_core.provider import as_str, as_text
from moonshine_core.records import Attachment

#: Marker tags of injected context (compared case-insensitively), and the hidden_reason each gets.
CONTEXT_TAGS = {
    "environment_context": "codex:environment_context",
    "user_instructions": "codex:user_instructions",
    "user_shell_command": "codex:user_shell_command",
    "turn_aborted": "codex:turn_aborted",
    "subagent_notification": "codex:subagent_notification",
    "skill": "codex:skill",
    "extension_context": "codex:extension_context",
    "goal_context": "codex:goal_context",
    "collaboration_mode": "codex:collaboration_mode",
    "multi_agent_mode": "codex:multi_agent_mode",
    "apps_instructions": "codex:apps_instructions",
    "permissions instructions": "codex:permissions_instructions",
    "model_switch": "codex:model_switch",
    "personality_spec": "codex:personality_spec",
    "hook_prompt": "codex:hook_prompt",
}
_AGENTS_MD = "# agents.md instructions for "
_OPEN_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9_ \-]*)(?:\s[^>]*)?>")
_SNAKE_WRAPPED = re.compile(r"<([a-z]+(?:_[a-z]+)+)>.*</\1>", re.DOTALL)
_BASE64_KEEP = 256
TEXT_PARTS = ("input_text", "output_text", "text")
IMAGE_PARTS = ("input_image", "output_image", "image")


def context_reason(text: str) -> str | None:
    """The hidden_reason of an injected-context text, or None for text a person wrote."""
    stripped = text.strip()
    lower = stripped.lower()
    if lower.startswith(_AGENTS_MD) and lower.endswith("</instructions>"):
        return "codex:agents_md"
    match = _OPEN_TAG.match(stripped)
    if match is None:
        return None
    tag = match.group(1).strip().lower()
    if tag.startswith("external_") and lower.endswith(f"</{tag}>"):
        return "codex:external_context"
    reason = CONTEXT_TAGS.get(tag)
    if reason is not None and lower.endswith(f"</{tag}>"):
        return reason
    return None


def unknown_wrapper(text: str) -> str | None:
    """A snake_case ``<tag>…</tag>`` wrapper we do not know (reported, left visible), else None."""
    match = _SNAKE_WRAPPED.fullmatch(text.strip())
    return match.group(1) if match and context_reason(text) is None else None


def part_type(part: Any) -> str:
    if isinstance(part, str):
        return "text"
    if not isinstance(part, dict):
        return f"<{type(part).__name__}>"
    return as_str(part.get("type")) or "<missing>"


def part_text(part: Any) -> str | None:
    """The text of a text part (``input_text``/``output_text``; a bare string), else None."""
    if isinstance(part, str):
        return part
    if isinstance(part, dict) and part_type(part) in TEXT_PARTS:
        return as_text(part.get("text")) or ""
    return None


def image_attachment(part: dict) -> Attachment:
    """An image part as an attachment reference; an inline ``data:`` URL is measured, not kept."""
    url = part.get("image_url")
    if isinstance(url, dict):
        url = url.get("url")
    mime = size = pointer = None
    if isinstance(url, str) and url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header[5:].split(";", 1)[0] or None
        size = (len(data) * 3) // 4 if ";base64" in header else len(data)
    elif isinstance(url, str):
        pointer = url
    return Attachment(kind="image", mime_type=mime, size_bytes=size, pointer=pointer, raw=strip_inline_data(part))


def strip_inline_data(value: Any, key: str | None = None) -> Any:
    """A copy without inline base64 payloads (``data:…;base64,`` URLs, generated images): a size
    and sha256 stand in for them, so raw JSON stays small."""
    if isinstance(value, list):
        return [strip_inline_data(v) for v in value]
    if isinstance(value, dict):
        generated = value.get("type") == "image_generation_call"
        return {k: strip_inline_data(v, "result" if generated and k == "result" else k) for k, v in value.items()}
    if isinstance(value, str) and len(value) > _BASE64_KEEP and (
            (value.startswith("data:") and ";base64," in value[:100]) or key == "result"):
        digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
        return f"<inline data removed: {len(value)} chars, sha256 {digest}>"
    return value
