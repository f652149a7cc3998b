"""Side files -> Feedback, Comparison and SideRecord (docs/formats/chatgpt.md §10).

``message_feedback.json``: three record shapes, possibly mixed in one file;
ratings ``thumbsUp``/``thumbsDown`` (<= 2024) or ``thumbs_up``/``thumbs_down``
(2025+); 2023 conversation ids without hyphens are normalised to the hyphenated
form the conversations use.

``model_comparisons.json``: shape A (inline ``input``/``output``), shape B (the
same wrapped in ``content``) and shape C (flat, ids only). In A/B the prompt and
both turns are carried inline and kept as ``prompt``/``chosen``/``rejected``
message lists; in every shape the ids are resolved against the conversation
trees of the same export when the parser saw them (``context['resolved']``):
the chosen/rejected ids then name the final visible answer of each response.

A comparison's ``metadata.cf_headers`` (IP geolocation) is removed from the
stored raw record and never copied: it is personal data with no training use.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import (THUMBS_DOWN, THUMBS_UP, as_dict, as_id, as_list, as_str, fallback_id,
                                     normalize_rating, unknown_keys)
from moonshine_core.records import Comparison, Feedback, SideRecord
from moonshine_core.timeutil import to_epoch

from .content import build_message

_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
KNOWN_FEEDBACK_KEYS = frozenset({
    "id", "message_id", "conversation_id", "user_id", "rating", "content", "create_time", "update_time",
    "workspace_id", "storage_protocol", "evaluation_name", "evaluation_treatment",
})
KNOWN_FLAT_COMPARISON_KEYS = frozenset({
    "message_id", "conversation_id", "original_message_id", "new_message_id", "rating", "placement",
    "ui_variant", "evaluation_name", "evaluation_treatment", "evaluation_type", "message_metadatas",
    "received_timestamp", "source_timestamp", "user_agent", "client_type", "user_id", "product_surface",
    "create_time", "update_time",
})
#: Ratings of model comparisons that name a winner; ``same``/``skip`` are ties, ``partial_load_*`` discarded.
_WINNER = {"new": "new", "original": "original"}
_TIES = ("same", "skip", "tie")
KNOWN_SHARED_KEYS = frozenset({"id", "conversation_id", "title", "is_anonymous"})


def hyphenate(conversation_id: Any) -> str | None:
    """``4b90b35760e44eff...`` -> ``4b90b357-60e4-4eff-...``; other ids unchanged, non-ids ``None``."""
    c = as_id(conversation_id)
    if c is not None and _HEX32.fullmatch(c):
        return f"{c[:8]}-{c[8:12]}-{c[12:16]}-{c[16:20]}-{c[20:]}"
    return c


def _resolved(context: dict, message_id: str | None) -> dict:
    """What the parser learned in the conversation trees about ``message_id`` (empty when nothing)."""
    if message_id is None:
        return {}
    return as_dict(as_dict(as_dict(context).get("resolved")).get(message_id))


def _feedback_content(value: Any, unknown: list[str]) -> tuple[str | None, list[str], dict]:
    """``content`` is a JSON string: ``{}``, ``{"text"}``, ``{"tags", "tag_choices"}``."""
    if value is None or value == "":
        return None, [], {}
    data = value
    if isinstance(value, str):
        try:
            data = json.loads(value)
        except ValueError:
            unknown.append("feedback_content:not_json")
            return value, [], {}
    if not isinstance(data, dict):
        unknown.append(f"feedback_content:{type(data).__name__}")
        return None, [], {}
    text = as_str(data.get("text"))
    tags = [t for t in data.get("tags") or [] if isinstance(t, str)] if isinstance(data.get("tags"), list) else []
    extra = {}
    if isinstance(data.get("tag_choices"), list):
        extra["tag_choices"] = [t for t in data["tag_choices"] if isinstance(t, str)]
    for key in data:
        if key not in ("text", "tags", "tag_choices"):
            unknown.append(f"feedback_content_field:{key}")
    return text, tags, extra


def normalize_feedback(data: Any, context: dict) -> list[Feedback]:
    """One ``message_feedback.json`` record."""
    if not isinstance(data, dict):
        raise NormalizeError(f"feedback record is a {type(data).__name__}, not an object")
    unknown = unknown_keys(data, KNOWN_FEEDBACK_KEYS, "feedback_field")
    message_id = as_id(data.get("message_id")) or as_id(data.get("id"))
    info = _resolved(context, message_id)
    conversation_id = hyphenate(data.get("conversation_id")) or as_id(info.get("conversation_id"))
    rating = normalize_rating(data.get("rating"))
    if rating not in (THUMBS_UP, THUMBS_DOWN):
        unknown.append(f"rating:{rating}")
    text, tags, extra = _feedback_content(data.get("content"), unknown)
    metadata: dict[str, Any] = dict(extra)
    for key in ("evaluation_name", "evaluation_treatment", "storage_protocol"):
        if as_str(data.get(key)):
            metadata[key] = data[key]
    if isinstance(data.get("rating"), str) and data["rating"] != rating:
        metadata["rating_as_written"] = data["rating"]
    if info:
        metadata["in_export"] = True
        if info.get("message_id") and info["message_id"] != message_id:
            metadata["message_object_id"] = message_id
            message_id = info["message_id"]
        if info.get("conversation_id") and conversation_id != info["conversation_id"]:
            metadata["conversation_id_as_written"] = conversation_id
            conversation_id = info["conversation_id"]
    elif context.get("conversations_in_export"):
        metadata["in_export"] = False
    if isinstance(context.get("duplicates_dropped"), int):
        metadata["duplicates_dropped"] = context["duplicates_dropped"]
    feedback_id = as_id(data.get("id")) or message_id or fallback_id(data)
    return [Feedback(feedback_id=feedback_id, rating=rating, conversation_id=conversation_id,
                     message_id=message_id, text=text, tags=tags,
                     created_at=to_epoch(data.get("create_time")), unknown_shapes=sorted(set(unknown)),
                     metadata=metadata, raw=data)]


# -- model comparisons --------------------------------------------------------------


def comparison_shape(data: dict) -> str:
    """``A`` (inline), ``B`` (wrapped), ``C`` (flat ids) or ``unknown``."""
    if "original_message_id" in data or "new_message_id" in data:
        return "C"
    if isinstance(data.get("content"), dict) and ("input" in data["content"] or "output" in data["content"]):
        return "B"
    if "input" in data or "output" in data:
        return "A"
    return "unknown"


def _inline_messages(items: Any) -> list[dict[str, Any]]:
    """Export messages -> ``{"role", "content", ...}`` dicts (tool traffic and hidden nodes marked)."""
    out: list[dict[str, Any]] = []
    for index, item in enumerate(as_list(items)):
        mid = as_id(as_dict(item).get("id")) or f"#{index}"
        message, _ = build_message(mid, None, item)
        row: dict[str, Any] = {"role": message.role, "content": message.text, "message_id": mid}
        if message.tool_calls:
            call = message.tool_calls[0]
            row["content"] = call.arguments if isinstance(call.arguments, str) else json.dumps(
                call.arguments, ensure_ascii=False)
            row["recipient"] = call.name
        if message.tool_results:
            row["content"] = message.tool_results[0].content
            row["name"] = message.tool_results[0].name
        if message.reasoning:
            row["reasoning"] = message.reasoning
        if message.hidden:
            row["hidden"] = True
        out.append(row)
    return out


def _turn_ids(items: Any) -> list[str]:
    return [i for i in (as_id(as_dict(item).get("id")) for item in as_list(items)) if i is not None]


def _answer_id(ids: list[str], context: dict) -> tuple[str | None, bool]:
    """The id that stands for a response: its resolved final answer, else its last message id."""
    for mid in reversed(ids):
        info = _resolved(context, mid)
        if info:
            return as_id(info.get("answer_message_id")) or as_id(info.get("message_id")) or mid, True
    return (ids[-1] if ids else None), False


def _redacted(data: dict) -> tuple[dict, list[str]]:
    removed = []
    clean = data
    for path in (("metadata",), ("content", "metadata")):
        holder: Any = data
        for key in path:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and "cf_headers" in holder:
            if clean is data:
                clean = copy.deepcopy(data)
            target = clean
            for key in path:
                target = target[key]
            del target["cf_headers"]
            removed.append(".".join((*path, "cf_headers")))
    return clean, removed


def _inline_comparison(data: dict, shape: str, context: dict) -> Comparison:
    inner = data["content"] if shape == "B" else data
    unknown: list[str] = []
    inp = as_dict(inner.get("input"))
    out = as_dict(inner.get("output"))
    prompt_convo = as_dict(inp.get("prompt_convo"))
    step2 = as_dict(out.get("feedback_step_2"))
    step1 = as_dict(out.get("feedback_step_1"))
    prompt_items = as_list(prompt_convo.get("messages"))
    original_items, new_items = step2.get("original_turn"), step2.get("new_turn")
    rating = as_str(step2.get("completion_comparison_rating")) or as_str(step1.get("rating"))
    original_id, original_found = _answer_id(_turn_ids(original_items), context)
    new_id, new_found = _answer_id(_turn_ids(new_items), context)
    prompt_ids = _turn_ids(prompt_items)
    prompt_id = prompt_ids[-1] if prompt_ids else None
    info = _resolved(context, prompt_id) or _resolved(context, original_id) or _resolved(context, new_id)
    conversation_id = (as_id(info.get("conversation_id")) or hyphenate(data.get("conversation_id"))
                       or hyphenate(inp.get("conversation_id")) or hyphenate(prompt_convo.get("id")))
    winner = _WINNER.get(rating or "")
    chosen_items, rejected_items = ((new_items, original_items) if winner == "new" else
                                    (original_items, new_items) if winner == "original" else (None, None))
    chosen_ids = [new_id if winner == "new" else original_id] if winner else []
    rejected_ids = [original_id if winner == "new" else new_id] if winner else []
    metadata: dict[str, Any] = {"shape": shape, "original_message_id": original_id, "new_message_id": new_id,
                                "resolved_in_tree": bool(original_found or new_found)}
    for key in ("feedback_version", "ui_feature_name"):
        if as_str(out.get(key)):
            metadata[key] = out[key]
    for key in ("new_completion_placement",):
        if as_str(step2.get(key)):
            metadata[key] = step2[key]
    if step1.get("critique_text"):
        metadata["critique_text"] = step1["critique_text"]
    if isinstance(step1.get("tags"), list) and step1["tags"]:
        metadata["tags"] = step1["tags"]
    if rating is None:
        unknown.append("comparison_rating:missing")
    elif rating not in _WINNER and rating not in _TIES:
        unknown.append(f"comparison_rating:{rating}")
    if not step2:
        unknown.append("comparison_field:no_feedback_step_2")
    raw, removed = _redacted(data)
    if removed:
        metadata["raw_redacted"] = removed
    record_id = as_id(data.get("id")) or fallback_id(data)
    return Comparison(
        comparison_id=f"model_comparisons:{record_id}",
        source="model_comparisons",
        conversation_id=conversation_id,
        prompt_message_id=as_id(info.get("prompt_message_id")) if info and prompt_id is None else prompt_id,
        candidate_message_ids=[i for i in (original_id, new_id) if i],
        chosen_message_ids=[i for i in chosen_ids if i],
        rejected_message_ids=[i for i in rejected_ids if i],
        prompt=_inline_messages(prompt_items) if prompt_items else None,
        chosen=_inline_messages(chosen_items) if chosen_items is not None else None,
        rejected=_inline_messages(rejected_items) if rejected_items is not None else None,
        rating=rating,
        created_at=to_epoch(data.get("create_time")),
        unknown_shapes=sorted(set(unknown)),
        metadata=metadata,
        raw=raw,
    )


def _flat_comparison(data: dict, context: dict) -> Comparison:
    unknown = unknown_keys(data, KNOWN_FLAT_COMPARISON_KEYS, "comparison_field")
    prompt_id = as_id(data.get("message_id"))
    original = as_id(data.get("original_message_id"))
    new = as_id(data.get("new_message_id"))
    rating = as_str(data.get("rating"))
    metadata: dict[str, Any] = {"shape": "C", "original_message_id": original, "new_message_id": new}
    resolved_ids: dict[str, str | None] = {}
    conversation_id = hyphenate(data.get("conversation_id"))
    for mid in (original, new):
        info = _resolved(context, mid)
        if info:
            resolved_ids[mid] = as_id(info.get("answer_message_id")) or as_id(info.get("message_id")) or mid
            conversation_id = as_id(info.get("conversation_id")) or conversation_id
            if prompt_id is None:
                prompt_id = as_id(info.get("prompt_message_id"))
    metadata["resolved_in_tree"] = bool(resolved_ids)
    if not resolved_ids and context.get("conversations_in_export"):
        metadata["in_export"] = False
    original_answer = resolved_ids.get(original, original) if original else None
    new_answer = resolved_ids.get(new, new) if new else None
    winner = _WINNER.get(rating or "")
    chosen = [new_answer if winner == "new" else original_answer] if winner else []
    rejected = [original_answer if winner == "new" else new_answer] if winner else []
    if rating is None:
        unknown.append("comparison_rating:missing")
    elif rating.startswith("partial_load"):
        metadata["discard"] = True
    elif rating not in _WINNER and rating not in _TIES:
        unknown.append(f"comparison_rating:{rating}")
    for key in ("placement", "ui_variant", "evaluation_name", "evaluation_treatment", "evaluation_type"):
        if data.get(key) is not None:
            metadata[key] = data[key]
    key = ":".join(x or "" for x in (conversation_id, prompt_id, original, new))
    comparison_id = f"model_comparisons:{key if (original or new) else fallback_id(data)}"
    return Comparison(
        comparison_id=comparison_id,
        source="model_comparisons",
        conversation_id=conversation_id,
        prompt_message_id=prompt_id,
        candidate_message_ids=[i for i in (original_answer, new_answer) if i],
        chosen_message_ids=[i for i in chosen if i],
        rejected_message_ids=[i for i in rejected if i],
        rating=rating,
        created_at=to_epoch(data.get("create_time")),
        unknown_shapes=sorted(set(unknown)),
        metadata=metadata,
        raw=data,
    )


def normalize_comparison(data: Any, context: dict) -> list[Comparison]:
    """One ``model_comparisons.json`` record, whichever of the three shapes it has."""
    if not isinstance(data, dict):
        raise NormalizeError(f"comparison record is a {type(data).__name__}, not an object")
    shape = comparison_shape(data)
    if shape == "C":
        return [_flat_comparison(data, context)]
    if shape in ("A", "B"):
        return [_inline_comparison(data, shape, context)]
    raw, removed = _redacted(data)
    return [Comparison(comparison_id=f"model_comparisons:{fallback_id(data)}",
                       source="model_comparisons", conversation_id=hyphenate(data.get("conversation_id")),
                       unknown_shapes=["comparison_shape:unknown"],
                       metadata={"shape": "unknown", **({"raw_redacted": removed} if removed else {})}, raw=raw)]


# -- other side files ------------------------------------------------------------------


def normalize_side(data: Any, context: dict) -> list[SideRecord]:
    """``shared_conversations.json`` rows, ``user.json`` (personal) and other small export files."""
    kind = as_str(context.get("side_kind")) or "unknown"
    personal = bool(context.get("personal"))
    if kind == "shared_conversations":
        if not isinstance(data, dict):
            raise NormalizeError(f"shared conversation record is a {type(data).__name__}, not an object")
        unknown = unknown_keys(data, KNOWN_SHARED_KEYS, "shared_field")
        share_id = as_id(data.get("id")) or fallback_id(data)
        return [SideRecord(kind="shared_conversation", record_id=f"shared_conversation:{share_id}",
                           data={"share_id": share_id, "conversation_id": hyphenate(data.get("conversation_id")),
                                 "title": data.get("title"), "is_anonymous": data.get("is_anonymous")},
                           unknown_shapes=unknown, raw=data)]
    if kind == "user":
        user_id = as_id(as_dict(data).get("id"))
        return [SideRecord(kind="user", record_id=f"user:{user_id or fallback_id(data)}", personal=True,
                           data=data, raw=data)]
    name = kind.split(":", 1)[-1]
    return [SideRecord(kind=name, record_id=f"{name}:{fallback_id(data)}", personal=personal,
                       data=data, raw=data)]
