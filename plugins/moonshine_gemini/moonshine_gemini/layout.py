"""Finding Gemini Apps activity in an export, for detection and parsing.

Takeout names folders and files in the account's language:
``Takeout/My Activity/Gemini Apps/MyActivity.json`` (English; also
``My Activity.json``), ``Takeout/Meine Aktivitäten/Gemini-Apps/MeineAktivitäten.json``
(German), ``Takeout/我的活动/Gemini Apps/我的活动记录.json`` (Chinese). The
product folder keeps "Gemini" (or "Bard", its name before 2024) in every
language seen, so members are found by that folder, then confirmed by their
content: a JSON array whose records name Gemini in ``header`` or ``products``.
Without such a folder (a bare file, a folder someone assembled) the shallow
JSON files are looked at instead. Only the first records of a file are read.
"""

from __future__ import annotations

import zipfile
import zlib
from itertools import islice

import attrs

from moonshine_core.errors import ParseError
from moonshine_core.records import Detection
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .activity import TURN, is_gemini, kind_of

JSON_VARIANT = "my-activity-json"
HTML_ONLY_VARIANT = "my-activity-html-only"

#: What a Gemini export must contain, quoted in refusals.
EXPECTED = ("My Activity/Gemini Apps/MyActivity.json (a JSON array of activity records whose header or products "
            "name 'Gemini Apps'), from Google Takeout with the My Activity format set to JSON")
HTML_ONLY = ("only the HTML form of the Gemini Apps activity is in this export ({names}); Moonshine reads the JSON "
             "form: in Google Takeout, under My Activity choose 'Multiple formats' and set Activity records to JSON, "
             "then export again")
#: Records read from the head of each candidate file.
SNIFF_RECORDS = 300
#: JSON files looked at when no member sits in a Gemini folder.
MAX_LOOSE_JSON = 50
MAX_LOOSE_DEPTH = 3
_PRODUCT_WORDS = ("gemini", "bard")


@attrs.define
class Layout:
    """What an export holds: the Gemini JSON members to read, and what else was seen."""

    variant: str
    confidence: float
    evidence: str
    json_members: list[str] = attrs.field(factory=list)
    html_members: list[str] = attrs.field(factory=list)
    members_not_read: int = 0
    refusal: str | None = None


def _in_gemini_folder(name: str) -> bool:
    folders = name.split("/")[:-1]
    return any(word in folder.lower() for folder in folders for word in _PRODUCT_WORDS)


def _in_activity_folder(name: str) -> bool:
    """A Gemini folder inside another folder (``My Activity/Gemini Apps/``), not Takeout's top-level "Gemini"
    product (Gems and scheduled actions): where an empty ``[]`` still means "no Gemini activity"."""
    folders = name.split("/")[:-1]
    if folders and folders[0].lower() == "takeout":
        folders = folders[1:]
    return len(folders) >= 2 and any(word in folders[-1].lower() for word in _PRODUCT_WORDS)


def _is_json(name: str) -> bool:
    return name.lower().endswith(".json")


def _is_html(name: str) -> bool:
    return name.lower().endswith((".html", ".htm"))


@attrs.define
class _Head:
    array: bool = False
    records: int = 0
    gemini: int = 0
    turns: int = 0


def _read_head(source: ExportSource, name: str) -> _Head:
    """Count Gemini records among the first :data:`SNIFF_RECORDS` of a member (``array`` if it is one)."""
    head = _Head()
    sniff = source.sniff_json(name)
    if sniff.top != "array":
        return head
    head.array = True
    try:
        for item in islice(source.iter_json(name), SNIFF_RECORDS):
            head.records += 1
            if isinstance(item, dict) and is_gemini(item):
                head.gemini += 1
                head.turns += kind_of(item) == TURN
    except ParseError:
        pass  # a damaged file: what was read decides; parsing reports the damage
    return head


def _html_mentions_gemini(source: ExportSource, name: str) -> bool:
    try:
        text = source.head(name, 64 * 1024).decode("utf-8", errors="replace")
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise ParseError(f"unreadable ({type(exc).__name__}: {exc})", path=source.display(name)) from exc
    return "<html" in text.lower() and ("Gemini" in text or "Bard" in text)


def inspect_export(source: ExportSource) -> Layout | None:
    """The layout of ``source``, or ``None`` when it holds no Gemini Apps activity."""
    names = source.names()
    if source.kind == "file":
        json_candidates = [] if _is_html(names[0]) else names
        html_candidates = names if _is_html(names[0]) else []
    else:
        json_candidates = [n for n in names if _is_json(n) and _in_gemini_folder(n)]
        html_candidates = [n for n in names if _is_html(n) and _in_gemini_folder(n)]
        if not json_candidates:
            json_candidates = [n for n in names if _is_json(n) and n.count("/") < MAX_LOOSE_DEPTH][:MAX_LOOSE_JSON]
    members: list[str] = []
    best = 0.0
    seen = {"records": 0, "gemini": 0, "turns": 0}
    for name in json_candidates:
        head = _read_head(source, name)
        if not head.array:
            continue
        if head.gemini or (head.records == 0 and _in_activity_folder(name)):
            members.append(name)
            seen["records"] += head.records
            seen["gemini"] += head.gemini
            seen["turns"] += head.turns
            best = max(best, 0.95 if head.turns else 0.8 if head.gemini else 0.6)
    html_members = [n for n in html_candidates if source.kind != "file" or _html_mentions_gemini(source, n)]
    read = set(members)
    # Attachments and the HTML twin sit in the Gemini folder; everything else is another product's.
    not_read = sum(1 for n in names if n not in read and not _in_gemini_folder(n))
    if members:
        shown = ", ".join(members[:3]) + (" ..." if len(members) > 3 else "")
        evidence = (f"{shown}: {seen['gemini']} of the first {seen['records']} activity records are Gemini Apps "
                    f"({seen['turns']} prompts)")
        if html_members:
            evidence += f"; HTML twin ignored ({html_members[0]})"
        return Layout(variant=JSON_VARIANT, confidence=best, evidence=evidence, json_members=members,
                      html_members=html_members, members_not_read=not_read)
    if html_members:
        shown = ", ".join(html_members[:3])
        confidence = 0.5 if source.kind != "file" else 0.4
        return Layout(variant=HTML_ONLY_VARIANT, confidence=confidence,
                      evidence=f"{shown}: Gemini Apps activity in HTML only (JSON needed)",
                      html_members=html_members, members_not_read=not_read,
                      refusal=HTML_ONLY.format(names=shown))
    return None


def detect(source: ExportSource) -> Detection | None:
    """The ``detect`` of the plugin: a :class:`Detection` of the layout, or ``None`` when there is no Gemini activity.

    HTML-only exports are detected (weakly) so that ``preflight`` names them and parsing explains the refusal.
    """
    found = inspect_export(source)
    return None if found is None else Detection(provider=PROVIDER, variant=found.variant,
                                                confidence=found.confidence, evidence=found.evidence)
