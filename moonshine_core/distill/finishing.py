"""Finishing a lane row: redaction, the lane's shape check, and the provenance block.

Every row a lane returns passes through :meth:`RowFinisher.finish` before it
is spilled: secrets and PII in its training columns are redacted, the lane's
``validate`` runs, and the provenance and signal columns (distillation.md 4.2)
are stamped. Lanes never write those columns themselves.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..ids import canonical_json
from ..lane import Lane
from ..records import Score
from ..timeutil import epoch_to_iso
from .messages import MESSAGE_KEYS
from .provenance import ROW_SCHEMA_VERSION, payload_sha256, record_uid, redact_value
from .textsignals import Redactor, detect_language


@attrs.frozen(kw_only=True)
class RowOrigin:
    """Where rows come from: one conversation of the mash (or one unattached comparison)."""

    provider: str
    provider_run_id: str
    conversation_id: str
    raw_sha256: str | None
    scores: tuple[Score, ...] = ()
    created_at: float | None = None
    last_message_at: float | None = None
    interaction_value: float = 0.0


def _normalise_messages(value: Any) -> Any:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
        return [{k: m.get(k) for k in MESSAGE_KEYS} for m in value]
    return value


def _payload_texts(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[str, int]:
    texts, turns = [], 0
    for col in columns:
        value = row.get(col)
        if isinstance(value, list):
            for m in value:
                if isinstance(m, dict):
                    turns += 1
                    if m.get("content"):
                        texts.append(m["content"])
    return "\n".join(texts), turns


class RowFinisher:
    """Turns lane rows into finished, provenance-stamped rows (or a reason to leave them out)."""

    def __init__(self, redactor: Redactor, signals_generator: str):
        self.redactor = redactor
        self.generator = signals_generator

    def finish(self, lane: Lane, row: dict[str, Any], origin: RowOrigin) -> dict[str, Any] | str:
        """The finished row, or ``invalid_row:<reason>`` when it breaks the lane's shape."""
        row = dict(row)
        columns = lane.payload_columns
        source_ids = [str(i) for i in row.pop("source_message_ids", [])]
        variant = str(row.pop("variant", "row"))
        counter = self.redactor.fork()
        for col in columns + ("reference_response",):
            if col in row:
                row[col] = _normalise_messages(redact_value(row[col], counter))
        problem = lane.validate(row)
        if problem:
            return f"invalid_row:{problem}"
        text, turns = _payload_texts(row, columns)
        language, language_score = detect_language(text)
        score_flags = sorted({f for s in origin.scores for f in s.flags})
        flags = sorted(set(row.pop("lane_flags", []) or []) | set(score_flags)
                       | ({"contains_redactions"} if counter.counts else set()))
        row.update({
            "record_uid": record_uid(lane.name, origin.provider, origin.conversation_id, source_ids, variant),
            "schema_version": ROW_SCHEMA_VERSION,
            "lane": lane.name,
            "provider": origin.provider,
            "provider_run_id": origin.provider_run_id,
            "conversation_id": origin.conversation_id,
            "source_message_ids": source_ids,
            "source_sha256": origin.raw_sha256,
            "content_sha256": payload_sha256(row, columns),
            "models": list(row.get("models") or []),
            "conversation_created_at": epoch_to_iso(origin.created_at),
            "last_message_at": epoch_to_iso(origin.last_message_at),
            "language": language,
            "language_score": float(language_score),
            "n_turns": turns,
            "n_chars": len(text),
            "approx_tokens": (len(text) + 3) // 4,
            "pii_redactions": counter.pii,
            "secrets_redacted": counter.secrets,
            "pii_types": counter.types(),
            "filter_flags": flags,
            "signals": canonical_json({s.name: {"value": s.value, "flags": s.flags} for s in origin.scores}),
            "signals_generator": self.generator,
        })
        # Ranked inside a provider by ``--mix``: the conversation's interaction value plus lane evidence.
        row["quality_score"] = round(origin.interaction_value + lane.quality(row), 4)
        return row
