"""Streaming the conversations out of a Qwen export.

Conversations are streamed one at a time with ``source.iter_json`` (ijson), so
memory does not grow with the export. A file that is not a whole export is
refused with a :class:`~moonshine_core.errors.ParseError` that says what is
missing: when the stream fails, a second streaming pass over the file's JSON
events finds where it stops (which conversation, which path, which containers
are still open) and the error names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import ijson

from moonshine_core.errors import ParseError
from moonshine_core.records import RawRecord

from .detect import CONVERSATION_PREFIX, classify_member, candidate_members

#: Human names of the container that holds the conversations, for error messages.
_CONTAINER_NAME = {
    "data.item": "the data array",
    "item": "the top-level array of conversations",
    "data": "the data object",
    "": "the conversation object",
}
_REEXPORT_HINT = "export again from chat.qwen.ai (Settings → Chats → Export Chats) and use the whole file"


def select_members(source: Any) -> list[tuple[str, str]]:
    """``(member, variant)`` for every member that holds a Qwen export, checking the unusable ones.

    Raises :class:`ParseError` when there is none, or when a member is a console
    capture or an envelope without data (refused before any record is yielded).
    """
    chosen: list[tuple[str, str]] = []
    for name in candidate_members(source):
        shape, found = classify_member(source, name)
        if found is None:
            continue
        variant = found[0]
        if variant == "console_capture":
            raise ParseError(describe_failure(source, name, shape.json_offset, shape.preamble_lines),
                             path=source.display(name))
        if variant == "envelope_without_data":
            raise ParseError("the export envelope {success, request_id} holds no data array of conversations "
                             f"(data is {shape.data_kind or 'missing'}); {_REEXPORT_HINT}", path=source.display(name))
        chosen.append((name, variant))
    if not chosen:
        raise ParseError("no Qwen chat export found: expected a JSON file such as chat-export.json holding "
                         "{success, request_id, data:[...]} or an array of conversations with chat.history",
                         path=str(source.path))
    return chosen


def stream(source: Any, members: list[tuple[str, str]]) -> Iterator[RawRecord]:
    """Yield one ``conversation`` RawRecord per conversation, then one ``side`` record per account id."""
    user_ids: list[str] = []
    for name, variant in members:
        prefix = CONVERSATION_PREFIX[variant]
        index = -1
        try:
            for index, item in enumerate(source.iter_json(name, prefix)):
                if isinstance(item, dict) and isinstance(item.get("user_id"), str) and item["user_id"] \
                        and item["user_id"] not in user_ids:
                    user_ids.append(item["user_id"])
                yield RawRecord(kind="conversation", data=item, member=name, index=index, variant=variant,
                                context={"container": prefix or "<root>"})
        except ParseError as exc:
            raise ParseError(describe_failure(source, name, 0, 0, fallback=str(exc)),
                             path=source.display(name)) from exc
    for user_id in user_ids:
        yield RawRecord(kind="side", data={"user_id": user_id}, member=None, index=None, variant="account",
                        context={"side_kind": "user"})


class _CountingReader:
    """A binary stream wrapper that remembers whether EOF was reached and the last bytes read."""

    def __init__(self, handle: IO[bytes]):
        self.handle = handle
        self.eof = False
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        if not chunk:
            self.eof = True
        else:
            self.tail = (self.tail + chunk)[-64:]
        return chunk


def _render(stack: list[list[Any]], *, open_only: bool = False) -> str:
    """A JSON path such as ``data[0].chat.history``; ``open_only`` leaves out the innermost object's last key."""
    parts: list[str] = []
    for position, (kind, key, index) in enumerate(stack):
        if open_only and position == len(stack) - 1 and kind == "map":
            break
        if kind == "array" and index >= 0:
            parts.append(f"[{index}]")
        elif kind == "map" and key is not None:
            parts.append(f".{key}" if parts else str(key))
    return "".join(parts) or "the top level"


