"""What a lane sees besides the conversation: :class:`LaneContext`, the ``context`` of ``moonshine_emit``."""

from __future__ import annotations

from typing import Any

import attrs

from ..records import Comparison, Conversation, Feedback, Score
from ..workspace import LaneSettings


@attrs.define(kw_only=True)
class LaneContext:
    """One conversation's provenance, scores, side records and the lane settings.

    ``provider`` / ``provider_run_id`` / ``source_sha256`` come from the
    conversation's row in the mash (``source_sha256`` is its ``raw_sha256``).
    ``feedback`` and ``comparisons`` are the side records that name this
    conversation. Lanes must not modify any of it.
    """

    provider: str
    provider_run_id: str
    conversation_id: str
    conversation_uid: str
    source_sha256: str | None
    settings: LaneSettings = attrs.field(factory=LaneSettings)
    scores: list[Score] = attrs.field(factory=list)
    feedback: list[Feedback] = attrs.field(factory=list)
    comparisons: list[Comparison] = attrs.field(factory=list)
    created_at: float | None = None
    updated_at: float | None = None

    def score(self, name: str) -> Score | None:
        return next((s for s in self.scores if s.name == name), None)

    def score_value(self, name: str, default: float = 0.0) -> float:
        found = self.score(name)
        return default if found is None or found.value is None else float(found.value)

    def ratings(self) -> dict[str, str]:
        """Message id -> ``up`` / ``down`` from thumbs feedback (the latest record wins, ties by id)."""
        out: dict[str, tuple[float, str, str]] = {}
        for fb in self.feedback:
            if not fb.message_id:
                continue
            rating = _norm_rating(fb.rating)
            if rating is None:
                continue
            key = (fb.created_at or 0.0, fb.feedback_id, rating)
            if fb.message_id not in out or key > out[fb.message_id]:
                out[fb.message_id] = key
        return {mid: value[2] for mid, value in out.items()}


def _norm_rating(rating: str | None) -> str | None:
    value = (rating or "").lower().replace("-", "_")
    if value in ("thumbs_up", "thumbsup", "up", "good", "positive", "like", "1"):
        return "up"
    if value in ("thumbs_down", "thumbsdown", "down", "bad", "negative", "dislike", "0", "_1"):
        return "down"
    return None


def as_lane_context(context: Any) -> LaneContext | None:
    """``context`` when it is a :class:`LaneContext` (other callers of the hook get ``None``)."""
    return context if isinstance(context, LaneContext) else None


def lane_row(lane: str, conversation: Conversation, source_message_ids: list[str], variant: str,
             payload: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
    """A row as a lane returns it from ``moonshine_emit``: TRL columns, lane columns, and the two
    keys the pipeline needs to finish the provenance block (``source_message_ids``, ``variant``)."""
    return {**payload, **columns, "lane": lane, "conversation_id": conversation.conversation_id,
            "source_message_ids": list(source_message_ids), "variant": variant}
