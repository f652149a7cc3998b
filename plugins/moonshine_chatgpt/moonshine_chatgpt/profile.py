"""Custom instructions and memory as personal side records, so the core can redact what they say.

ChatGPT has no profile file: what the user wrote about themselves lives inside
each conversation (docs/formats/chatgpt.md §11.13), as

- ``user_editable_context`` content (2024+): ``user_profile`` and
  ``user_instructions``, each the user's words inside a fenced block behind an
  explanatory preamble ("The user provided the following information about
  themselves. ... User profile:\\n```Preferred name: ...```"); newer
  personalisation fills the block with labelled lines (``Preferred name:``,
  ``Role:``, ``Other Information:``);
- ``metadata.user_context_message_data`` (2023+): ``about_user_message`` and
  ``about_model_message``, the same words without the preamble;
- ``model_editable_context`` content: ``model_set_context``, the memory
  ("1. [2024-05-12]. The user's name is ...").

Each distinct text becomes one ``SideRecord(personal=True)`` (kind
``custom_instructions`` or ``memory``, id from its content, so the same
instructions in 50 conversations are one record) whose ``profile_text`` is the
user's own words: the key the core reads for names and places
(docs/lanes.md, "Personal data").
"""

from __future__ import annotations

import re
from typing import Any

from moonshine_core.provider import as_dict, as_text, fallback_id
from moonshine_core.records import Conversation, SideRecord

_FENCE = re.compile(r"```(.*?)(?:```|$)", re.DOTALL)


def _own_words(text: str | None) -> str:
    """The user's words inside ChatGPT's preamble (the fenced block), or the text as written."""
    if not text:
        return ""
    match = _FENCE.search(text)
    return (match.group(1) if match else text).strip()


def _custom_instructions(raw: dict) -> dict[str, Any] | None:
    meta = as_dict(as_dict(raw.get("metadata")).get("user_context_message_data"))
    content = as_dict(raw.get("content"))
    about_user = ((as_text(meta.get("about_user_message")) or "").strip()
                  or _own_words(as_text(content.get("user_profile"))))
    about_model = ((as_text(meta.get("about_model_message")) or "").strip()
                   or _own_words(as_text(content.get("user_instructions"))))
    if not about_user and not about_model:
        return None
    return {"about_user_message": about_user, "about_model_message": about_model,
            "profile_text": [t for t in (about_user, about_model) if t]}


def _memory(raw: dict) -> dict[str, Any] | None:
    text = (as_text(as_dict(raw.get("content")).get("model_set_context")) or "").strip()
    return {"memory": text, "profile_text": [text]} if text else None


def profile_records(conversation: Conversation) -> list[SideRecord]:
    """One personal side record per distinct custom-instructions or memory text of a conversation."""
    found: dict[str, SideRecord] = {}
    for message in conversation.messages:
        context = message.metadata.get("system_context")
        raw = message.raw if isinstance(message.raw, dict) else {}
        if context == "custom_instructions":
            kind, data = "custom_instructions", _custom_instructions(raw)
        elif context == "memory":
            kind, data = "memory", _memory(raw)
        else:
            continue
        if data is not None:
            record_id = f"{kind}:{fallback_id(data)}"
            found.setdefault(record_id, SideRecord(kind=kind, record_id=record_id, personal=True, data=data))
    return list(found.values())
