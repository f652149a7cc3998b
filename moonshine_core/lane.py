"""What a distillation lane is: :class:`Lane`, and :class:`LaneContext`, what a lane sees of one conversation.

A lane turns conversations of the mash into rows of one training format
(DPO pairs, GRPO prompts, ...). Plugins register lanes through the
``moonshine_lanes`` hook; the built-in lanes register the same way
(``moonshine_core.builtin.lanes``). The distill pipeline knows lanes only
through this type: it asks each lane for rows, checks them with the lane's
own rule, ranks them with the lane's quality and writes the lane's folder,
manifest and card, so a fifth lane needs no change to the core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .provider import rating_direction
from .records import Comparison, Conversation, Feedback, Score
from .workspace import LaneSettings

Row = dict[str, Any]


def _no_problem(row: Row) -> str | None:
    return None


def _no_bonus(row: Row) -> float:
    return 0.0


@attrs.frozen(kw_only=True)
class Lane:
    """One distillation lane.

    ``name``
        The folder name under ``reports/distillations/`` and the ``lane`` column.
    ``title``
        One line for the dataset card.
    ``payload_columns``
        The training columns of a row (TRL's): redacted, hashed into the
        row's ``content_sha256`` and measured for language and length.
    ``emit(conversation, context)``
        Rows for one conversation (``context`` is a :class:`LaneContext`),
        each made with :func:`lane_row`. Must not modify its arguments.
    ``validate(row)``
        ``None`` when a finished row has the lane's shape, else a short reason
        (counted in the manifest's ``left_out`` as ``invalid_row:<reason>``).
    ``quality(row)``
        Lane evidence added to the conversation's interaction value to rank
        rows within a provider for ``--mix``.
    ``count_columns``
        Lane columns the manifest counts (``counts.by_<column>``); the first
        is shown on the card.
    ``converters``
        ``{format: row -> converted row | None}``: copies written under
        ``converted/<format>/`` (``None`` skips the row, counted).
    ``loading``
        A code snippet for the card showing how a trainer takes the rows.
    ``emit_unattached(comparison)``
        Rows from a comparison whose conversation is not in the mash (it may
        carry its own texts), or ``None`` when the lane has no use for them.
    """

    name: str
    title: str
    payload_columns: tuple[str, ...]
    emit: Callable[[Conversation, "LaneContext"], list[Row]]
    validate: Callable[[Row], str | None] = _no_problem
    quality: Callable[[Row], float] = _no_bonus
    count_columns: tuple[str, ...] = ()
    converters: Mapping[str, Callable[[Row], Row | None]] = attrs.field(factory=dict)
    loading: str = ""
    emit_unattached: Callable[[Comparison], list[Row]] | None = None


@attrs.define(kw_only=True)
class LaneContext:
    """One conversation's provenance, scores, side records and the lane settings.

    ``provider`` / ``provider_run_id`` / ``raw_sha256`` come from the
    conversation's row in the mash (``raw_sha256`` is the sha256 of the raw
    conversation as the export held it, not of the export file).
    ``feedback`` and ``comparisons`` are the side records that name this
    conversation. Lanes must not modify any of it.
    """

    provider: str
    provider_run_id: str
    conversation_id: str
    conversation_uid: str
    raw_sha256: str | None
    settings: LaneSettings = attrs.field(factory=LaneSettings)
    scores: list[Score] = attrs.field(factory=list)
    feedback: list[Feedback] = attrs.field(factory=list)
    comparisons: list[Comparison] = attrs.field(factory=list)
    created_at: float | None = None
    updated_at: float | None = None

    def score(self, name: str) -> Score | None:
        """The score called ``name``, if a scorer gave one."""
        return next((s for s in self.scores if s.name == name), None)

    def score_value(self, name: str, default: float = 0.0) -> float:
        """The value of the score called ``name`` (``default`` when absent)."""
        found = self.score(name)
        return default if found is None or found.value is None else float(found.value)

    def ratings(self) -> dict[str, str]:
        """Message id -> ``up`` / ``down`` from thumbs feedback (the latest record wins, ties by id)."""
        out: dict[str, tuple[float, str, str]] = {}
        for fb in self.feedback:
            if not fb.message_id:
                continue
            direction = rating_direction(fb.rating)
            if direction is None:
                continue
            key = (fb.created_at or 0.0, fb.feedback_id, direction)
            if fb.message_id not in out or key > out[fb.message_id]:
                out[fb.message_id] = key
        return {mid: value[2] for mid, value in out.items()}


#: Key under which a converted message dict names the stored messages its content came from
#: (``moonshine_core.distill.messages.convert`` sets it). :func:`lane_row` reads and removes it, so
#: it never reaches a written row.
SOURCES_KEY = "_source_message_ids"


def message_sources(messages: Any) -> list[str]:
    """The stored message ids a list of converted messages carries, in order, each once."""
    ids: list[str] = []
    if isinstance(messages, list):
        for m in messages:
            if isinstance(m, dict):
                ids.extend(i for i in m.get(SOURCES_KEY) or () if i not in ids)
    return ids


def _without_sources(value: Any) -> Any:
    if isinstance(value, list) and any(isinstance(m, dict) and SOURCES_KEY in m for m in value):
        return [{k: v for k, v in m.items() if k != SOURCES_KEY} if isinstance(m, dict) else m for m in value]
    return value


def lane_row(lane: str, conversation: Conversation, source_message_ids: list[str], variant: str,
             payload: dict[str, Any], columns: dict[str, Any]) -> Row:
    """A row as a lane returns it: training columns, lane columns, and the two keys the pipeline
    needs to finish the provenance block (``source_message_ids``, ``variant``).

    The row's ``source_message_ids`` are exactly the stored messages whose content it holds: the
    ids carried by the payload's converted message lists (what ``convert`` used, after every cut
    and merge), in payload order, then ``source_message_ids`` for content held elsewhere (a
    reference answer in a lane column, or a plugin's own payload), each id once. The carried ids
    are removed from the messages.
    """
    ids = [i for col in payload.values() for i in message_sources(col)]
    ids += [str(i) for i in source_message_ids]
    return {**{k: _without_sources(v) for k, v in payload.items()}, **columns, "lane": lane,
            "conversation_id": conversation.conversation_id,
            "source_message_ids": list(dict.fromkeys(ids)), "variant": variant}
