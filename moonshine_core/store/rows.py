"""Records to table rows and back.

A conversation becomes one ``conversations`` row, one ``messages`` row per
message and one ``tool_events`` row per tool call or result; feedback,
comparisons and side records one row each. Every row carries the provenance
columns. Rows read back into records (:func:`conversation_from_rows`) equal the
records that were written, which is what lanes and scorers read.

Content hashes cover the normalised content only (never provenance, never
``raw``): the same message in next month's export hashes the same, so a merge
skips it.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ..convert import structure
from ..ids import SEP, canonical_json, compact_json, content_sha256, conversation_uid, message_uid, sha256_text, side_uid
from ..records import (
    Attachment,
    Comparison,
    Conversation,
    Feedback,
    Message,
    SideRecord,
    ToolCall,
    ToolResult,
)
from ..tokens import TokenCounts
from ..trees import path_to_root
from .schema import RECORD_TABLES

_NO_TOKENS = TokenCounts()


@attrs.frozen(kw_only=True)
class Provenance:
    """Where rows came from: stamped on every row of a run (DESIGN.md section 4)."""

    provider: str
    provider_run_id: str
    source_file_sha256: str
    source_path: str
    ingested_at: str
    source_kind: str = "provider_export"

    def columns(self) -> dict[str, Any]:
        return attrs.asdict(self)


def _j(value: Any) -> str | None:
    return None if value is None else canonical_json(value)


def _raw_j(value: Any) -> str | None:
    # Raw JSON keeps the export's own key order (only whitespace is normalised).
    return None if value is None else compact_json(value)


def _load(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def content_of(record: Any) -> dict[str, Any]:
    """The normalised content of a record: everything but its own ``raw`` (what content hashes cover).

    Equal to ``unstructure(record)`` without ``raw`` (a test holds it to that), built without
    cattrs: the converter walks every ``Any`` field's JSON value by value (``metadata``, nested
    ``raw``), millions of calls per export for values that are plain JSON already. Nested
    records (tool calls, results, attachments) keep their ``raw``, as they always have.
    """
    return {name: _plain(getattr(record, name)) for name in _field_names(type(record)) if name != "raw"}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in attrs.fields(cls))
    return names


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value] if value and attrs.has(type(value[0])) else value
    if attrs.has(type(value)):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    return value


def message_depths(conversation: Conversation) -> dict[str, int]:
    parent_of = {m.message_id: m.parent_id for m in conversation.messages}
    depths: dict[str, int] = {}
    for message_id in parent_of:
        chain = []
        node: str | None = message_id
        while node is not None and node not in depths and node in parent_of and node not in chain:
            chain.append(node)
            node = parent_of[node]
        base = depths.get(node, -1) if node is not None else -1
        for offset, item in enumerate(reversed(chain), start=1):
            depths[item] = base + offset
    return depths


def conversation_rows(conversation: Conversation, prov: Provenance,
                      tokens: dict[str, TokenCounts] | None = None) -> dict[str, list[dict]]:
    """Rows for ``conversations``, ``messages`` and ``tool_events``.

    ``tokens`` maps message id to its token counts (zero for a message it lacks).
    """
    provider, cid = prov.provider, conversation.conversation_id
    cuid = conversation_uid(provider, cid)
    base = prov.columns()
    active = set(path_to_root(conversation.messages, conversation.current_leaf_id)) \
        if conversation.current_leaf_id else set()
    depths = message_depths(conversation)
    messages, events = [], []
    message_hashes = []
    latest = conversation.updated_at
    for position, message in enumerate(conversation.messages):
        muid = message_uid(provider, cid, message.message_id)
        content = content_of(message)
        mhash = content_sha256(content)
        message_hashes.append(mhash)
        counts = (tokens or {}).get(message.message_id, _NO_TOKENS)
        when = message.updated_at if message.updated_at is not None else message.created_at
        if when is not None and (latest is None or when > latest):
            latest = when
        messages.append({
            **base, "record_uid": muid, "content_sha256": mhash,
            "source_time": when if when is not None else conversation.updated_at,
            "conversation_uid": cuid, "conversation_id": cid, "message_id": message.message_id,
            "parent_id": message.parent_id,
            "parent_uid": message_uid(provider, cid, message.parent_id) if message.parent_id else None,
            "position": position, "depth": depths.get(message.message_id, 0),
            "on_active_branch": int(message.message_id in active),
            "role": message.role, "author_name": message.author_name, "text": message.text,
            "raw_text": message.raw_text, "reasoning": message.reasoning,
            "reasoning_kind": message.reasoning_kind, "content_kind": message.content_kind,
            "tool_calls_json": canonical_json(content["tool_calls"]),
            "tool_results_json": canonical_json(content["tool_results"]),
            "attachments_json": canonical_json(content["attachments"]),
            "hidden": int(message.hidden), "hidden_reason": message.hidden_reason,
            "model": message.model, "model_inferred": int(message.model_inferred),
            "created_at": message.created_at, "updated_at": message.updated_at,
            "status": message.status, "metadata_json": canonical_json(message.metadata),
            "usage_json": _j(message.usage), "raw_json": _raw_j(message.raw),
            "tokens_text": counts.text, "tokens_reasoning": counts.reasoning, "tokens_tool": counts.tool,
        })
        events.extend(_tool_event_rows(message, muid, cuid, cid, base, when))
    _pair_tool_events(events)
    # The messages are already hashed: the conversation's content names them by hash. ``raw`` stays
    # as an empty key, as it has been in every content hash so far.
    conv_content = content_of(attrs.evolve(conversation, messages=[]))
    conv_content["messages"], conv_content["raw"] = message_hashes, None
    raw_json = _raw_j(conversation.raw)
    conversation_row = {
        **base, "record_uid": cuid, "content_sha256": content_sha256(conv_content),
        "source_time": latest, "conversation_id": cid, "title": conversation.title,
        "created_at": conversation.created_at, "updated_at": conversation.updated_at,
        "model": conversation.model, "current_leaf_id": conversation.current_leaf_id,
        "active_branch_inferred": int(conversation.active_branch_inferred),
        "order_inferred": int(conversation.order_inferred), "format_variant": conversation.format_variant,
        "message_count": len(conversation.messages), "raw_message_count": conversation.raw_message_count,
        "unknown_shapes_json": canonical_json(conversation.unknown_shapes),
        "metadata_json": canonical_json(conversation.metadata), "raw_json": raw_json,
        "raw_sha256": sha256_text(raw_json) if raw_json is not None else None,
    }
    return {"conversations": [conversation_row], "messages": messages, "tool_events": events}


def _tool_event_rows(message: Message, muid: str, cuid: str, cid: str, base: dict, when: float | None) -> list[dict]:
    rows = []
    common = {**base, "message_uid": muid, "conversation_uid": cuid, "conversation_id": cid,
              "message_id": message.message_id, "source_time": when}
    for seq, call in enumerate(message.tool_calls):
        data = {"name": call.name, "arguments": call.arguments, "call_id": call.call_id}
        rows.append({**common, "record_uid": sha256_text(SEP.join((muid, "call", str(seq)))),
                     "content_sha256": content_sha256(data), "kind": "call", "seq": seq,
                     "call_id": call.call_id, "name": call.name, "arguments_json": _j(call.arguments),
                     "content": None, "is_error": None, "status": None, "structured_json": None,
                     "paired_uid": None})
    for seq, result in enumerate(message.tool_results):
        data = content_of(result)
        rows.append({**common, "record_uid": sha256_text(SEP.join((muid, "result", str(seq)))),
                     "content_sha256": content_sha256(data), "kind": "result", "seq": seq,
                     "call_id": result.call_id, "name": result.name, "arguments_json": None,
                     "content": result.content,
                     "is_error": None if result.is_error is None else int(result.is_error),
                     "status": result.status, "structured_json": _j(result.structured),
                     "paired_uid": None})
    return rows


def _pair_tool_events(events: list[dict]) -> None:
    """Link each result to the call with the same ``call_id`` in the conversation (and back)."""
    calls = {e["call_id"]: e for e in events if e["kind"] == "call" and e["call_id"]}
    for event in events:
        if event["kind"] == "result" and event["call_id"] in calls:
            call = calls[event["call_id"]]
            event["paired_uid"] = call["record_uid"]
            call["paired_uid"] = event["record_uid"]


def feedback_row(record: Feedback, prov: Provenance) -> dict:
    content = content_of(record)
    return {**prov.columns(), "record_uid": side_uid(prov.provider, "feedback", record.feedback_id),
            "content_sha256": content_sha256(content), "source_time": record.created_at,
            "feedback_id": record.feedback_id, "conversation_id": record.conversation_id,
            "message_id": record.message_id, "rating": record.rating, "text": record.text,
            "tags_json": canonical_json(record.tags), "created_at": record.created_at,
            "unknown_shapes_json": canonical_json(record.unknown_shapes),
            "metadata_json": canonical_json(record.metadata), "raw_json": _raw_j(record.raw)}


def comparison_row(record: Comparison, prov: Provenance) -> dict:
    content = content_of(record)
    return {**prov.columns(), "record_uid": side_uid(prov.provider, "comparison", record.comparison_id),
            "content_sha256": content_sha256(content), "source_time": record.created_at,
            "comparison_id": record.comparison_id, "source": record.source,
            "conversation_id": record.conversation_id, "prompt_message_id": record.prompt_message_id,
            "chosen_ids_json": canonical_json(record.chosen_message_ids),
            "rejected_ids_json": canonical_json(record.rejected_message_ids),
            "candidate_ids_json": canonical_json(record.candidate_message_ids),
            "chosen_is_inferred": int(record.chosen_is_inferred), "prompt_json": _j(record.prompt),
            "chosen_json": _j(record.chosen), "rejected_json": _j(record.rejected),
            "rating": record.rating, "created_at": record.created_at,
            "unknown_shapes_json": canonical_json(record.unknown_shapes),
            "metadata_json": canonical_json(record.metadata), "raw_json": _raw_j(record.raw)}


def side_row(record: SideRecord, prov: Provenance) -> dict:
    content = content_of(record)
    return {**prov.columns(), "record_uid": side_uid(prov.provider, f"side:{record.kind}", record.record_id),
            "content_sha256": content_sha256(content), "source_time": None,
            "kind": record.kind, "record_id": record.record_id, "personal": int(record.personal),
            "data_json": _j(record.data), "unknown_shapes_json": canonical_json(record.unknown_shapes),
            "raw_json": _raw_j(record.raw)}


def record_rows(records: Any, prov: Provenance,
                tokens: dict[str, dict[str, TokenCounts]] | None = None) -> dict[str, list[dict]]:
    """Rows per table for a batch of records, in record order (``tokens``: conversation id ->
    message id -> counts)."""
    tables: dict[str, list[dict]] = {t: [] for t in RECORD_TABLES}
    for record in records:
        if isinstance(record, Conversation):
            for table, rows in conversation_rows(record, prov, (tokens or {}).get(record.conversation_id)).items():
                tables[table].extend(rows)
        elif isinstance(record, Feedback):
            tables["feedback"].append(feedback_row(record, prov))
        elif isinstance(record, Comparison):
            tables["comparisons"].append(comparison_row(record, prov))
        elif isinstance(record, SideRecord):
            tables["side_records"].append(side_row(record, prov))
        else:
            raise TypeError(f"not a record: {type(record).__name__}")
    return tables


def as_values(tables: dict[str, list[dict]]) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
    """Each table's rows as ``(columns, tuples)`` (the rows of a table share their keys and key order)."""
    laid_out = {}
    for table, rows in tables.items():
        if rows:
            columns = tuple(rows[0])
            laid_out[table] = (columns, [tuple(row[c] for c in columns) for row in rows])
    return laid_out


