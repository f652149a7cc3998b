"""Turning DeepSeek message content into message parts.

A DeepSeek node's content is a list of typed fragments (official export and
the 2025-11+ web API) or, in the older web API, flat fields
(``content``, ``thinking_content``, ``search_results``). Both end up as
:class:`Parts`: prompt text, answer text, raw reasoning, tool traffic and
attachments, plus what was not understood.

Fragment types and where they go:

=====================  ======================================================
``REQUEST``            user prompt text (marks the node as a user node)
``RESPONSE``           answer text
``TEMPLATE_RESPONSE``  answer text (a templated answer, same treatment)
``THINK``              raw reasoning (``reasoning_kind="raw"``)
``SEARCH``             ``ToolCall("web_search")`` + ``ToolResult`` holding the results
``READ_LINK``          ``ToolCall("read_link", {"url": ...})`` + ``ToolResult`` when content came back
``TOOL_SEARCH``        ``ToolCall("tool_search")`` + ``ToolResult`` when it has results/content
``TOOL_OPEN``          ``ToolCall("tool_open")`` + ``ToolResult`` when it has results/content
``FILE``               attachments (metadata only: DeepSeek never exports file bodies)
``TIP``                UI hint: dropped (it stays in the raw node)
anything else          kept raw, reported as ``fragment:<TYPE>``
=====================  ======================================================
"""

from __future__ import annotations

from typing import Any

import attrs

from moonshine_core.provider import as_id, as_int, as_str, as_text
from moonshine_core.records import Attachment, ToolCall, ToolResult

USER_TYPES = frozenset({"REQUEST"})
ANSWER_TYPES = frozenset({"RESPONSE", "TEMPLATE_RESPONSE"})
ASSISTANT_TYPES = frozenset({"RESPONSE", "TEMPLATE_RESPONSE", "THINK", "SEARCH", "READ_LINK",
                             "TOOL_SEARCH", "TOOL_OPEN"})
KNOWN_TYPES = USER_TYPES | ASSISTANT_TYPES | {"FILE", "TIP"}
_TOOL_NAMES = {"SEARCH": "web_search", "READ_LINK": "read_link", "TOOL_SEARCH": "tool_search",
               "TOOL_OPEN": "tool_open"}
# Keys of a tool fragment that are its result rather than its arguments.
_RESULT_KEYS = ("results", "content", "references", "status", "result")
_PLUMBING_KEYS = ("type", "id", "stage_id", "elapsed_secs")


@attrs.define
class Parts:
    """What one node's content amounts to."""

    request: list[str] = attrs.field(factory=list)
    answer: list[str] = attrs.field(factory=list)
    think: list[str] = attrs.field(factory=list)
    think_secs: float | None = None
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    tool_results: list[ToolResult] = attrs.field(factory=list)
    attachments: list[Attachment] = attrs.field(factory=list)
    types: list[str] = attrs.field(factory=list)
    tips: int = 0
    unknown: list[str] = attrs.field(factory=list)

    def role(self) -> str | None:
        """The role the content implies: REQUEST means user, answer/reasoning/tool fragments assistant.

        A node with only FILE fragments is an upload (user); ``None`` when nothing tells.
        """
        kinds = set(self.types)
        if kinds & USER_TYPES:
            return "user"
        if kinds & ASSISTANT_TYPES:
            return "assistant"
        if "FILE" in kinds:
            return "user"
        return None


