"""Tool calls and their outputs: names, arguments, output text, exit codes and error flags.

A shell run's output reaches the model in one of four shapes
(docs/formats/codex.md §5.3): a JSON string ``{"output", "metadata": {"exit_code",
"duration_seconds"}}``; plain text opening ``Exit code: N`` / ``Wall time: S
seconds`` / ``Output:``; unified exec's ``Process exited with code N`` (or
``Process running with session ID N``); or an error sentence. The exit code
decides ``is_error`` (non-zero is an error). Where the output says nothing,
the events that some CLI versions persist (``exec_command_end``,
``patch_apply_end``, ``mcp_tool_call_end``) are read instead.
"""

from __future__ import annotations

import json
import re
from typing import Any

from moonshine_core.provider import as_dict, as_id, as_int, as_str, as_text
from moonshine_core.records import ToolCall, ToolResult

from .content import IMAGE_PARTS, part_text, part_type, strip_inline_data

_EXIT_LINE = re.compile(r"^Exit code: (-?\d+)\s*$", re.MULTILINE)
_UNIFIED_EXIT = re.compile(r"^Process exited with code (-?\d+)\s*$", re.MULTILINE)
_RUNNING = re.compile(r"^Process running with session ID (\S+)\s*$", re.MULTILINE)
_WALL = re.compile(r"^Wall time: ([0-9]+(?:\.[0-9]+)?) seconds\s*$", re.MULTILINE)
_HEAD = 400   # the metadata lines sit at the top of an output
#: Output openings Codex writes when a call failed before or instead of running (lower-cased).
ERROR_OPENINGS = (
    "failed to parse function arguments", "unsupported call", "unsupported custom tool call",
    "execution error", "exec command rejected by user", "patch rejected by user", "apply_patch verification failed",
    "sandbox error", "command blocked", "error: ", "err: ",
)
_SUCCESS_OPENINGS = ("success. updated the following files",)
_ABORTED = ("aborted", "aborted by user")
_KNOWN_NAMES = {"local_shell_call": "local_shell", "web_search_call": "web_search",
                "tool_search_call": "tool_search", "image_generation_call": "image_generation"}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def decode_arguments(value: Any) -> Any:
    """Function-call arguments: the JSON object they encode, else the text (or value) as written."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, dict) else value
    return value


def tool_call(item: dict) -> ToolCall:
    """The :class:`ToolCall` of one call item (function, custom, local shell, web search, ...)."""
    kind = as_str(item.get("type")) or "unknown_call"
    call_id = as_id(item.get("call_id"))
    if call_id is None:
        call_id = as_id(item.get("id"))
    if kind == "function_call":
        name, arguments = as_str(item.get("name")) or "function", decode_arguments(item.get("arguments"))
    elif kind == "custom_tool_call":
        name, arguments = as_str(item.get("name")) or "custom_tool", item.get("input")
    elif kind in ("local_shell_call", "web_search_call"):
        name, arguments = _KNOWN_NAMES[kind], item.get("action")
    elif kind == "image_generation_call":
        prompt = as_text(item.get("revised_prompt"))
        name, arguments = "image_generation", ({"revised_prompt": prompt} if prompt is not None else None)
    else:
        name = as_str(item.get("name")) or _KNOWN_NAMES.get(kind) or kind.removesuffix("_call")
        arguments = decode_arguments(item["arguments"]) if "arguments" in item else {
            k: v for k, v in item.items() if k not in ("type", "id", "call_id", "status")}
    return ToolCall(name=name, arguments=strip_inline_data(arguments), call_id=call_id, raw=strip_inline_data(item))


def _list_text(items: list) -> tuple[str, int]:
    texts, images = [], 0
    for part in items:
        text = part_text(part)
        if text is not None:
            texts.append(text)
        elif part_type(part) in IMAGE_PARTS:
            images += 1
            texts.append("[image]")
    return "\n".join(texts), images


def read_output(output: Any) -> dict[str, Any]:
    """What an output says: ``content`` (text), ``exit_code``, ``duration_seconds``, ``success``,
    ``status`` and ``structured`` (any of them ``None``)."""
    facts: dict[str, Any] = {"content": "", "exit_code": None, "duration_seconds": None, "success": None,
                             "status": None, "structured": None, "shape": None}
    if output is None:
        facts["shape"] = "missing"
        return facts
    if isinstance(output, list):
        facts["content"], images = _list_text(output)
        facts["structured"], facts["shape"] = strip_inline_data(output), "content_items"
        if images:
            facts["images"] = images
        return facts
    if isinstance(output, dict):
        return _read_object(output, facts, "object")
    if not isinstance(output, str):
        facts["content"], facts["shape"] = json.dumps(output), f"value:{type(output).__name__}"
        return facts
    stripped = output.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = json.loads(output)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and ("output" in decoded or ("content" in decoded and "success" in decoded)):
            return _read_object(decoded, facts, "json_string")
        if isinstance(decoded, list) and decoded and all(isinstance(p, dict) and "type" in p for p in decoded):
            facts["content"], _ = _list_text(decoded)
            facts["structured"], facts["shape"] = strip_inline_data(decoded), "content_blocks_json"
            return facts
    facts["content"], facts["shape"] = output, "text"
    _read_text(output, facts)
    return facts


def _read_object(obj: dict, facts: dict[str, Any], shape: str) -> dict[str, Any]:
    facts["shape"] = shape
    meta = as_dict(obj.get("metadata"))
    if "output" in obj:
        text = obj.get("output")
        facts["content"] = text if isinstance(text, str) else json.dumps(text)
        facts["exit_code"] = as_int(meta.get("exit_code"))
        facts["duration_seconds"] = _number(meta.get("duration_seconds"))
        if meta:
            facts["structured"] = {"metadata": meta}
    elif "content" in obj:
        content = obj.get("content")
        if isinstance(content, list):
            facts["content"], _ = _list_text(content)
            facts["structured"] = strip_inline_data(content)
        else:
            facts["content"] = content if isinstance(content, str) else json.dumps(content)
    else:
        facts["content"] = json.dumps(obj)
        facts["structured"] = strip_inline_data(obj)
    if isinstance(obj.get("success"), bool):
        facts["success"] = obj["success"]
    if not (facts["exit_code"] is not None or facts["success"] is not None):
        _read_text(facts["content"], facts)
    return facts


def _read_text(text: str, facts: dict[str, Any]) -> None:
    head = text[:_HEAD]
    for pattern in (_EXIT_LINE, _UNIFIED_EXIT):
        found = pattern.search(head)
        if found and facts["exit_code"] is None:
            facts["exit_code"] = int(found.group(1))
    wall = _WALL.search(head)
    if wall and facts["duration_seconds"] is None:
        facts["duration_seconds"] = float(wall.group(1))
    if facts["exit_code"] is not None:
        return
    lower = text.strip().lower()
    if _RUNNING.search(head):
        facts["status"] = "running"
    elif lower.startswith("command timed out after"):
        facts["status"], facts["success"] = "timeout", False
    elif lower in _ABORTED:
        facts["status"] = "aborted"
    elif lower.startswith(ERROR_OPENINGS):
        facts["status"], facts["success"] = "error", False
    elif lower.startswith(_SUCCESS_OPENINGS):
        facts["success"] = True


def event_outcome(event_type: str, payload: dict) -> dict[str, Any]:
    """Exit code, duration and success an end event (exec / patch / MCP) reports."""
    out: dict[str, Any] = {"source": event_type}
    if event_type == "exec_command_end":
        out["exit_code"] = as_int(payload.get("exit_code"))
        duration = payload.get("duration")
        if isinstance(duration, dict):
            secs, nanos = _number(duration.get("secs")), _number(duration.get("nanos"))
            if secs is not None:
                out["duration_seconds"] = round(secs + (nanos or 0.0) / 1e9, 3)
        elif _number(duration) is not None:
            out["duration_seconds"] = _number(duration)
    elif event_type == "patch_apply_end":
        if isinstance(payload.get("success"), bool):
            out["success"] = payload["success"]
    elif event_type == "mcp_tool_call_end":
        result = payload.get("result")
        if isinstance(result, dict) and "Err" in result:
            out["success"] = False
        elif isinstance(result, dict) and isinstance(as_dict(result.get("Ok")).get("is_error"), bool):
            out["success"] = not result["Ok"]["is_error"]
        elif isinstance(result, dict) and "Ok" in result:
            out["success"] = True
    return out


def tool_result(item: dict, name: str | None, event: dict[str, Any] | None) -> tuple[ToolResult, dict[str, Any]]:
    """The :class:`ToolResult` of one output item and the facts for its message's metadata."""
    output = item.get("output") if "output" in item else {
        k: v for k, v in item.items() if k not in ("type", "id", "call_id", "status")} or None
    facts = read_output(output)
    from_event = False
    if event:
        if facts["exit_code"] is None and event.get("exit_code") is not None:
            facts["exit_code"], from_event = event["exit_code"], True
        if facts["duration_seconds"] is None and event.get("duration_seconds") is not None:
            facts["duration_seconds"] = event["duration_seconds"]
        if facts["exit_code"] is None and facts["success"] is None and event.get("success") is not None:
            facts["success"], from_event = event["success"], True
    if facts["exit_code"] is not None:
        is_error: bool | None = facts["exit_code"] != 0
    elif facts["success"] is not None:
        is_error = not facts["success"]
    else:
        is_error = None
    status = facts["status"] or (None if is_error is None else "error" if is_error else "success")
    meta: dict[str, Any] = {k: facts[k] for k in ("exit_code", "duration_seconds") if facts[k] is not None}
    if facts["shape"]:
        meta["output_shape"] = facts["shape"]
    if from_event:
        meta["outcome_from_event"] = event.get("source") if event else None
    structured = facts["structured"]
    if meta.get("exit_code") is not None or meta.get("duration_seconds") is not None:
        structured = {**({"output": structured} if structured is not None else {}),
                      **{k: meta[k] for k in ("exit_code", "duration_seconds") if k in meta}}
    result = ToolResult(content=facts["content"], call_id=as_id(item.get("call_id")), name=name, is_error=is_error,
                        status=status, structured=structured, raw=strip_inline_data(item))
    return result, meta


def outcome_events(events: list[tuple[str, dict]]) -> dict[str, dict[str, Any]]:
    """``call_id`` → what its end event says, from ``(event type, payload)`` pairs."""
    found: dict[str, dict[str, Any]] = {}
    for event_type, payload in events:
        call_id = as_id(payload.get("call_id"))
        if call_id is not None:
            found[call_id] = {**found.get(call_id, {}), **{k: v for k, v in event_outcome(event_type, payload).items()
                                                             if v is not None}}
    return found


def call_names(items: list[dict]) -> dict[str, str]:
    """``call_id`` → tool name, over every call item of a file."""
    names: dict[str, str] = {}
    for item in items:
        call = tool_call(item)
        if call.call_id is not None:
            names.setdefault(call.call_id, call.name)
    return names

