"""Reading an assistant message's ``content_list`` phases.

Each block is ``{content, phase, status, extra, role, usage}``. ``answer``
blocks are the visible text, ``think`` the raw chain of thought,
``thinking_summary`` a summary of it (text in ``extra.summary_title`` and
``extra.summary_thought``), ``web_search`` and other tool phases tool traffic.
Per-block ``usage`` is cumulative (the answer block's counts include the think
block's), so the largest is kept, never the sum.
"""

from __future__ import annotations

from typing import Any

import attrs

from moonshine_core.records import ToolCall, ToolResult

ANSWER_PHASES = frozenset({"answer", "text", "output"})
RAW_REASONING_PHASES = frozenset({"think", "thinking", "reasoning"})
SUMMARY_PHASES = frozenset({"thinking_summary"})
#: Tool phases we know by name; any block with role "function" is tool traffic too.
TOOL_PHASES = frozenset({"web_search", "image_gen_tool", "code_interpreter", "tool_call", "tool", "deep_research",
                         "image_gen", "video_gen", "artifacts"})


@attrs.define
class PhaseContent:
    """What a ``content_list`` holds, sorted into the record's slots."""

    answers: list[str] = attrs.field(factory=list)
    raw_reasoning: list[str] = attrs.field(factory=list)
    summary: list[str] = attrs.field(factory=list)
    tool_calls: list[ToolCall] = attrs.field(factory=list)
    tool_results: list[ToolResult] = attrs.field(factory=list)
    usage: dict[str, Any] | None = None
    statuses: list[str] = attrs.field(factory=list)
    phases: list[str] = attrs.field(factory=list)
    unknown: list[str] = attrs.field(factory=list)
    block_times: list[float] = attrs.field(factory=list)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(v) for v in value if _text(v))
    if isinstance(value, dict):
        for key in ("text", "content", "value"):
            if isinstance(value.get(key), str):
                return value[key]
    return ""


def _dedup_lines(items: Any) -> list[str]:
    """The items of a streamed ``content[]`` list, without the repeats cumulative frames leave."""
    out: list[str] = []
    if not isinstance(items, list):
        items = [items] if isinstance(items, str) else []
    for item in items:
        text = _text(item).strip()
        if text and text not in out:
            out.append(text)
    return out


def _summary_text(block: dict[str, Any]) -> str:
    extra = block.get("extra") if isinstance(block.get("extra"), dict) else {}
    parts: list[str] = []
    titles = extra.get("summary_title")
    thoughts = extra.get("summary_thought")
    title_lines = _dedup_lines(titles.get("content") if isinstance(titles, dict) else titles)
    thought_lines = _dedup_lines(thoughts.get("content") if isinstance(thoughts, dict) else thoughts)
    content = _text(block.get("content")).strip()
    if content:
        parts.append(content)
    for title in title_lines:
        if title not in parts:
            parts.append(f"## {title}" if thought_lines else title)
    parts.extend(line for line in thought_lines if line not in parts)
    return "\n\n".join(parts)


def _usage_size(usage: dict[str, Any]) -> float:
    total = usage.get("total_tokens")
    if isinstance(total, (int, float)) and not isinstance(total, bool):
        return float(total)
    size = 0.0
    for key in ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            size += float(value)
    return size


def _search_result_text(results: list[Any]) -> str:
    lines = []
    for number, item in enumerate(results, start=1):
        if not isinstance(item, dict):
            continue
        title = _text(item.get("title")).strip()
        url = _text(item.get("url")).strip()
        snippet = _text(item.get("snippet")).strip()
        head = " ".join(p for p in (f"[{number}]", title, f"<{url}>" if url else "") if p)
        lines.append(head + (f"\n{snippet}" if snippet else ""))
    return "\n\n".join(lines)


def _tool_traffic(block: dict[str, Any], phase: str, call_id: str, out: PhaseContent) -> None:
    extra = block.get("extra") if isinstance(block.get("extra"), dict) else {}
    status = block.get("status") if isinstance(block.get("status"), str) else None
    arguments: Any = None
    for key in ("query", "queries", "search_query", "arguments", "args", "tool_input", "input"):
        if extra.get(key) not in (None, "", []):
            arguments = extra[key]
            break
    if arguments is None and isinstance(block.get("arguments"), (dict, str)):
        arguments = block["arguments"]
    name = phase
    if isinstance(extra.get("tool_name"), str) and extra["tool_name"]:
        name = extra["tool_name"]
    structured: Any = None
    content = _text(block.get("content"))
    results = extra.get("web_search_info")
    if isinstance(results, list):
        structured = results
        listed = _search_result_text(results)
        content = "\n\n".join(p for p in (content.strip(), listed) if p)
    elif extra:
        structured = extra
    is_error = True if status in ("error", "failed") else None
    out.tool_calls.append(ToolCall(name=name, arguments=arguments, call_id=call_id, raw=block))
    out.tool_results.append(ToolResult(content=content, call_id=call_id, name=name, is_error=is_error,
                                       status=status, structured=structured, raw=None))


def read_content_list(blocks: Any, message_id: str) -> PhaseContent:
    """Sort a ``content_list`` into answer text, reasoning, tool traffic and usage (never raises)."""
    out = PhaseContent()
    if not isinstance(blocks, list):
        return out
    best_usage: tuple[float, int] | None = None
    for index, block in enumerate(blocks):
        if not isinstance(block, dict):
            out.unknown.append(f"content_list_item:{type(block).__name__}")
            continue
        phase = block.get("phase") if isinstance(block.get("phase"), str) else ""
        role = block.get("role") if isinstance(block.get("role"), str) else None
        out.phases.append(phase or "<none>")
        if isinstance(block.get("status"), str):
            out.statuses.append(block["status"])
        usage = block.get("usage")
        if isinstance(usage, dict) and usage:
            key = (_usage_size(usage), index)
            if best_usage is None or key >= best_usage:
                best_usage, out.usage = key, dict(usage)
        if phase in ANSWER_PHASES or (not phase and role in (None, "assistant")):
            text = _text(block.get("content"))
            if text:
                out.answers.append(text)
            if not phase:
                out.unknown.append("phase:<missing>")
        elif phase in RAW_REASONING_PHASES:
            text = _text(block.get("content")).strip()
            if text:
                out.raw_reasoning.append(text)
        elif phase in SUMMARY_PHASES:
            text = _summary_text(block)
            if text and text not in out.summary:
                out.summary.append(text)
        elif phase in TOOL_PHASES or role == "function":
            _tool_traffic(block, phase or "tool", f"{message_id}:{index}", out)
            if phase not in TOOL_PHASES:
                out.unknown.append(f"phase:{phase or '<missing>'}")
        else:
            out.unknown.append(f"phase:{phase}")
    return out
