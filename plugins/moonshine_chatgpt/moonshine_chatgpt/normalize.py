"""``moonshine_normalize`` for ChatGPT: dispatch one raw record to its normaliser.

The normalisers tolerate odd shapes where they can and raise
:class:`~moonshine_core.errors.NormalizeError` for a record they cannot use;
any other exception (a shape nobody foresaw) is turned into a NormalizeError
naming the record by :class:`~moonshine_core.provider.ProviderPlugin`.
"""

from __future__ import annotations

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import as_dict
from moonshine_core.records import RawRecord, Record

from .conversation import normalize_conversation
from .signals import normalize_comparison, normalize_feedback, normalize_side


def normalize(raw: RawRecord) -> list[Record]:
    """Canonical records for one raw record (see the module docstring for errors)."""
    context = as_dict(raw.context)
    if raw.kind == "conversation":
        return normalize_conversation(raw.data, variant=raw.variant)
    if raw.kind == "feedback":
        return list(normalize_feedback(raw.data, context))
    if raw.kind == "comparison":
        return list(normalize_comparison(raw.data, context))
    if raw.kind == "side":
        return list(normalize_side(raw.data, context))
    raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
