"""Grouping activity records into conversations: the first of three streaming passes.

The export has no conversation ids of its own for most records, so which
record belongs to which conversation is decided over the whole file before
any conversation is produced. The first pass keeps a small :class:`Entry` per
Gemini record (times, hashes, links; no text), and :func:`build_plan` applies
the rules of docs/providers/gemini.md ("Conversations"):

1. **Identity.** A record is ``fallback_id({"time": <ms>, "title": <title>})``
   (:func:`~moonshine_gemini.activity.record_key`). Records that share it are
   told apart by the hash of their whole content (``~2``, ``~3`` in that
   order), never by their position in the file.
2. **Linked turns.** A turn whose ``details`` (or ``titleUrl``) names a Gemini
   chat (``https://gemini.google.com/app/<id>``) belongs to that chat:
   conversation id ``<id>``. A record naming several chats goes to the first.
3. **Other turns** are sorted by (time, identity) and cut into sessions: a new
   session starts after a pause of more than :data:`GAP_SECONDS`, or when the
   turn uses a Gem the previous turn did not. A session is named after its
   earliest record: ``session:<identity>``. A turn without a readable time is
   a conversation of its own (``record:<identity>``).
4. **Side records** (feedback, canvases, other activity) are linked, for
   information, to the nearest earlier turn within the gap (feedback: the
   nearest earlier *answered* turn); a "Cleared ... feedback" record retracts
   the earlier ratings of the answer it links to.

Records of other Google products and array items that are not objects are
counted per product for the report, never kept.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from typing import Any

import attrs

from moonshine_core.provider import fallback_id

from .activity import (ACTIVITY, CANVAS, CLEARED, FEEDBACK, TURN, attachment_refs, conversation_links, folder_of,
                       gem_of, has_answer, is_gemini, kind_of, product_label, record_key, split_title, time_ms)
from .layout import Layout

#: The longest pause between two turns of one inferred session.
GAP_SECONDS = 30 * 60
GAP_MS = GAP_SECONDS * 1000

DETAILS_LINK = "details_link"
TIME_GAP = "time_gap"
UNTIMED = "untimed"


@attrs.define(slots=True)
class Entry:
    """What the first pass keeps of one Gemini record (no text: memory stays small)."""

    position: int
    member: str
    index: int
    kind: str
    ms: int | None
    base: str
    content: str
    link: str | None
    gem: str | None
    answered: bool
    present: tuple[str, ...]
    verb: str | None
    record_id: str = ""
    conversation_id: str | None = None
    target: tuple[str, str] | None = None


@attrs.define
class Plan:
    """The outcome of the first pass: where every record goes."""

    layout: Layout
    turns: dict[int, Entry] = attrs.field(factory=dict)
    sides: dict[int, Entry] = attrs.field(factory=dict)
    grouping: dict[str, str] = attrs.field(factory=dict)
    last_position: dict[str, int] = attrs.field(factory=dict)
    retracted: dict[str, str] = attrs.field(factory=dict)
    report: dict[str, Any] = attrs.field(factory=dict)
    report_shapes: list[str] = attrs.field(factory=list)


def message_ids(record_id: str) -> tuple[str, str]:
    """The ids of a turn's prompt and answer messages."""
    return f"{record_id}:prompt", f"{record_id}:answer"


def _member_report() -> dict[str, Any]:
    return {"records": 0, "gemini_records": 0, "turns": 0, "turns_linked": 0, "turns_answered": 0,
            "feedback": 0, "canvases": 0, "other_activity": 0, "activity_verbs": Counter(),
            "other_products": Counter(), "not_objects": Counter()}


def _entry(position: int, member: str, index: int, record: dict[str, Any], names: set[str]) -> Entry:
    kind = kind_of(record)
    links = conversation_links(record)
    gem, _ = gem_of(record)
    folder = folder_of(member)
    present = tuple(p for p in (f"{folder}/{stored}" if folder else stored for _, stored in attachment_refs(record))
                    if p in names)
    verb, _ = split_title(record.get("title"))
    return Entry(position=position, member=member, index=index, kind=kind, ms=time_ms(record),
                 base=record_key(record), content=fallback_id(record), link=links[0] if links else None,
                 gem=gem, answered=has_answer(record), present=present, verb=verb)


