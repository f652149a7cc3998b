"""``moonshine_parse`` for Claude: stream raw records out of any supported export shape.

Conversations come first (claude.ai conversations streamed one at a time with
ijson, Claude Code sessions one file at a time), then side records (users,
projects, memories, design chats, reflections, the manifest). Only
:class:`~moonshine_core.errors.ParseError` leaves this module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from moonshine_core.errors import ParseError
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource

from .detect import variant_of
from .discover import SIDE_KINDS, Unit, walk

#: Side kinds that are personal data (stored for provenance, never in a dataset).
PERSONAL_KINDS = {"user", "memory"}


def parse(source: ExportSource) -> Iterator[RawRecord]:
    """Stream the raw records of ``source`` (a generator; raises only ParseError)."""
    try:
        yield from _parse(source)
    except ParseError:
        raise
    except Exception as exc:  # zip CRC errors, OS errors, ijson internals: the export is unreadable
        raise ParseError(f"unreadable Claude export ({type(exc).__name__}: {exc})", path=str(source.path)) from exc


def _parse(source: ExportSource) -> Iterator[RawRecord]:
    units = [unit for _, unit in walk(source)]
    variant = variant_of(units, source.kind)
    if variant is None:
        raise ParseError("no claude.ai export file or Claude Code session found", path=str(source.path))
    present = {u.where.rsplit("!", 1)[-1].rsplit("/", 1)[-1] for u in units}
    present |= {w.rsplit("/", 1)[-1] for u in units for w in u.where.split("!")[:-1]}
    names_cache: dict[int, list[str]] = {}
    for src, unit in walk(source):
        if unit.role == "conversations":
            for index, item in enumerate(src.iter_json(unit.member, unit.prefix or "item")):
                yield RawRecord(kind="conversation", data=item, member=unit.where, index=index, variant=variant,
                                context={"format": "claude_ai"})
        elif unit.role == "conversation":
            yield RawRecord(kind="conversation", data=src.load_json(unit.member), member=unit.where, index=0,
                            variant=variant, context={"format": "claude_ai", "api_shape": True})
        elif unit.role == "session":
            if id(src) not in names_cache:
                names_cache[id(src)] = src.names()
            yield _session_record(src, unit, variant, names_cache[id(src)])
    for src, unit in walk(source):
        kind = SIDE_KINDS.get(unit.role)
        if unit.role == "frame":
            if unit.member.rsplit("/", 1)[-1] == "artifact.json":
                yield _side(src.load_json(unit.member), "frame", unit, 0, variant)
            continue
        if kind is None:
            continue
        if unit.prefix is not None:
            for index, item in enumerate(src.iter_json(unit.member, unit.prefix)):
                yield _side(item, kind, unit, index, variant)
        else:
            data = src.load_json(unit.member)
            if kind == "manifest":
                yield _manifest(data, unit, variant, present)
            elif isinstance(data, list) and kind in ("memory", "user", "project"):
                # Some tools report memories.json as an object and others as an array: accept both.
                for index, item in enumerate(data):
                    yield _side(item, kind, unit, index, variant)
            else:
                yield _side(data, kind, unit, 0, variant)


def _side(data: Any, kind: str, unit: Unit, index: int, variant: str) -> RawRecord:
    return RawRecord(kind="side", data=data, member=unit.where, index=index, variant=variant,
                     context={"side_kind": kind, "personal": kind in PERSONAL_KINDS,
                              "file_stem": unit.member.rsplit("/", 1)[-1].rsplit(".", 1)[0]})


def _manifest(data: Any, unit: Unit, variant: str, present: set[str]) -> RawRecord:
    """The manifest minus its single-use download URLs, which are secrets and never stored."""
    clean = copy.deepcopy(data)
    listed: list[str] = []
    if isinstance(clean, dict) and isinstance(clean.get("data_files"), list):
        for item in clean["data_files"]:
            if isinstance(item, dict):
                if "export_url" in item:
                    item["export_url"] = "<removed: single-use secret>"
                if isinstance(item.get("filename"), str):
                    listed.append(item["filename"])
    missing = sorted(f for f in listed if f.rsplit("/", 1)[-1] not in present)
    record = _side(clean, "manifest", unit, 0, variant)
    record.context["listed_files"] = listed
    record.context["missing_files"] = missing
    return record


def _session_record(src: ExportSource, unit: Unit, variant: str, names: list[str]) -> RawRecord:
    records: list[Any] = []
    line_numbers: list[int] = []
    malformed: list[str] = []
    for number, value, error in src.iter_jsonl(unit.member):
        if error is not None:
            malformed.append(error)
            continue
        records.append(value)
        line_numbers.append(number)
    stem = unit.member[: -len(".jsonl")]
    context: dict[str, Any] = {
        "format": "claude_code", "file_stem": stem.rsplit("/", 1)[-1], "subagent": unit.subagent,
        "line_numbers": line_numbers, "malformed_lines": malformed,
    }
    if not unit.subagent:
        context["subagent_files"] = [n for n in names if n.startswith(f"{stem}/") and n.endswith(".jsonl")]
        context["tool_result_files"] = [n for n in names if n.startswith(f"{stem}/tool-results/")]
    return RawRecord(kind="conversation", data=records, member=unit.where, index=0, variant=variant,
                     context=context)
