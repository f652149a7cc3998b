"""Turning planned Gemini activity into Moonshine records.

- a raw **conversation** (a list of turn records, oldest first) becomes one
  :class:`~moonshine_core.records.Conversation`: per record a ``user`` message
  (the prompt) and, when the record has ``safeHtmlItem``, an ``assistant``
  message (the answer as Markdown), chained by time;
- a **feedback** record ("Gave feedback: Good response") becomes a
  :class:`~moonshine_core.records.Feedback` on the answer the plan linked it to;
- a **canvas** becomes ``SideRecord(kind="canvas")``; other Gemini activity
  ("Used Gemini Apps", "Selected preferred draft", "Cleared ... feedback")
  ``SideRecord(kind="gemini_activity", personal=True)``;
- the export **report** becomes ``SideRecord(kind="activity_report")``.
"""

from __future__ import annotations

from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import (THUMBS_DOWN, THUMBS_UP, as_id, as_list, fallback_id, latest_time,
                                     normalize_rating)
from moonshine_core.records import Attachment, Conversation, Feedback, Message, RawRecord, SideRecord
from moonshine_core.timeutil import to_epoch
from moonshine_core.trees import choose_active_leaf, link_by_time, repair_tree

from .activity import (CANVAS, CANVAS_PREFIX, FEEDBACK_PREFIX, after_prefix, attachment_refs, attachments,
                       conversation_links, folder_of, gem_of, has_answer, html_items, prompt_of, split_title,
                       subtitle_names, unknown_record_keys)
from .html import answer_text
from .plan import GAP_SECONDS, TIME_GAP, message_ids

#: Longest title derived from a conversation's first prompt.
TITLE_CHARS = 120


def count_raw_messages(records: list[Any]) -> int:
    """Independent count for the ingest gate: each record is a prompt, plus an answer when it has one."""
    return sum(1 + (1 if has_answer(r) else 0) for r in records if isinstance(r, dict))


def _time(record: dict[str, Any], unknown: list[str]) -> float | None:
    value = record.get("time")
    epoch = to_epoch(value)
    if epoch is None and value is not None:
        unknown.append("time_unreadable")
    return epoch