def describe_failure(source: Any, name: str, offset: int, preamble_lines: int, *, fallback: str = "") -> str:
    """Say why a member is not a whole export: where its JSON ends or breaks, and what is still open.

    Streams the member's JSON events once (constant memory) from ``offset``
    (after any console text). Never raises: a failure to diagnose returns the
    ``fallback`` text.
    """
    preamble = ""
    if preamble_lines:
        preamble = (f"; the file also begins with {preamble_lines} line(s) of non-JSON text before the JSON "
                    "(a console capture such as `head` output, not an export file)")
    try:
        handle = source.open(name)
    except ParseError:
        return (fallback or "unreadable member") + preamble
    stack: list[list[Any]] = []          # [kind, current key, current index]
    complete = 0
    conv_prefix: str | None = None
    conv_id: str | None = None
    reader = _CountingReader(handle)
    try:
        with handle:
            if offset:
                handle.read(offset)
            try:
                for prefix, event, value in ijson.parse(reader, use_float=True):
                    if event in ("start_map", "start_array"):
                        if stack and stack[-1][0] == "array":
                            stack[-1][2] += 1
                        if conv_prefix is None:
                            conv_prefix = _conversation_prefix(prefix, event, stack)
                        stack.append(["map" if event == "start_map" else "array", None, -1])
                    elif event == "map_key":
                        stack[-1][1] = value
                    elif event in ("end_map", "end_array"):
                        stack.pop()
                        if conv_prefix is not None and prefix == conv_prefix and event == "end_map":
                            complete += 1
                            conv_id = None
                    else:
                        if stack and stack[-1][0] == "array":
                            stack[-1][2] += 1
                        if conv_prefix is not None and prefix == f"{conv_prefix}.id" and value is not None:
                            conv_id = str(value)
            except ijson.JSONError as exc:
                return _explain(exc, reader, stack, complete, conv_prefix, conv_id) + preamble
            except (UnicodeDecodeError, ValueError) as exc:
                return f"undecodable text at {_render(stack)} ({exc})" + preamble
    except (OSError, ParseError) as exc:
        return (fallback or f"unreadable ({exc})") + preamble
    if preamble:
        return "the JSON is complete but preceded by text" + preamble
    return fallback or "the export could not be streamed"


def _conversation_prefix(prefix: str, event: str, stack: list[list[Any]]) -> str | None:
    """The ijson prefix of conversation objects, once the container that holds them opens."""
    if prefix == "data" and len(stack) == 1:
        return "data.item" if event == "start_array" else "data"
    if prefix == "" and event == "start_array":
        return "item"
    return None


def _explain(exc: Exception, reader: _CountingReader, stack: list[list[Any]], complete: int,
             conv_prefix: str | None, conv_id: str | None) -> str:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    at = _render(stack)
    container = _CONTAINER_NAME.get(conv_prefix or "", "the JSON document")
    truncated = "premature EOF" in message or "Incomplete JSON" in message or (
        reader.eof and bool(stack) and reader.tail.rstrip()[-1:] not in (b"}", b"]"))
    if "trailing garbage" in message or (not stack and not truncated):
        return f"invalid JSON: unexpected text after the end of the JSON document ({message})"
    where = ""
    if conv_prefix in ("data.item", "item") and len(stack) >= 2:
        where = f" (inside conversation #{complete + 1}{f', id {conv_id}' if conv_id else ''})"
    if truncated:
        last_key = stack[-1][1] if stack and stack[-1][0] == "map" and stack[-1][1] is not None else None
        inside = _render(stack, open_only=True)
        at = inside + (f" (last key read: {last_key!r})" if last_key is not None else "")
        return (f"truncated JSON: the file ends inside {at}{where} before {container} closes; "
                f"{complete} complete conversation(s) precede the cut and "
                f"{len(stack)} JSON container(s) are still open, so this is not a whole export; {_REEXPORT_HINT}")
    return f"invalid JSON at {at}{where} after {complete} complete conversation(s): {message}"
