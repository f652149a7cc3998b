"""Recognising a Qwen export from the head of its files.

Only the first bytes of a file are read. The shape of the JSON head (which keys
exist at which path, and whether ``data`` is a list or an object) decides the
variant:

``export_all``      ``{"success", "request_id", "data": [conversation, ...]}`` (Settings → Chats → Export Chats)
``per_chat``        ``[conversation, ...]`` (chat menu → Download → Export chat .json)
``api_chat``        ``{"success", "request_id", "data": {conversation}}`` (the ``/api/v2/chats/<id>`` body)
``conversation``    one bare conversation object
``console_capture`` one of the above preceded by lines of console text (a pasted ``head`` output)
``envelope_without_data`` the envelope with ``data`` null or missing (a failed request)

Open WebUI, which Qwen forked, writes arrays of the same shape without Qwen's
markers; those are claimed with a low confidence so that a real Qwen file or
another plugin wins.
"""

from __future__ import annotations

import io
from typing import Any

import attrs
import ijson

from moonshine_core.errors import ParseError
from moonshine_core.records import Detection

PROVIDER = "qwen"
HEAD_BYTES = 256 * 1024
#: Lines of console text we look through for the start of the JSON.
MAX_PREAMBLE_LINES = 40

#: Keys only Qwen writes; matched on the last path segment. Open WebUI also writes ``modelName`` and
#: ``modelIdx``, and its users often run Qwen models locally, so neither those keys nor a "qwen" model
#: name count as evidence.
QWEN_MARKER_KEYS = frozenset({
    "content_list", "chat_type", "sub_chat_type", "feature_config", "currentResponseIds", "turn_id",
})
QWEN_MARKER_BYTES = (b"qwenlm.ai", b"chat.qwen.ai")

#: ijson prefix of the conversations for each streamable variant.
CONVERSATION_PREFIX = {
    "export_all": "data.item",
    "per_chat": "item",
    "per_chat_openwebui_like": "item",
    "api_chat": "data",
    "conversation": "",
}


@attrs.define
class HeadShape:
    """What the first bytes of a file say about its JSON."""

    top: str = "invalid"                      # array | object | scalar | invalid
    json_offset: int = 0                       # bytes of console text before the JSON starts
    preamble_lines: int = 0
    top_keys: list[str] = attrs.field(factory=list)
    data_kind: str | None = None               # array | object | null | scalar, for the envelope's "data"
    key_paths: set[str] = attrs.field(factory=set)
    first_item_keys: list[str] = attrs.field(factory=list)
    has_items: bool = False                    # the conversation container has at least one element
    marker_keys: set[str] = attrs.field(factory=set)
    marker_bytes: bool = False
    error: str | None = None

    def item_finished(self, prefix: str) -> bool:
        """The first element at ``prefix`` has closed (keys seen later belong to other items)."""
        return f"{prefix}.<end>" in self.key_paths


