"""Reading one My Activity record: which product, which kind of activity, its identity and links.

A record of ``MyActivity.json`` looks like (invented)::

    {"header": "Gemini Apps", "title": "Prompted How do tides work?",
     "time": "2026-03-02T09:15:00.000Z", "products": ["Gemini Apps"],
     "activityControls": ["Gemini Apps Activity"],
     "details": [{"name": "https://gemini.google.com/app/0a1b2c", "url": "https://gemini.google.com/app/0a1b2c"}],
     "safeHtmlItem": [{"html": "<p>The Moon's gravity ...</p>"}],
     "subtitles": [{"name": "Attached 1 file."}, {"name": "-  tides.png", "url": "tides-3f9.png"}],
     "imageFile": "tides-3f9.png"}

The first word of ``title`` says what happened (docs/formats/gemini.md §4):

==============================  ==========================================================
``Prompted`` / ``Branched``     a turn: the rest of the title is the prompt, ``safeHtmlItem`` the answer
``Asked``                       a turn (wording attributed to older exports)
``Created Gemini Canvas ...``   a canvas (a side record, not a turn)
``Gave feedback: ...``          a rating (``Feedback``)
``Cleared ... feedback``        retracts an earlier rating
anything else                   other activity (``Used``, ``Selected preferred draft``, ...)
==============================  ==========================================================

A record whose first word is unknown (another language, a new verb) but that
carries an answer is read as a turn with the whole title as its prompt, and
reported (``title_verb_unknown``), so a localized export still yields
conversations.
"""

from __future__ import annotations

import mimetypes
from typing import Any
from urllib.parse import unquote, urlsplit

from moonshine_core.provider import as_list, as_str, fallback_id
from moonshine_core.records import Attachment
from moonshine_core.timeutil import to_epoch

#: Record kinds.
TURN = "turn"
CANVAS = "canvas"
FEEDBACK = "feedback"
CLEARED = "cleared_feedback"
ACTIVITY = "activity"

#: First words of a turn's title (compared without a trailing colon).
TURN_VERBS = frozenset({"Prompted", "Branched", "Asked"})
#: First words of known activity that is not a turn, even when it carries HTML.
ACTIVITY_VERBS = frozenset({"Used", "Created", "Gave", "Cleared", "Selected", "Answered", "Added",
                            "Shared", "Deleted", "Viewed", "Searched"})
CANVAS_PREFIX = "Created Gemini Canvas"
FEEDBACK_PREFIX = "Gave feedback"

#: Keys a My Activity record is documented or seen to carry (any product).
KNOWN_KEYS = frozenset({"header", "title", "titleUrl", "time", "products", "activityControls", "safeHtmlItem",
                        "subtitles", "details", "description", "attachedFiles", "imageFile", "locationInfos"})
#: Where Gemini's own chat links live: ``https://gemini.google.com/app/<id>`` (also ``/u/1/app/<id>``).
GEMINI_HOST = "gemini.google.com"
_SEPARATORS = " \u00a0\u202f\t"
_IMAGE_TYPES = ("image/",)


def product_names(record: dict[str, Any]) -> list[str]:
    """The product names a record carries: its ``header`` and its ``products``."""
    names = [record["header"]] if isinstance(record.get("header"), str) else []
    names += [p for p in as_list(record.get("products")) if isinstance(p, str)]
    return names


def is_gemini(record: dict[str, Any]) -> bool:
    """Whether a record is Gemini (or Bard) activity: its ``header`` or one of its ``products`` says so.

    A record that names no product is not claimed (every real record names one; a conversation of another
    provider's export titled "Branched chat" must not read as a Gemini turn).
    """
    return any("gemini" in n.lower() or "bard" in n.lower() for n in product_names(record))


def product_label(record: Any) -> str:
    """The name a non-Gemini record is counted under in the report."""
    if not isinstance(record, dict):
        return f"<{type(record).__name__}>"
    names = product_names(record)
    return names[0] if names else "<no product>"


def split_title(title: Any) -> tuple[str | None, str]:
    """``(first word without a trailing colon, the rest)`` of a title; ``(None, "")`` when it is no string.

    The rest is the title after the first separator (a space, or the no-break space of the HTML twin),
    kept exactly as written otherwise: ``"Prompted "`` gives ``("Prompted", "")``.
    """
    if not isinstance(title, str):
        return None, ""
    for position, char in enumerate(title):
        if char in _SEPARATORS:
            return title[:position].rstrip(":"), title[position + 1:]
    return title.rstrip(":"), ""


def html_items(record: dict[str, Any]) -> list[str]:
    """The ``html`` strings of ``safeHtmlItem`` (entries without a string ``html`` are left out)."""
    return [item["html"] for item in as_list(record.get("safeHtmlItem"))
            if isinstance(item, dict) and isinstance(item.get("html"), str)]


def has_answer(record: dict[str, Any]) -> bool:
    """Whether a turn carries an answer: at least one ``safeHtmlItem`` entry with an ``html`` string."""
    return bool(html_items(record))


def kind_of(record: dict[str, Any]) -> str:
    """The kind of a Gemini record (module docstring)."""
    title = record.get("title")
    verb, _ = split_title(title)
    if verb in TURN_VERBS:
        return TURN
    text = title if isinstance(title, str) else ""
    if text.startswith(CANVAS_PREFIX):
        return CANVAS
    if text.startswith(FEEDBACK_PREFIX):
        return FEEDBACK
    if verb == "Cleared" and "feedback" in text.lower():
        return CLEARED
    if verb not in ACTIVITY_VERBS and has_answer(record):
        return TURN
    return ACTIVITY