def first_pass(source: Any, layout: Layout) -> tuple[list[Entry], dict[str, dict[str, Any]], list[str]]:
    """Stream every Gemini member once: the entries, a report per member, and the report's shape labels."""
    names = set(source.names())
    entries: list[Entry] = []
    reports: dict[str, dict[str, Any]] = {}
    shapes: list[str] = []
    position = -1
    for member in layout.json_members:
        report = reports.setdefault(member, _member_report())
        for index, item in enumerate(source.iter_json(member)):
            position += 1
            report["records"] += 1
            if not isinstance(item, dict):
                report["not_objects"][type(item).__name__] += 1
                shapes.append(f"activity_item:{type(item).__name__}")
                continue
            if not is_gemini(item):
                label = product_label(item)
                report["other_products"][label] += 1
                shapes.append(f"other_product:{label}")
                continue
            entry = _entry(position, member, index, item, names)
            report["gemini_records"] += 1
            if entry.kind == TURN:
                report["turns"] += 1
                report["turns_linked"] += entry.link is not None
                report["turns_answered"] += entry.answered
            elif entry.kind == FEEDBACK:
                report["feedback"] += 1
            elif entry.kind == CANVAS:
                report["canvases"] += 1
            else:
                report["other_activity"] += 1
                report["activity_verbs"][entry.verb or "<none>"] += 1
            entries.append(entry)
    return entries, reports, shapes


def assign_ids(entries: list[Entry]) -> None:
    """Record ids: the identity, with ``~n`` for the n-th record (by content hash) sharing it."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.base, []).append(entry)
    for base, group in groups.items():
        group.sort(key=lambda e: e.content)
        for n, entry in enumerate(group):
            entry.record_id = base if n == 0 else f"{base}~{n + 1}"


def _time_order(entry: Entry) -> tuple[int, int, str]:
    return (0, entry.ms, entry.record_id) if entry.ms is not None else (1, 0, entry.record_id)


def group_turns(turns: list[Entry]) -> dict[str, str]:
    """Set every turn's ``conversation_id`` (rules 2 and 3); returns conversation id -> grouping rule."""
    grouping: dict[str, str] = {}
    loose: list[Entry] = []
    for entry in turns:
        if entry.link is not None:
            entry.conversation_id = entry.link
            grouping[entry.link] = DETAILS_LINK
        elif entry.ms is None:
            entry.conversation_id = f"record:{entry.record_id}"
            grouping[entry.conversation_id] = UNTIMED
        else:
            loose.append(entry)
    loose.sort(key=_time_order)
    session: str | None = None
    previous: Entry | None = None
    for entry in loose:
        new_gem = entry.gem is not None and (previous is None or entry.gem != previous.gem)
        if previous is None or session is None or entry.ms - previous.ms > GAP_MS or new_gem:  # type: ignore[operator]
            session = f"session:{entry.record_id}"
            grouping[session] = TIME_GAP
        entry.conversation_id = session
        previous = entry
    return grouping


def link_sides(turns: list[Entry], sides: list[Entry]) -> dict[str, str]:
    """Rule 4: each side entry's ``target`` (conversation, message); returns retracted feedback -> clearing record."""
    timeline = sorted((e for e in turns if e.ms is not None), key=_time_order)
    times = [e.ms for e in timeline]
    for side in sides:
        if side.ms is None:
            continue
        at = bisect_right(times, side.ms) - 1
        while at >= 0 and side.ms - timeline[at].ms <= GAP_MS:  # type: ignore[operator]
            turn = timeline[at]
            wanted = side.link is None or turn.conversation_id == side.link
            if wanted and (turn.answered or side.kind not in (FEEDBACK, CLEARED)):
                prompt, answer = message_ids(turn.record_id)
                side.target = (turn.conversation_id or "", answer if turn.answered else prompt)
                break
            at -= 1
    retracted: dict[str, str] = {}
    clears = [s for s in sides if s.kind == CLEARED and s.target is not None]
    for rating in (s for s in sides if s.kind == FEEDBACK and s.target is not None):
        for clear in clears:
            if clear.target == rating.target and (rating.ms or 0) <= (clear.ms or 0):
                retracted[rating.record_id] = clear.record_id
                break
    return retracted


def build_plan(source: Any, layout: Layout) -> Plan:
    """The whole first pass: stream, identify, group, link; and the report."""
    entries, reports, shapes = first_pass(source, layout)
    assign_ids(entries)
    turns = [e for e in entries if e.kind == TURN]
    sides = [e for e in entries if e.kind in (FEEDBACK, CANVAS, CLEARED, ACTIVITY)]
    plan = Plan(layout=layout, grouping=group_turns(turns))
    plan.retracted = link_sides(turns, sides)
    for entry in turns:
        plan.turns[entry.position] = entry
        cid = entry.conversation_id or ""
        plan.last_position[cid] = max(plan.last_position.get(cid, -1), entry.position)
    plan.sides = {e.position: e for e in sides}
    by_rule = Counter(plan.grouping.values())
    for member, report in reports.items():
        report["conversations"] = len({e.conversation_id for e in turns if e.member == member})
        for key in ("activity_verbs", "other_products", "not_objects"):
            report[key] = dict(sorted(report[key].items()))
    plan.report = {"members": reports, "html_ignored": list(layout.html_members),
                   "members_not_read": layout.members_not_read, "gap_seconds": GAP_SECONDS,
                   "conversations": {rule: by_rule.get(rule, 0) for rule in (DETAILS_LINK, TIME_GAP, UNTIMED)},
                   "feedback_retracted": len(plan.retracted)}
    plan.report_shapes = shapes
    return plan
