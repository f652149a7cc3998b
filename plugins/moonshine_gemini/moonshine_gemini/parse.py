"""Streaming the raw records out of a Gemini Apps activity export.

Three passes over each Gemini JSON member, all with ijson (``source.iter_json``):

1. :func:`~moonshine_gemini.plan.build_plan` keeps a small entry per record
   and decides the conversations;
2. :func:`conversations` reads the records again and yields one
   ``RawRecord(kind="conversation")`` per conversation as soon as its last
   record has been read (its ``data`` is the list of its activity records,
   oldest first). Only conversations still open are held: Takeout writes the
   newest activity first, so an inferred session is contiguous and at most
   one is held; a linked chat resumed weeks later is held until its oldest
   record is read;
3. :func:`sides` yields the feedback, canvas and other-activity records, and
   last a report of what the export held (other products counted, the HTML
   twin ignored).

A file that is only HTML, or no Gemini activity at all, is refused at once
with a :class:`~moonshine_core.errors.ParseError` naming what is missing.
``ExportSource`` already reports damaged or invalid members as ``ParseError``
naming the member, which is the only error that leaves here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from moonshine_core.errors import ParseError
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource

from .activity import FEEDBACK, record_key
from .layout import EXPECTED, JSON_VARIANT, Layout, inspect_export
from .plan import Entry, Plan, build_plan


def checked_layout(source: ExportSource) -> Layout:
    """The layout to read, or :class:`ParseError` naming what is missing (no Gemini JSON, HTML only)."""
    found = inspect_export(source)
    if found is None or found.refusal:
        reason = found.refusal if found else f"not a Gemini Apps activity export: missing {EXPECTED}"
        raise ParseError(reason, path=str(source.path))
    return found


def plan_export(source: ExportSource, found: Layout | None = None) -> Plan:
    """The first pass over a checked layout."""
    return build_plan(source, found or checked_layout(source))


def _planned(source: ExportSource, plan: Plan, wanted: dict[int, Entry]) -> Iterator[tuple[Entry, Any]]:
    """``(entry, record)`` for the planned positions in ``wanted``, reading every member again."""
    items = ((member, item) for member in plan.layout.json_members for item in source.iter_json(member))
    for position, (member, item) in enumerate(items):
        entry = wanted.get(position)
        if entry is None:
            continue
        if not isinstance(item, dict) or record_key(item) != entry.base:
            raise ParseError("the file changed while it was being read", path=source.display(member))
        yield entry, item


def _time_key(pair: tuple[Entry, Any]) -> tuple[int, int, str]:
    entry = pair[0]
    return (0, entry.ms, entry.record_id) if entry.ms is not None else (1, 0, entry.record_id)


def _conversation_record(plan: Plan, cid: str, pairs: list[tuple[Entry, Any]]) -> RawRecord:
    pairs.sort(key=_time_key)
    entries = [entry for entry, _ in pairs]
    return RawRecord(
        kind="conversation", data=[record for _, record in pairs], member=entries[0].member,
        index=min(e.index for e in entries), variant=JSON_VARIANT,
        context={"conversation_id": cid, "grouping": plan.grouping.get(cid),
                 "record_ids": [e.record_id for e in entries], "members": [e.member for e in entries],
                 "present": sorted({p for e in entries for p in e.present})},
    )


def conversations(source: ExportSource, plan: Plan, stats: dict[str, int] | None = None) -> Iterator[RawRecord]:
    """Pass 2: one raw conversation as soon as its last record (in file order) has been read."""
    open_: dict[str, list[tuple[Entry, Any]]] = {}
    held = peak = 0
    for entry, record in _planned(source, plan, plan.turns):
        cid = entry.conversation_id or ""
        open_.setdefault(cid, []).append((entry, record))
        held += 1
        peak = max(peak, held)
        if plan.last_position.get(cid) == entry.position:
            pairs = open_.pop(cid)
            held -= len(pairs)
            yield _conversation_record(plan, cid, pairs)
    for cid, pairs in open_.items():  # only if the file ended early; the planned conversations still come out
        yield _conversation_record(plan, cid, pairs)
    if stats is not None:
        stats["peak_records_held"] = peak


def sides(source: ExportSource, plan: Plan) -> Iterator[RawRecord]:
    """Pass 3: feedback and side records, then the export report."""
    for entry, record in _planned(source, plan, plan.sides):
        context = {"record_id": entry.record_id, "side": entry.kind,
                   "target": list(entry.target) if entry.target else None,
                   "retracted_by": plan.retracted.get(entry.record_id)}
        yield RawRecord(kind="feedback" if entry.kind == FEEDBACK else "side", data=record, member=entry.member,
                        index=entry.index, variant=JSON_VARIANT, context=context)
    members = plan.layout.json_members
    yield RawRecord(kind="side", data=plan.report, member=members[0] if members else None, index=0,
                    variant=JSON_VARIANT, context={"side": "report", "shapes": plan.report_shapes})


def _stream(source: ExportSource, found: Layout) -> Iterator[RawRecord]:
    plan = plan_export(source, found)
    yield from conversations(source, plan)
    yield from sides(source, plan)


def parse(source: ExportSource) -> Iterator[RawRecord]:
    """Refuse what is not a Gemini JSON export at once, then stream its raw records (planned on first use)."""
    return _stream(source, checked_layout(source))