def prompt_of(record: dict[str, Any]) -> tuple[str, bool]:
    """The prompt text of a turn and whether its verb was recognised (else the whole title is the prompt)."""
    title = record.get("title")
    verb, rest = split_title(title)
    if verb in TURN_VERBS:
        return rest, True
    return (title if isinstance(title, str) else ""), False


def after_prefix(title: Any, prefix: str) -> str:
    """What follows ``prefix`` (and a ``titled`` / ``:`` joiner) in a canvas or feedback title."""
    if not isinstance(title, str) or not title.startswith(prefix):
        return ""
    rest = title[len(prefix):].lstrip(_SEPARATORS + ":")
    if rest.startswith("titled"):
        rest = rest[len("titled"):]
    return rest.strip(_SEPARATORS)


def time_ms(record: dict[str, Any]) -> int | None:
    """The record's ``time`` in whole milliseconds (UTC), or ``None`` when it cannot be read."""
    epoch = to_epoch(record.get("time"))
    return None if epoch is None else round(epoch * 1000)


def record_key(record: dict[str, Any]) -> str:
    """A record's identity: the toolkit's ``fallback_id`` of its time (ms) and title.

    Never its position in the file, never its answer (which Google may re-render): the same prompt at
    the same instant is the same record in every export. An unreadable time takes part as written.
    """
    ms = time_ms(record)
    return fallback_id({"time": ms if ms is not None else record.get("time"), "title": record.get("title")})


def conversation_links(record: dict[str, Any]) -> list[str]:
    """Gemini chat ids named by the record's ``details`` (then ``titleUrl``), in order, each once."""
    found: list[str] = []
    urls: list[Any] = []
    for entry in as_list(record.get("details")):
        if isinstance(entry, dict):
            urls += [entry.get("url"), entry.get("name")]
    urls.append(record.get("titleUrl"))
    for url in urls:
        chat = chat_id(url)
        if chat is not None and chat not in found:
            found.append(chat)
    return found


def chat_id(url: Any) -> str | None:
    """The ``<id>`` of ``https://gemini.google.com[/u/N]/app/<id>``, else ``None``."""
    if not isinstance(url, str) or GEMINI_HOST not in url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if (parts.hostname or "").lower() != GEMINI_HOST:
        return None
    segments = [s for s in parts.path.split("/") if s]
    if "app" not in segments:
        return None
    position = segments.index("app")
    if position + 1 >= len(segments):
        return None
    chat = segments[position + 1]
    return chat if chat.replace("-", "").replace("_", "").isalnum() else None


def subtitle_names(record: dict[str, Any]) -> list[tuple[str, str | None]]:
    """``(name, url)`` of every ``subtitles`` entry that has a string ``name``."""
    out = []
    for entry in as_list(record.get("subtitles")):
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            out.append((entry["name"], as_str(entry.get("url"))))
    return out


def gem_of(record: dict[str, Any]) -> tuple[str | None, str | None]:
    """The Gem a turn used (``"<Gem> was used in this chat. ..."`` subtitle) and its link, or ``(None, None)``."""
    marker = " was used in this chat"
    for name, url in subtitle_names(record):
        if marker in name:
            gem = name.split(marker, 1)[0].strip()
            if gem:
                return gem, url
    return None, None


def _file_kind(name: str) -> tuple[str, str | None]:
    mime, _ = mimetypes.guess_type(name)
    return ("image" if mime and mime.startswith(_IMAGE_TYPES) else "file"), mime


def attachment_refs(record: dict[str, Any]) -> list[tuple[str | None, str]]:
    """``(display name, file name in the export)`` of every file the prompt carried, each once.

    Sources: ``subtitles`` entries written ``"-  <name>"`` (their ``url`` is the stored file's name),
    ``imageFile`` (a string or a list) and ``attachedFiles`` (names, or objects with ``name``/``url``).
    """
    refs: list[tuple[str | None, str]] = []

    def add(display: str | None, stored: Any) -> None:
        stored = as_str(stored)
        if stored is None:
            return
        stored = unquote(stored)
        if any(existing == stored for _, existing in refs):
            return
        refs.append((display, stored))

    for name, url in subtitle_names(record):
        text = name.strip()
        if text.startswith("-"):
            display = text.lstrip("-").strip(_SEPARATORS) or None
            add(display, url or display)
    for key in ("imageFile", "attachedFiles"):
        value = record.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict):
                add(as_str(item.get("name")), item.get("url") or item.get("name"))
            else:
                add(None, item)
    return refs


def attachments(record: dict[str, Any], folder: str, present: set[str]) -> list[Attachment]:
    """Attachments of a prompt: a reference per file, pointing at the export member when it is there."""
    out = []
    for display, stored in attachment_refs(record):
        member = f"{folder}/{stored}" if folder else stored
        kind, mime = _file_kind(stored)
        if record.get("imageFile") == stored or (isinstance(record.get("imageFile"), list)
                                                 and stored in record["imageFile"]):
            kind = "image"
        out.append(Attachment(kind=kind, name=display or stored, pointer=member if member in present else stored,
                              mime_type=mime, raw={"name": display, "file": stored,
                                                   "in_export": member in present}))
    return out


def folder_of(member: str) -> str:
    """The folder of an export member (``""`` at the top): where the files a record names are stored."""
    return member.rsplit("/", 1)[0] if "/" in member else ""


def unknown_record_keys(record: dict[str, Any]) -> list[str]:
    """``record_key:<k>`` for keys outside :data:`KNOWN_KEYS`."""
    return [f"record_key:{k}" for k in record if k not in KNOWN_KEYS]