def text_of(value: Any, parts: Parts, where: str) -> str:
    """A fragment's text; a non-string is reported (``<where>:<type>``) and read as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    parts.unknown.append(f"{where}:{type(value).__name__}")
    return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def render_results(results: Any, parts: Parts) -> str:
    """Search results as text a model can read: ``[cite_index] title / url / snippet`` blocks."""
    if not isinstance(results, list):
        if results is not None:
            parts.unknown.append(f"search_results:{type(results).__name__}")
        return ""
    blocks = []
    for entry in results:
        if not isinstance(entry, dict):
            parts.unknown.append(f"search_result:{type(entry).__name__}")
            continue
        head = []
        if entry.get("cite_index") is not None:
            head.append(f"[{entry.get('cite_index')}]")
        title = as_str(entry.get("title"))
        if title is not None:
            head.append(title)
        lines = [" ".join(head)] if head else []
        for key in ("url", "snippet"):
            value = as_str(entry.get(key))
            if value is not None:
                lines.append(value)
        if lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def file_attachments(files: Any, parts: Parts, where: str) -> None:
    """File metadata (``files[]`` of a message or a FILE fragment) as attachments."""
    if files is None:
        return
    if not isinstance(files, list):
        parts.unknown.append(f"{where}:{type(files).__name__}")
        return
    for entry in files:
        if not isinstance(entry, dict):
            parts.unknown.append(f"{where}_entry:{type(entry).__name__}")
            continue
        name = as_text(entry.get("file_name", entry.get("name")))
        size = as_int(entry.get("file_size", entry.get("size")))
        if name is not None and any(a.name == name and a.size_bytes == size for a in parts.attachments):
            continue  # the same upload listed by a FILE fragment and by the message's files[]
        pointer = entry.get("id", entry.get("file_id"))
        parts.attachments.append(Attachment(
            kind="image" if entry.get("is_image") is True else "file",
            name=name,
            pointer=as_id(pointer),
            size_bytes=size,
            raw=entry,
        ))


def _tool(fragment: dict[str, Any], kind: str, call_id: str, parts: Parts) -> None:
    name = _TOOL_NAMES[kind]
    content = text_of(fragment.get("content"), parts, f"fragment_content:{kind}")
    if kind == "SEARCH":
        arguments: Any = {k: fragment[k] for k in ("queries", "query") if k in fragment}
        if content:
            # Some writers put the query in content; the real export leaves it empty.
            arguments.setdefault("query", content)
        result_text = render_results(fragment.get("results"), parts)
        has_result = "results" in fragment
    else:
        arguments = {k: v for k, v in fragment.items() if k not in _RESULT_KEYS + _PLUMBING_KEYS}
        result_text = content or render_results(fragment.get("results"), parts)
        has_result = bool(content) or bool(fragment.get("results")) or "result" in fragment
    parts.tool_calls.append(ToolCall(name=name, arguments=arguments or None, call_id=call_id, raw=fragment))
    if has_result:
        status = fragment.get("status")
        parts.tool_results.append(ToolResult(
            content=result_text, call_id=call_id, name=name,
            status=as_text(status),
            structured=fragment.get("results", fragment.get("result")),
            raw=fragment,
        ))


def from_fragments(fragments: Any, node_id: str) -> Parts:
    """Parts of a node whose content is a ``fragments`` list (tool call ids are ``<node>:<kind>:<n>``)."""
    parts = Parts()
    if fragments is None:
        return parts
    if not isinstance(fragments, list):
        parts.unknown.append(f"fragments:{type(fragments).__name__}")
        return parts
    for index, fragment in enumerate(fragments):
        if not isinstance(fragment, dict):
            parts.unknown.append(f"fragment:<{type(fragment).__name__}>")
            continue
        kind = fragment.get("type")
        if not isinstance(kind, str):
            parts.unknown.append("fragment:<no type>")
            continue
        parts.types.append(kind)
        if kind in USER_TYPES:
            parts.request.append(text_of(fragment.get("content"), parts, f"fragment_content:{kind}"))
        elif kind in ANSWER_TYPES:
            parts.answer.append(text_of(fragment.get("content"), parts, f"fragment_content:{kind}"))
        elif kind == "THINK":
            parts.think.append(text_of(fragment.get("content"), parts, f"fragment_content:{kind}"))
            secs = _number(fragment.get("elapsed_secs"))
            if secs is not None:
                parts.think_secs = (parts.think_secs or 0.0) + secs
        elif kind in _TOOL_NAMES:
            _tool(fragment, kind, f"{node_id}:{_TOOL_NAMES[kind]}:{index}", parts)
        elif kind == "FILE":
            file_attachments(fragment.get("files"), parts, "fragment_files")
        elif kind == "TIP":
            parts.tips += 1
        else:
            parts.unknown.append(f"fragment:{kind}")
    return parts


def from_flat(message: dict[str, Any], node_id: str, role: str | None) -> Parts:
    """Parts of an older web-API message (``content``, ``thinking_content``, ``search_results``)."""
    parts = Parts()
    content = text_of(message.get("content"), parts, "content")
    if role == "user":
        parts.request.append(content)
    else:
        parts.answer.append(content)
    think = text_of(message.get("thinking_content"), parts, "thinking_content")
    if think:
        parts.think.append(think)
    parts.think_secs = _number(message.get("thinking_elapsed_secs"))
    results = message.get("search_results")
    if results is not None:
        call_id = f"{node_id}:web_search:0"
        status = message.get("search_status")
        parts.tool_calls.append(ToolCall(name="web_search", arguments=None, call_id=call_id,
                                         raw={"search_status": status}))
        parts.tool_results.append(ToolResult(
            content=render_results(results, parts), call_id=call_id, name="web_search",
            status=as_text(status), structured=results,
            raw={"search_status": status, "search_results": results},
        ))
    tips = message.get("tips")
    if isinstance(tips, list):
        parts.tips = len(tips)
    return parts