# -- rows back to records -------------------------------------------------------------
def message_from_row(row: dict) -> Message:
    return Message(
        message_id=row["message_id"], role=row["role"], parent_id=row["parent_id"], text=row["text"],
        raw_text=row["raw_text"], reasoning=row["reasoning"], reasoning_kind=row["reasoning_kind"],
        tool_calls=structure(_load(row["tool_calls_json"]), list[ToolCall]),
        tool_results=structure(_load(row["tool_results_json"]), list[ToolResult]),
        attachments=structure(_load(row["attachments_json"]), list[Attachment]),
        hidden=bool(row["hidden"]), hidden_reason=row["hidden_reason"], content_kind=row["content_kind"],
        model=row["model"], model_inferred=bool(row["model_inferred"]), created_at=row["created_at"],
        updated_at=row["updated_at"], status=row["status"], author_name=row["author_name"],
        metadata=_load(row["metadata_json"]) or {}, usage=_load(row["usage_json"]), raw=_load(row["raw_json"]),
    )


def conversation_from_rows(row: dict, message_rows: list[dict]) -> Conversation:
    """Rebuild a :class:`Conversation` from its row and its message rows (in ``position`` order)."""
    return Conversation(
        conversation_id=row["conversation_id"], messages=[message_from_row(r) for r in message_rows],
        title=row["title"], created_at=row["created_at"], updated_at=row["updated_at"], model=row["model"],
        current_leaf_id=row["current_leaf_id"], active_branch_inferred=bool(row["active_branch_inferred"]),
        order_inferred=bool(row["order_inferred"]), format_variant=row["format_variant"],
        raw_message_count=row["raw_message_count"], unknown_shapes=_load(row["unknown_shapes_json"]) or [],
        metadata=_load(row["metadata_json"]) or {}, raw=_load(row["raw_json"]),
    )


