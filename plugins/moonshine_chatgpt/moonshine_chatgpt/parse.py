"""Streaming the raw records of a ChatGPT export.

Order and memory (the hook contract: constant memory, conversations first):

1. side files that name messages (feedback, comparisons) are streamed once to
   collect the ids they mention (a small set);
2. every conversation file is scanned with ijson *events* (no objects built)
   to learn each conversation's id, ``update_time`` and node count. The same
   conversation can appear in two shards, two files or twice in one file:
   the copy with the newer ``update_time`` wins, then the one with more nodes,
   then the later one (docs/formats/chatgpt.md §11.3);
3. conversations are streamed one at a time and yielded; while one is in hand,
   the ids from step 1 found in its tree are resolved (conversation id, node
   id, the prompt and the final answer of that branch) into a small index;
4. side files are streamed after the conversations, each record carrying in
   ``context['resolved']`` just the index entries it needs.

Only :class:`~moonshine_core.errors.ParseError` leaves this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import ijson

from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.provider import as_dict, as_id, as_list
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import ConversationTree, final_answer

from .conversation import build_conversation, conversation_id_of, prompt_of
from .layout import Layout, Member, discover
from .signals import comparison_shape

#: Optional side files larger than this are noted, not loaded (they carry no training signal).
_MAX_OPTIONAL_SIDE_BYTES = 32 * 1024 * 1024


def iter_raw_records(source: ExportSource) -> Iterator[RawRecord]:
    """Every raw record of the export: conversations, then feedback, comparisons and side records."""
    layout = discover(source)
    if not layout.members:
        raise ParseError(f"not a ChatGPT export ({layout.rejected or 'no recognised files'})", path=str(source.path))
    if layout.unread:
        raise ParseError(f"the export's conversations cannot all be read: {'; '.join(layout.unread)}; "
                         "nothing was ingested (export again, or fix or remove the file)", path=str(source.path))
    variant = layout.variant
    conversations = layout.conversation_members()
    sides = layout.side_members()
    scan = _prescan_sides(source, sides)
    wanted = scan.wanted if conversations else set()
    skip = _duplicates(source, conversations)
    resolved: dict[str, dict[str, Any]] = {}
    for member in conversations:
        for index, item in enumerate(source.iter_json(member.name, member.prefix)):
            if (member.name, index) in skip:
                continue
            if wanted:
                _resolve(item, wanted, resolved)
            yield RawRecord(kind="conversation", data=item, member=member.name, index=index, variant=variant,
                            context={"layout": layout.layout})
    yield from _side_records(source, layout, sides, resolved, bool(conversations), scan)


# -- step 1: ids named by side files -------------------------------------------------


def _ids_in_side_record(kind: str, record: Any) -> list[str]:
    if not isinstance(record, dict):
        return []
    ids: list[Any] = []
    if kind == "feedback":
        ids = [record.get("message_id"), record.get("id")]
    elif kind == "comparisons":
        shape = comparison_shape(record)
        if shape == "C":
            ids = [record.get("message_id"), record.get("original_message_id"), record.get("new_message_id")]
        elif shape in ("A", "B"):
            inner = record["content"] if shape == "B" else record
            convo = as_dict(as_dict(inner.get("input")).get("prompt_convo"))
            step2 = as_dict(as_dict(inner.get("output")).get("feedback_step_2"))
            prompt = as_list(convo.get("messages"))
            if prompt:
                ids.append(as_dict(prompt[-1]).get("id"))
            for turn in (step2.get("original_turn"), step2.get("new_turn")):
                ids.extend(as_dict(message).get("id") for message in as_list(turn))
    return [i for i in map(as_id, ids) if i is not None]


@attrs.define
class _SideScan:
    """What the first pass over the side files learned (ids only, small)."""

    wanted: set[str] = attrs.field(factory=set)
    #: Feedback records that repeat a rating another record of the file already carries.
    feedback_losers: set[tuple[str, int]] = attrs.field(factory=set)
    #: Kept feedback record -> how many repeats of it were dropped.
    feedback_merged: dict[tuple[str, int], int] = attrs.field(factory=dict)


def _feedback_richness(record: dict, index: int) -> tuple:
    """Old- and new-shape copies of one rating coexist in 2023 files: keep the one that says most."""
    content = record.get("content")
    has_text = isinstance(content, str) and content.strip() not in ("", "{}")
    return (has_text, record.get("create_time") is not None, index)


def _prescan_sides(source: ExportSource, sides: list[Member]) -> _SideScan:
    scan = _SideScan()
    for member in sides:
        if member.kind not in ("feedback", "comparisons") or not member.prefix:
            continue
        best: dict[str, tuple[tuple, int]] = {}
        copies: dict[str, int] = {}
        for index, record in enumerate(source.iter_json(member.name, member.prefix)):
            ids = _ids_in_side_record(member.kind, record)
            scan.wanted.update(ids)
            if member.kind != "feedback" or not ids:
                continue
            rated = ids[0]
            copies[rated] = copies.get(rated, 0) + 1
            score = _feedback_richness(record, index)
            if rated not in best:
                best[rated] = (score, index)
            elif score > best[rated][0]:
                scan.feedback_losers.add((member.name, best[rated][1]))
                best[rated] = (score, index)
            else:
                scan.feedback_losers.add((member.name, index))
        for rated, count in copies.items():
            if count > 1:
                scan.feedback_merged[(member.name, best[rated][1])] = count - 1
    return scan


# -- step 2: duplicate conversations -------------------------------------------------------

_ELEMENT_EVENTS = frozenset({"start_map", "start_array", "string", "number", "boolean", "null"})


def _scan(source: ExportSource, member: Member) -> Iterator[tuple[int, str | None, float | None, int]]:
    """``(index, conversation id, update_time, node count)`` per element, from parse events only."""
    base = member.prefix
    keys = {f"{base}.conversation_id": "cid", f"{base}.id": "id", f"{base}.update_time": "ut"}
    mapping_prefix = f"{base}.mapping"
    index = -1
    current: dict[str, Any] | None = None
    with source.open(member.name) as handle:
        try:
            for prefix, event, value in ijson.parse(handle, use_float=True):
                if prefix == base and event != "map_key":
                    if event in _ELEMENT_EVENTS:
                        index += 1
                        current = {"nodes": 0} if event == "start_map" else None
                        if current is None and event != "start_array":
                            yield index, None, None, 0
                    elif event == "end_map" and current is not None:
                        cid = as_id(current.get("cid")) or as_id(current.get("id"))
                        yield index, cid, to_epoch(current.get("ut")), current["nodes"]
                        current = None
                    elif event == "end_array":
                        yield index, None, None, 0
                elif current is not None:
                    if prefix in keys and event in ("string", "number"):
                        current[keys[prefix]] = value
                    elif prefix == mapping_prefix and event == "map_key":
                        current["nodes"] += 1
        except (ijson.JSONError, UnicodeDecodeError, ValueError) as exc:
            raise ParseError(f"invalid JSON ({exc})", path=source.display(member.name)) from exc


def _duplicates(source: ExportSource, members: list[Member]) -> set[tuple[str, int]]:
    """Positions of conversation copies that lose to another copy of the same conversation."""
    best: dict[str, tuple[tuple, tuple[str, int]]] = {}
    losers: set[tuple[str, int]] = set()
    for rank, member in enumerate(members):
        for index, cid, updated, nodes in _scan(source, member):
            if cid is None:
                continue
            key = (updated if updated is not None else float("-inf"), nodes, rank, index)
            where = (member.name, index)
            if cid not in best:
                best[cid] = (key, where)
            elif key > best[cid][0]:
                losers.add(best[cid][1])
                best[cid] = (key, where)
            else:
                losers.add(where)
    return losers


# -- step 3: resolving side-file ids in the trees --------------------------------------------


def _resolve(item: Any, wanted: set[str], resolved: dict[str, dict[str, Any]]) -> None:
    """Index the wanted ids this conversation holds (node ids and ``message.id`` both count)."""
    if not isinstance(item, dict) or not isinstance(item.get("mapping"), dict):
        return
    hits: dict[str, str] = {}
    for key, node in item["mapping"].items():
        if key in wanted:
            hits[key] = key
        message_object_id = as_id(as_dict(as_dict(node).get("message")).get("id"))
        if message_object_id in wanted:
            hits[message_object_id] = key
    if not hits:
        return
    try:
        conversation, _ = build_conversation(item)
    except NormalizeError:
        conversation_id = conversation_id_of(item)
        for wanted_id, node_id in hits.items():
            resolved[wanted_id] = {"conversation_id": conversation_id, "message_id": node_id}
        return
    tree = ConversationTree(conversation)
    for wanted_id, node_id in hits.items():
        info: dict[str, Any] = {"conversation_id": conversation.conversation_id, "message_id": node_id}
        message = tree.by_id.get(node_id)
        if message is not None:
            info["role"] = message.role
            info["on_active_branch"] = node_id in tree.active
            info["prompt_message_id"] = prompt_of(tree, node_id)
            if message.role != "user":
                # Comparison ids name a response's first message; lanes need its final answer.
                info["answer_message_id"] = final_answer(tree, node_id)
        resolved[wanted_id] = info


# -- step 4: side files ----------------------------------------------------------------------


def _side_records(source: ExportSource, layout: Layout, sides: list[Member], resolved: dict[str, dict[str, Any]],
                  have_conversations: bool, scan: _SideScan) -> Iterator[RawRecord]:
    variant = layout.variant
    for member in sides:
        if member.kind in ("feedback", "comparisons"):
            kind = "feedback" if member.kind == "feedback" else "comparison"
            for index, record in enumerate(source.iter_json(member.name, member.prefix or "item")):
                if (member.name, index) in scan.feedback_losers:
                    continue
                ids = _ids_in_side_record(member.kind, record)
                context: dict[str, Any] = {"resolved": {i: resolved[i] for i in ids if i in resolved},
                                           "conversations_in_export": have_conversations}
                if (member.name, index) in scan.feedback_merged:
                    context["duplicates_dropped"] = scan.feedback_merged[(member.name, index)]
                yield RawRecord(kind=kind, data=record, member=member.name, index=index, variant=variant,
                                context=context)
        elif member.kind == "shared_conversations":
            for index, record in enumerate(source.iter_json(member.name, member.prefix or "item")):
                yield RawRecord(kind="side", data=record, member=member.name, index=index, variant=variant,
                                context={"side_kind": "shared_conversations"})
        else:
            data = _load_small(source, member)
            yield RawRecord(kind="side", data=data, member=member.name, index=0, variant=variant,
                            context={"side_kind": member.kind, "personal": member.personal})


def _load_small(source: ExportSource, member: Member) -> Any:
    """A small side file whole; an optional one that is unreadable or huge is noted, not fatal."""
    required = member.kind == "user"
    try:
        if not required and source.size(member.name) > _MAX_OPTIONAL_SIDE_BYTES:
            return {"skipped": f"{member.name} is larger than {_MAX_OPTIONAL_SIDE_BYTES} bytes"}
        return source.load_json(member.name)
    except (ParseError, OSError, KeyError) as exc:
        if required:
            raise ParseError(f"cannot read {member.name} ({exc})", path=str(source.path)) from exc
        return {"skipped": f"unreadable: {exc}"}
