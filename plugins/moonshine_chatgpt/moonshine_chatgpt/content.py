"""One ChatGPT message object -> one canonical :class:`Message`.

``content.content_type`` decides where the text lives and what it means
(docs/formats/chatgpt.md §6); author role, recipient and channel decide whether
the user saw it (§7). Every field is optional: 2026 "slim" messages miss
``status``, ``weight``, ``recipient`` and even ``metadata``, and get the
documented defaults (recorded in ``metadata['defaults_applied']``). Unknown
content types and part types are kept raw and named in the returned
unknown-shapes list; nothing here raises on odd input.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from moonshine_core.provider import as_dict, as_id, as_int, as_list, as_text
from moonshine_core.records import Attachment, Message, ToolCall, ToolResult
from moonshine_core.timeutil import to_epoch

from .text import clean_text

#: Defaults of fields that 2026 slim exports drop (docs/formats/chatgpt.md §5.3).
DEFAULT_RECIPIENT = "all"
DEFAULT_WEIGHT = 1.0
DEFAULT_STATUS = "finished_successfully"

#: Content types whose text is platform plumbing (search results, errors, scraped pages).
PLUMBING_TYPES = frozenset({
    "tether_browsing_display", "tether_quote", "tether_browsing_code", "system_error", "sonic_webpage",
    "computer_output", "citable_code_output", "execution_output",
})
KNOWN_TYPES = frozenset({
    "text", "multimodal_text", "code", "thoughts", "reasoning_recap", "user_editable_context",
    "model_editable_context", "system_content",
}) | PLUMBING_TYPES
#: Message keys seen in real exports 2023-2026; others are reported as unknown fields.
KNOWN_MESSAGE_KEYS = frozenset({
    "id", "author", "create_time", "update_time", "content", "status", "end_turn", "weight", "metadata",
    "recipient", "channel",
})
#: Channels the user sees; any other value is hidden (docs/formats/chatgpt.md §7).
VISIBLE_CHANNELS = (None, "final", "commentary")
_IMAGE_PART = "image_asset_pointer"
_AUDIO_PARTS = ("audio_asset_pointer",)
_VIDEO_PARTS = ("video_asset_pointer", "video_container_asset_pointer")
_CODE_INTERPRETER_ERRORS = ("failed_with_in_kernel_exception", "failed_with_system_exception")


@attrs.define
class _Extract:
    """What a content object yielded before role rules apply."""

    text: str = ""
    attachments: list[Attachment] = attrs.field(factory=list)
    reasoning: str | None = None
    result_status: str | None = None
    result_error: bool | None = None
    structured: Any = None
    system_context: bool = False
    unknown: list[str] = attrs.field(factory=list)


def _attachment_from_part(part: dict) -> list[Attachment]:
    """Asset pointers in ``parts`` become attachment references (the bytes stay in the zip)."""
    kind = part.get("content_type")
    if kind == _IMAGE_PART:
        meta = as_dict(part.get("metadata"))
        dalle = as_dict(meta.get("dalle"))
        return [Attachment(kind="image", pointer=as_text(part.get("asset_pointer")),
                           size_bytes=as_int(part.get("size_bytes")),
                           extracted_text=as_text(dalle.get("prompt")), raw=part)]
    if kind in _AUDIO_PARTS:
        fmt = as_text(part.get("format"))
        return [Attachment(kind="audio", pointer=as_text(part.get("asset_pointer")),
                           mime_type=f"audio/{fmt}" if fmt else None,
                           size_bytes=as_int(part.get("size_bytes")), raw=part)]
    if kind in _VIDEO_PARTS:
        return [Attachment(kind="video", pointer=as_text(part.get("asset_pointer")),
                           size_bytes=as_int(part.get("size_bytes")), raw=part)]
    if kind == "real_time_user_audio_video_asset_pointer":
        found: list[Attachment] = []
        for key in ("audio_asset_pointer", "video_container_asset_pointer"):
            inner = part.get(key)
            if isinstance(inner, dict):
                found.extend(_attachment_from_part(inner))
        for frame in as_list(part.get("frames_asset_pointers")):
            if isinstance(frame, dict):
                found.extend(_attachment_from_part(frame))
        return found
    return []


_ATTACHMENT_PART_TYPES = frozenset({_IMAGE_PART, *_AUDIO_PARTS, *_VIDEO_PARTS, "real_time_user_audio_video_asset_pointer"})


def _read_parts(parts: Any, out: _Extract) -> None:
    if parts is None:
        return
    if not isinstance(parts, list):
        out.unknown.append(f"parts_type:{type(parts).__name__}")
        if isinstance(parts, str):
            out.text = parts
        return
    pieces: list[str] = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict):
            kind = as_text(part.get("content_type"))
            if kind == "audio_transcription":
                # Voice mode: the user's words exist only here.
                text = as_text(part.get("text"))
                if text:
                    pieces.append(text)
            elif kind in _ATTACHMENT_PART_TYPES:
                out.attachments.extend(_attachment_from_part(part))
            else:
                out.unknown.append(f"part_type:{kind or type(part.get('content_type')).__name__}")
        elif part is not None:
            out.unknown.append(f"part_type:{type(part).__name__}")
    out.text = "\n".join(p for p in pieces if p) if len(pieces) > 1 else (pieces[0] if pieces else "")


def _thoughts_text(thoughts: Any) -> str:
    blocks = []
    for thought in thoughts if isinstance(thoughts, list) else []:
        if not isinstance(thought, dict):
            continue
        summary = as_text(thought.get("summary")) or ""
        body = as_text(thought.get("content")) or ""
        block = "\n".join(x for x in (summary, body) if x)
        if block:
            blocks.append(block)
    return "\n\n".join(blocks)


def _aggregate_status(aggregate: dict) -> tuple[str | None, bool | None]:
    """Code-interpreter run status and whether it failed (``None`` when it does not say)."""
    status = as_text(aggregate.get("status"))
    if status == "success":
        error: bool | None = False
    elif status in _CODE_INTERPRETER_ERRORS or aggregate.get("timeout_triggered") is True:
        error = True
    else:
        error = None
    if aggregate.get("in_kernel_exception") or aggregate.get("system_exception"):
        error = True
    return status, error


def _aggregate_images(aggregate: dict) -> list[Attachment]:
    found = []
    for item in as_list(aggregate.get("messages")):
        if isinstance(item, dict) and item.get("message_type") == "image":
            found.append(Attachment(kind="image", pointer=as_text(item.get("image_url")), raw=item))
    return found


def extract_content(content: dict, metadata: dict) -> _Extract:
    """Text, attachments, reasoning and tool payload of one ``content`` object."""
    out = _Extract()
    ctype = content.get("content_type")
    if not isinstance(ctype, str):
        ctype = f"<{type(ctype).__name__}>"
    if ctype in ("text", "multimodal_text"):
        _read_parts(content.get("parts"), out)
    elif ctype in ("code", "tether_browsing_code"):
        out.text = as_text(content.get("text")) or as_text(content.get("code")) or ""
    elif ctype == "execution_output":
        out.text = as_text(content.get("text")) or ""
        aggregate = as_dict(metadata.get("aggregate_result"))
        if aggregate:
            out.structured = aggregate
            out.result_status, out.result_error = _aggregate_status(aggregate)
            out.attachments.extend(_aggregate_images(aggregate))
    elif ctype == "tether_browsing_display":
        out.text = as_text(content.get("result")) or as_text(content.get("summary")) or ""
        out.structured = {k: content.get(k) for k in ("summary", "assets", "tether_id") if content.get(k) is not None}
    elif ctype in ("tether_quote", "sonic_webpage"):
        out.text = as_text(content.get("text")) or as_text(content.get("snippet")) or ""
        out.structured = {k: content.get(k) for k in ("url", "domain", "title", "pub_timestamp")
                          if content.get(k) is not None}
    elif ctype == "system_error":
        out.text = as_text(content.get("text")) or ""
        out.result_error = True
        out.result_status = as_text(content.get("name"))
    elif ctype == "computer_output":
        shot = content.get("screenshot")
        if isinstance(shot, dict):
            out.attachments.extend(_attachment_from_part(shot))
        out.structured = {k: content.get(k) for k in ("computer_id", "state", "is_ephemeral", "tether_id")
                          if content.get(k) is not None}
    elif ctype == "citable_code_output":
        out.text = as_text(content.get("output_str")) or ""
    elif ctype == "thoughts":
        out.reasoning = _thoughts_text(content.get("thoughts"))
    elif ctype == "reasoning_recap":
        out.text = ""
    elif ctype == "user_editable_context":
        out.text = "\n\n".join(x for x in (as_text(content.get("user_profile")), as_text(content.get("user_instructions")))
                               if x)
        out.system_context = True
    elif ctype == "model_editable_context":
        out.text = as_text(content.get("model_set_context")) or ""
        out.system_context = True
    elif ctype == "system_content":
        out.text = "\n".join(str(content[k]) for k in ("model_identity_desc", "conversation_start_date",
                                                       "deprecated_knowledge_cutoff", "tools_section")
                             if isinstance(content.get(k), str))
    else:
        out.unknown.append(f"content_type:{ctype}")
        # Keep whatever text an unknown type carries so nothing is silently lost.
        if isinstance(content.get("parts"), list):
            _read_parts(content.get("parts"), out)
        else:
            out.text = as_text(content.get("text")) or ""
    return out


def _file_attachments(metadata: dict) -> list[Attachment]:
    """Uploaded files listed in ``metadata.attachments`` (their text is not in the export)."""
    found = []
    for item in as_list(metadata.get("attachments")):
        if not isinstance(item, dict):
            continue
        mime = as_text(item.get("mime_type")) or as_text(item.get("mimeType"))
        kind = "image" if mime and mime.startswith("image/") else "file"
        found.append(Attachment(kind=kind, name=as_text(item.get("name")), pointer=as_text(item.get("id")),
                                mime_type=mime, size_bytes=as_int(item.get("size")), raw=item))
    return found


def _merge_attachments(files: list[Attachment], parts: list[Attachment]) -> list[Attachment]:
    """An uploaded image appears twice (``metadata.attachments`` and an asset pointer part): keep one.

    The part keeps its pointer (``sediment://file_x``) and gains the upload's
    name and MIME type (matched by the file id the pointer ends with).
    """
    by_id = {a.pointer: a for a in files if a.pointer}
    used: set[str] = set()
    for part in parts:
        tail = part.pointer.rsplit("/", 1)[-1] if part.pointer else None
        upload = by_id.get(tail) if tail else None
        if upload is not None and tail not in used:
            used.add(tail)
            part.name = part.name or upload.name
            part.mime_type = part.mime_type or upload.mime_type
            part.size_bytes = part.size_bytes or upload.size_bytes
    return [a for a in files if a.pointer not in used] + parts


def _tool_arguments(text: str, content_type: Any) -> Any:
    """Tool-call arguments: JSON text (``bio``, ``dalle.text2im``, ``canmore.*``) as data, code as text."""
    if content_type == "text" and text[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _custom_instruction_text(metadata: dict) -> str:
    data = as_dict(metadata.get("user_context_message_data"))
    return "\n\n".join(x for x in (as_text(data.get("about_user_message")), as_text(data.get("about_model_message"))) if x)


def _model_of(metadata: dict) -> str | None:
    for key in ("model_slug", "resolved_model_slug"):
        value = as_text(metadata.get(key))
        if value:
            return value
    return None


def build_message(node_id: str, parent_id: str | None, msg: Any) -> tuple[Message, list[str]]:
    """Turn one raw message object into a :class:`Message` and the unknown shapes it showed.

    ``node_id`` (the mapping key) is the message id: ``parent`` and
    ``current_node`` point at node ids, which differ from ``message.id`` on a
    few 2023 placeholder nodes (kept in ``metadata['message_object_id']``).
    Model fallback to the conversation default happens in the caller.
    """
    if not isinstance(msg, dict):
        return (Message(message_id=node_id, role="unknown", parent_id=parent_id, hidden=True,
                        hidden_reason="malformed_message", raw=msg),
                [f"message_type:{type(msg).__name__}"])
    unknown = [f"message_field:{k}" for k in msg if k not in KNOWN_MESSAGE_KEYS]
    author = msg.get("author")
    if not isinstance(author, dict):
        if author is not None:
            unknown.append(f"author_type:{type(author).__name__}")
        author = {}
    role = as_text(author.get("role")) or "unknown"
    author_name = as_text(author.get("name"))
    defaults = []
    metadata = msg.get("metadata")
    if not isinstance(metadata, dict):
        if "metadata" not in msg:
            defaults.append("metadata")
        metadata = {}
    content = msg.get("content")
    if not isinstance(content, dict):
        unknown.append(f"content_shape:{type(content).__name__}")
        content = {"content_type": None, "text": as_text(content)}
    ctype = as_text(content.get("content_type"))
    if "recipient" not in msg:
        defaults.append("recipient")
    recipient = as_text(msg.get("recipient")) or DEFAULT_RECIPIENT
    if "weight" not in msg:
        defaults.append("weight")
    weight = msg.get("weight") if isinstance(msg.get("weight"), (int, float)) else DEFAULT_WEIGHT
    if "status" not in msg:
        defaults.append("status")
    status = as_text(msg.get("status")) or DEFAULT_STATUS
    channel = as_text(msg.get("channel"))

    ex = extract_content(content, metadata)
    unknown.extend(ex.unknown)
    attachments = _merge_attachments(_file_attachments(metadata), ex.attachments)
    text = ex.text
    tool_calls: list[ToolCall] = []
    tool_results: list[ToolResult] = []
    hidden_reason: str | None = None
    extra: dict[str, Any] = {}

    is_custom_instructions = metadata.get("is_user_system_message") is True or ctype == "user_editable_context"
    if is_custom_instructions:
        if not text.strip():
            text = _custom_instruction_text(metadata)
        extra["author_role"] = role
        role = "system"
        extra["system_context"] = "custom_instructions"
        hidden_reason = "custom_instructions"
    elif ctype == "model_editable_context":
        extra["author_role"] = role
        role = "system"
        extra["system_context"] = "memory"
        hidden_reason = "memory_context"
    elif ctype == "thoughts":
        hidden_reason = "reasoning"
    elif ctype == "reasoning_recap":
        hidden_reason = "reasoning_recap"
    elif role == "assistant" and recipient != "all":
        tool_calls.append(ToolCall(name=recipient, arguments=_tool_arguments(text, ctype), call_id=node_id))
        text = ""
        hidden_reason = "tool_call"
    elif role == "tool":
        # Tool output keeps its markers: they are the ids the model cited from it.
        tool_results.append(ToolResult(content=text, name=author_name, is_error=ex.result_error,
                                       status=ex.result_status, structured=ex.structured))
        text = ""
        # Generated images and code-interpreter plots are shown to the user even though a tool made them.
        if not any(a.kind == "image" for a in attachments):
            hidden_reason = "tool_result"
    if hidden_reason is None:
        if metadata.get("is_visually_hidden_from_conversation") is True:
            hidden_reason = "visually_hidden"
        elif role == "system":
            hidden_reason = "system"
        elif channel not in VISIBLE_CHANNELS:
            hidden_reason = f"channel:{channel}"
        elif isinstance(ctype, str) and ctype in PLUMBING_TYPES and role != "tool":
            # Platform content under other roles; a tool's output that got here carries an image the user saw.
            hidden_reason = "platform_content"
        elif ctype not in KNOWN_TYPES:
            hidden_reason = "unknown_content_type"
    cleaned = clean_text(text)
    if hidden_reason is None and role in ("user", "assistant") and not cleaned.strip() and not attachments:
        hidden_reason = "empty"

    model = _model_of(metadata) if role != "user" else None
    object_id = as_id(msg.get("id"))
    meta: dict[str, Any] = {"recipient": recipient, "weight": weight}
    for key, value in (("channel", channel), ("end_turn", msg.get("end_turn")),
                       ("message_type", as_text(metadata.get("message_type"))),
                       ("finish_reason", as_text(as_dict(metadata.get("finish_details")).get("type"))),
                       ("paragen_variant_choice", as_text(metadata.get("paragen_variant_choice"))),
                       ("paragen_variants_info", metadata.get("paragen_variants_info")),
                       ("language", as_text(content.get("language")) if ctype == "code" else None),
                       ("message_object_id", object_id if object_id != node_id else None)):
        if value is not None:
            meta[key] = value
    if defaults:
        meta["defaults_applied"] = defaults
    meta.update(extra)
    message = Message(
        message_id=node_id,
        role=role,
        parent_id=parent_id,
        text=cleaned,
        raw_text=text if cleaned != text else None,
        reasoning=ex.reasoning or None,
        reasoning_kind="summary" if ex.reasoning else None,
        tool_calls=tool_calls,
        tool_results=tool_results,
        attachments=attachments,
        hidden=hidden_reason is not None,
        hidden_reason=hidden_reason,
        content_kind=ctype if isinstance(ctype, str) else None,
        model=model,
        created_at=to_epoch(msg.get("create_time")),
        updated_at=to_epoch(msg.get("update_time")),
        status=status,
        author_name=author_name,
        metadata=meta,
        raw=msg,
    )
    return message, unknown
