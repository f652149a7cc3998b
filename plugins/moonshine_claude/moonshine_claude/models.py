"""The claude.ai default-model timeline, used only to *infer* a model for export messages.

The official export never names the model. The timeline below (from the
agoramachina/claude-exporter default-model table, docs/formats/claude.md §9) gives the
default model of claude.ai on a date; users could pick another, so every value
from here is stored with ``model_inferred=True``. Before Claude 3 no guess is made.
"""

from __future__ import annotations

import datetime as _dt

_TIMELINE = [
    ("2024-03-04", "claude-3-sonnet-20240229"),
    ("2024-06-20", "claude-3-5-sonnet-20240620"),
    ("2024-10-22", "claude-3-5-sonnet-20241022"),
    ("2025-02-24", "claude-3-7-sonnet-20250219"),
    ("2025-05-22", "claude-sonnet-4-20250514"),
    ("2025-09-29", "claude-sonnet-4-5-20250929"),
    ("2026-02-17", "claude-sonnet-4-6"),
]
_STARTS = [(_dt.datetime.fromisoformat(day).replace(tzinfo=_dt.timezone.utc).timestamp(), model)
           for day, model in _TIMELINE]


def default_model_at(epoch: float | None) -> str | None:
    """The claude.ai default model at ``epoch`` (UTC seconds), or None when unknown."""
    if epoch is None:
        return None
    found = None
    for start, model in _STARTS:
        if epoch >= start:
            found = model
    return found