def _json_start(head: bytes) -> tuple[int, int]:
    """Offset of the first line that opens JSON, and how many lines of text precede it.

    Returns ``(-1, 0)`` when no such line appears in the first lines of the head.
    """
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    skip = len(head) - len(body)
    stripped = body.lstrip(b" \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return skip + len(body) - len(stripped), 0
    offset = skip
    text_lines = 0
    for line in body.splitlines(keepends=True)[:MAX_PREAMBLE_LINES]:
        if line.lstrip(b" \t")[:1] in (b"{", b"["):
            return offset, text_lines
        if line.strip():
            text_lines += 1
        offset += len(line)
    return -1, 0


def scan_head(head: bytes) -> HeadShape:
    """The :class:`HeadShape` of a file's first bytes (never raises)."""
    shape = HeadShape()
    offset, text_lines = _json_start(head)
    if offset < 0:
        stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        shape.top = "scalar" if stripped else "invalid"
        shape.error = "no JSON object or array at the start of the file"
        return shape
    shape.json_offset, shape.preamble_lines = offset, text_lines
    shape.marker_bytes = any(m in head for m in QWEN_MARKER_BYTES)
    body = head[offset:]
    shape.top = "object" if body.lstrip(b" \t\r\n")[:1] == b"{" else "array"
    try:
        for prefix, event, value in ijson.parse(io.BytesIO(body), use_float=True):
            if event == "map_key":
                path = f"{prefix}.{value}" if prefix else value
                shape.key_paths.add(path)
                if value in QWEN_MARKER_KEYS:
                    shape.marker_keys.add(value)
                if prefix == "" and shape.top == "object":
                    shape.top_keys.append(value)
                if prefix in ("item", "data.item") and not shape.item_finished(prefix):
                    if value not in shape.first_item_keys:
                        shape.first_item_keys.append(value)
            elif prefix == "data" and event in ("start_array", "start_map", "null", "string", "number", "boolean"):
                if shape.data_kind is None:
                    shape.data_kind = {"start_array": "array", "start_map": "object", "null": "null"}.get(event, "scalar")
            elif event in ("start_map", "start_array") and prefix in ("item", "data.item"):
                shape.has_items = True
            elif event == "end_map" and prefix in ("item", "data.item"):
                shape.key_paths.add(f"{prefix}.<end>")
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
        # A head cut mid-document is expected; only note the problem.
        shape.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return shape


def _has_chat(shape: HeadShape, base: str) -> bool:
    prefix = f"{base}.chat" if base else "chat"
    return any(p == f"{prefix}.history" or p == f"{prefix}.messages" or p.startswith(f"{prefix}.history.")
               for p in shape.key_paths)


def classify(shape: HeadShape) -> tuple[str, float, str] | None:
    """``(variant, confidence, evidence)`` for a head, or ``None`` when it is not a Qwen file."""
    markers = sorted(shape.marker_keys) + (["cdn.qwenlm.ai/qwen text"] if shape.marker_bytes else [])
    marker_note = f"; Qwen markers: {', '.join(markers)}" if markers else ""
    found: tuple[str, float, str] | None = None
    if shape.top == "object" and "success" in shape.top_keys and "data" in shape.top_keys:
        if shape.data_kind == "array":
            if _has_chat(shape, "data.item"):
                found = ("export_all", 0.95, "object {success, request_id, data:[...]} whose items hold chat")
            elif not shape.has_items and "request_id" in shape.top_keys:
                found = ("export_all", 0.6, "envelope {success, request_id, data:[]} with no conversations")
        elif shape.data_kind == "object" and _has_chat(shape, "data"):
            found = ("api_chat", 0.9, "object {success, request_id, data:{chat}} (one chat from the web API)")
        elif shape.data_kind in ("null", "scalar") and "request_id" in shape.top_keys:
            found = ("envelope_without_data", 0.4, f"envelope {{success, request_id}} whose data is {shape.data_kind}")
    elif shape.top == "object" and "success" in shape.top_keys and "request_id" in shape.top_keys \
            and shape.error is None and "data" not in shape.top_keys:
        found = ("envelope_without_data", 0.4, "envelope {success, request_id} without data")
    elif shape.top == "array" and "chat" in shape.first_item_keys and _has_chat(shape, "item"):
        if markers:
            found = ("per_chat", 0.9, "array of conversations with chat.history/chat.messages")
        else:
            found = ("per_chat_openwebui_like", 0.3,
                     "array of Open WebUI-shaped conversations without Qwen markers")
    elif shape.top == "object" and "chat" in shape.top_keys and _has_chat(shape, "") and markers:
        found = ("conversation", 0.8, "one conversation object with chat.history/chat.messages")
    if found is None:
        return None
    variant, confidence, evidence = found
    if shape.preamble_lines:
        return ("console_capture", 0.5,
                f"{shape.preamble_lines} line(s) of console text before a {variant} JSON head: not a whole export")
    return variant, confidence, evidence + marker_note


def candidate_members(source: Any) -> list[str]:
    """Members worth looking at: the file itself, or the ``.json``/``.txt`` files of a folder or zip."""
    if source.kind == "file":
        return source.names()
    return [n for n in source.names()
            if n.lower().endswith((".json", ".txt")) and not n.rsplit("/", 1)[-1].startswith(".")]


def classify_member(source: Any, name: str) -> tuple[HeadShape, tuple[str, float, str] | None]:
    """Head shape and classification of one member (never raises for unreadable members)."""
    try:
        head = source.head(name, HEAD_BYTES)
    except ParseError:
        return HeadShape(error="unreadable"), None
    shape = scan_head(head)
    # A .txt member only counts when it holds an export's JSON (the console-capture case or a renamed file).
    return shape, classify(shape)


def detect(source: Any) -> Detection | None:
    """The best Qwen :class:`Detection` among the export's members, or ``None``."""
    best: tuple[str, float, str, str] | None = None
    for name in candidate_members(source):
        _, found = classify_member(source, name)
        if found and (best is None or found[1] > best[1]):
            best = (found[0], found[1], found[2], name)
    if best is None:
        return None
    variant, confidence, evidence, name = best
    return Detection(provider=PROVIDER, variant=variant, confidence=confidence, evidence=f"{name}: {evidence}")
