"""``moonshine_detect`` and ``moonshine_parse`` for Codex: find the rollouts, stream them one file at a time.

Each rollout file becomes one ``RawRecord(kind="conversation")`` whose data
is the list of its lines as read (a JSONL file) or its JSON object (the
TypeScript CLI's ``rollout-*.json``). Only one file is in memory at a time.
Only :class:`~moonshine_core.errors.ParseError` leaves :func:`parse`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from moonshine_core.errors import ParseError
from moonshine_core.records import Detection, RawRecord
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .layout import Rollout, conversation_key, find_rollouts, thread_names

#: Rollout files sniffed by detection before it answers (the rest are only counted by parse).
DETECT_FILES = 20


def variant_of(rollouts: list[Rollout], source_kind: str) -> str:
    shapes = sorted({r.shape for r in rollouts})
    if source_kind == "file" and len(rollouts) == 1:
        return f"rollout-{rollouts[0].shape}"
    return "sessions-folder" if len(shapes) == 1 else "sessions-folder-mixed"


def detect(source: ExportSource) -> Detection | None:
    """A :class:`Detection` when ``source`` holds Codex rollouts (reads only file heads)."""
    found: list[Rollout] = []
    for rollout in find_rollouts(source):
        found.append(rollout)
        if len(found) >= DETECT_FILES:
            break
    if not found:
        return None
    shapes = Counter(r.shape for r in found)
    more = "+" if len(found) >= DETECT_FILES else ""
    evidence = (f"{len(found)}{more} Codex rollout file(s): "
                + ", ".join(f"{n} {shape}" for shape, n in sorted(shapes.items()))
                + f" (first: {found[0].member})")
    confidence = max(r.confidence for r in found)
    return Detection(provider=PROVIDER, variant=variant_of(found, source.kind), confidence=confidence,
                     evidence=evidence)


def parse(source: ExportSource) -> Iterator[RawRecord]:
    """Stream one raw record per rollout file (a generator; raises only ParseError)."""
    try:
        rollouts = list(find_rollouts(source))
        titles = thread_names(source)
    except ParseError:
        raise
    except Exception as exc:  # zip CRC errors, OS errors: the export is unreadable
        raise ParseError(f"unreadable Codex export ({type(exc).__name__}: {exc})", path=str(source.path)) from exc
    if not rollouts:
        raise ParseError("no Codex rollout found (rollout-*.jsonl with session_meta / response_item lines, "
                         "or a TypeScript CLI rollout-*.json)", path=str(source.path))
    return _stream(source, rollouts, titles, variant_of(rollouts, source.kind))


def _suffixes(rollouts: list[Rollout]) -> dict[str, str]:
    """Files that would share a conversation id (a thread continued in a new file) get a suffix:
    every one but the first by name keeps its file name's time (``@<time>``)."""
    keys: dict[str, list[Rollout]] = {}
    for rollout in rollouts:
        first = next((r for r in rollout.head if r is not None), None)
        key = conversation_key(rollout.session_id, rollout.stem, first)
        keys.setdefault(key, []).append(rollout)
    out: dict[str, str] = {}
    for group in keys.values():
        for n, rollout in enumerate(group[1:], start=2):
            out[rollout.member] = f"@{rollout.stem.removeprefix('rollout-')[:19] or n}"
    return out


def _stream(source: ExportSource, rollouts: list[Rollout], titles: dict[str, str],
            variant: str) -> Iterator[RawRecord]:
    suffixes = _suffixes(rollouts)
    try:
        for index, rollout in enumerate(rollouts):
            context: dict[str, Any] = {"file": rollout.member, "file_stem": rollout.stem, "shape": rollout.shape}
            if rollout.member in suffixes:
                context["id_suffix"] = suffixes[rollout.member]
            if rollout.session_id is not None and rollout.session_id in titles:
                context["thread_name"] = titles[rollout.session_id]
            if rollout.shape == "typescript_json":
                try:
                    data: Any = {"session": next(iter(source.iter_json(rollout.member, "session")), None),
                                 "items": list(source.iter_json(rollout.member, "items.item"))}
                except ParseError as exc:   # one damaged file costs its own record, not the run
                    data = {"unreadable": str(exc)}
            else:
                lines = list(source.iter_jsonl(rollout.member))   # (number, value, error) per non-blank line
                data = [value for _, value, error in lines if error is None]
                context.update(line_numbers=[number for number, _, error in lines if error is None],
                               malformed_lines=[error for _, _, error in lines if error is not None])
                del lines
            yield RawRecord(kind="conversation", data=data, member=rollout.member, index=index, variant=variant,
                            context=context)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"unreadable Codex rollout ({type(exc).__name__}: {exc})", path=str(source.path)) from exc