def _other_subtitles(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Subtitles that are neither the Gem line nor an attachment line (survey answers, links, ...)."""
    gem, _ = gem_of(record)
    out = []
    for name, url in subtitle_names(record):
        text = name.strip()
        if text.startswith("-") or (gem and text.startswith(gem)) or (text.startswith("Attached ")
                                                                        and attachment_refs(record)):
            continue
        out.append({"name": name, "url": url} if url else {"name": name})
    return out


def _shape_of_items(record: dict[str, Any], unknown: list[str]) -> None:
    value = record.get("safeHtmlItem")
    if value is None:
        return
    if not isinstance(value, list):
        unknown.append(f"safe_html_item:{type(value).__name__}")
        return
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("html"), str):
            unknown.append("safe_html_item:entry")


def _turn(record: dict[str, Any], record_id: str, member: str, present: set[str],
          unknown: list[str]) -> list[Message]:
    unknown += unknown_record_keys(record)
    _shape_of_items(record, unknown)
    created = _time(record, unknown)
    prompt, verb_known = prompt_of(record)
    verb, _ = split_title(record.get("title"))
    metadata: dict[str, Any] = {"record_id": record_id, "verb": verb}
    if not isinstance(record.get("title"), str):
        unknown.append(f"title:{type(record.get('title')).__name__}")
    elif not verb_known:
        unknown.append("title_verb_unknown")
        metadata["title_verb_unknown"] = True
    links = conversation_links(record)
    if len(links) > 1:
        unknown.append("details_several_conversations")
    gem, gem_url = gem_of(record)
    files = attachments(record, folder_of(member), present)
    facts = {"other_conversations": links[1:], "gem": gem, "gem_url": gem_url,
             "subtitles": _other_subtitles(record), "context_incomplete": bool(files)}
    metadata.update((key, value) for key, value in facts.items() if value)
    prompt_id, answer_id = message_ids(record_id)
    messages = [Message(message_id=prompt_id, role="user", text=prompt, created_at=created, attachments=files,
                        metadata=metadata, raw={k: v for k, v in record.items() if k != "safeHtmlItem"})]
    fragments = html_items(record)
    if fragments:
        text, images = answer_text(fragments)
        answer_meta: dict[str, Any] = {"record_id": record_id}
        if len(fragments) > 1:
            answer_meta["html_fragments"] = len(fragments)
        if gem:
            answer_meta["gem"] = gem
        messages.append(Message(
            message_id=answer_id, role="assistant", text=text, created_at=created, content_kind="html",
            attachments=[Attachment(kind="image", name=src.rsplit("/", 1)[-1] or src, pointer=src,
                                    raw={"src": src}) for src in images],
            metadata=answer_meta, raw={"safeHtmlItem": record.get("safeHtmlItem")},
        ))
    return messages


def _title(messages: list[Message]) -> str | None:
    for message in messages:
        if message.role == "user" and message.text.strip():
            line = message.text.strip().splitlines()[0].strip()
            return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
    return None


def normalize_conversation(raw: RawRecord) -> list[Any]:
    """One planned conversation (its turn records, oldest first) to a :class:`Conversation`."""
    records = raw.data
    context = raw.context
    if not isinstance(records, list):
        raise NormalizeError("conversation data is not a list of activity records")
    conversation_id = as_id(context.get("conversation_id"))
    if conversation_id is None:
        raise NormalizeError("conversation has no id in its plan")
    record_ids = as_list(context.get("record_ids"))
    members = as_list(context.get("members"))
    if len(record_ids) != len(records) or len(members) != len(records):
        raise NormalizeError(f"conversation {conversation_id}: plan and records disagree")
    present = {p for p in as_list(context.get("present")) if isinstance(p, str)}
    unknown: list[str] = []
    messages: list[Message] = []
    gems: list[str] = []
    for record, record_id, member in zip(records, record_ids, members):
        if not isinstance(record, dict):
            unknown.append(f"activity_item:{type(record).__name__}")
            continue
        turn = _turn(record, str(record_id), str(member), present, unknown)
        gem = turn[0].metadata.get("gem")
        if gem and gem not in gems:
            gems.append(gem)
        messages += turn
    link_by_time(messages)
    facts = {"grouping": context.get("grouping"), "title_inferred": True, "records": len(records),
             "gap_seconds": GAP_SECONDS if context.get("grouping") == TIME_GAP else None, "gems": gems,
             "tree_repairs": repair_tree(messages)}
    metadata = {key: value for key, value in facts.items() if value}
    leaf, inferred = choose_active_leaf(messages, None)
    times = [m.created_at for m in messages if m.created_at is not None]
    return [Conversation(
        conversation_id=conversation_id, messages=messages, title=_title(messages),
        created_at=min(times) if times else None, updated_at=latest_time(times),
        current_leaf_id=leaf, active_branch_inferred=inferred, order_inferred=True,
        format_variant=raw.variant, raw_message_count=count_raw_messages(records),
        unknown_shapes=list(dict.fromkeys(unknown)), metadata=metadata, raw=records,
    )]


def _record(raw: RawRecord, what: str) -> tuple[dict[str, Any], str]:
    if not isinstance(raw.data, dict):
        raise NormalizeError(f"{what} record is not an object")
    record_id = raw.context.get("record_id")
    return raw.data, record_id if isinstance(record_id, str) and record_id else fallback_id(raw.data)


def _target(raw: RawRecord) -> tuple[str | None, str | None]:
    target = raw.context.get("target")
    if isinstance(target, list) and len(target) == 2 and all(isinstance(t, str) and t for t in target):
        return target[0], target[1]
    return None, None


def _rating(words: str) -> str:
    """``thumbs_up`` / ``thumbs_down`` from "Good response" / "Bad response" (or any thumb spelling)."""
    rating = normalize_rating(words)
    if rating not in (THUMBS_UP, THUMBS_DOWN) and words.split():
        first = normalize_rating(words.split()[0])
        if first in (THUMBS_UP, THUMBS_DOWN):
            return first
    return rating


def normalize_feedback(raw: RawRecord) -> list[Any]:
    """"Gave feedback: <rating>" to a :class:`Feedback` on the answer the plan linked it to (inferred by time)."""
    record, record_id = _record(raw, "feedback")
    unknown = unknown_record_keys(record)
    words = after_prefix(record.get("title"), FEEDBACK_PREFIX)
    rating = _rating(words)
    if rating not in (THUMBS_UP, THUMBS_DOWN):
        unknown.append(f"feedback_rating:{rating}")
    conversation_id, message_id = _target(raw)
    metadata: dict[str, Any] = {"title": record.get("title"), "message_inferred": message_id is not None}
    cleared_by = raw.context.get("retracted_by")
    if isinstance(cleared_by, str):
        metadata["rating_before_clear"] = rating
        metadata["cleared_by"] = cleared_by
        rating = "cleared"
    notes = [name for name, _ in subtitle_names(record)]
    return [Feedback(feedback_id=f"feedback:{record_id}", rating=rating, conversation_id=conversation_id,
                     message_id=message_id, text="\n".join(notes) or None, created_at=to_epoch(record.get("time")),
                     unknown_shapes=unknown, metadata=metadata, raw=record)]


def _side_text(record: dict[str, Any]) -> str | None:
    fragments = html_items(record)
    if fragments:
        return answer_text(fragments)[0]
    names = [name for name, _ in subtitle_names(record)]
    return "\n\n".join(names) or None


def normalize_side(raw: RawRecord) -> list[Any]:
    """A canvas, other Gemini activity, or the export report, to a :class:`SideRecord`."""
    side = raw.context.get("side")
    if side == "report":
        if not isinstance(raw.data, dict):
            raise NormalizeError("report is not an object")
        shapes = [s for s in as_list(raw.context.get("shapes")) if isinstance(s, str)]
        return [SideRecord(kind="activity_report", record_id=f"activity_report:{raw.member or 'export'}",
                           data=raw.data, unknown_shapes=shapes, raw=None)]
    record, record_id = _record(raw, "activity")
    conversation_id, message_id = _target(raw)
    near = {"conversation_id": conversation_id, "message_id": message_id, "inferred": True} if message_id else None
    data: dict[str, Any] = {"title": record.get("title"), "created_at": to_epoch(record.get("time")), "near": near}
    if side == CANVAS:
        data["canvas_title"] = after_prefix(record.get("title"), CANVAS_PREFIX)
        data["text"] = _side_text(record)
        return [SideRecord(kind="canvas", record_id=f"canvas:{record_id}", data=data,
                           unknown_shapes=unknown_record_keys(record), raw=record)]
    verb, _ = split_title(record.get("title"))
    data["verb"] = verb
    text = _side_text(record)
    if text:
        data["text"] = text
    return [SideRecord(kind="gemini_activity", record_id=f"activity:{record_id}", personal=True, data=data,
                       unknown_shapes=unknown_record_keys(record), raw=record)]


def normalize(raw: RawRecord) -> list[Any]:
    """Dispatch one raw record (``ProviderPlugin`` turns any stray exception into ``NormalizeError``)."""
    if not isinstance(raw.context, dict):
        raise NormalizeError(f"{raw.kind} record carries no plan context")
    if raw.kind == "conversation":
        return normalize_conversation(raw)
    if raw.kind == "feedback":
        return normalize_feedback(raw)
    if raw.kind == "side":
        return normalize_side(raw)
    raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