def feedback_from_row(row: dict) -> Feedback:
    return Feedback(feedback_id=row["feedback_id"], rating=row["rating"], conversation_id=row["conversation_id"],
                    message_id=row["message_id"], text=row["text"], tags=_load(row["tags_json"]) or [],
                    created_at=row["created_at"], unknown_shapes=_load(row["unknown_shapes_json"]) or [],
                    metadata=_load(row["metadata_json"]) or {}, raw=_load(row["raw_json"]))


def comparison_from_row(row: dict) -> Comparison:
    return Comparison(
        comparison_id=row["comparison_id"], source=row["source"], conversation_id=row["conversation_id"],
        prompt_message_id=row["prompt_message_id"], chosen_message_ids=_load(row["chosen_ids_json"]) or [],
        rejected_message_ids=_load(row["rejected_ids_json"]) or [],
        candidate_message_ids=_load(row["candidate_ids_json"]) or [],
        chosen_is_inferred=bool(row["chosen_is_inferred"]), prompt=_load(row["prompt_json"]),
        chosen=_load(row["chosen_json"]), rejected=_load(row["rejected_json"]), rating=row["rating"],
        created_at=row["created_at"], unknown_shapes=_load(row["unknown_shapes_json"]) or [],
        metadata=_load(row["metadata_json"]) or {}, raw=_load(row["raw_json"]))


def side_from_row(row: dict) -> SideRecord:
    return SideRecord(kind=row["kind"], record_id=row["record_id"], personal=bool(row["personal"]),
                      data=_load(row["data_json"]), unknown_shapes=_load(row["unknown_shapes_json"]) or [],
                      raw=_load(row["raw_json"]))
