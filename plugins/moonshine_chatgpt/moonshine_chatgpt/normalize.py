"""``moonshine_normalize`` for ChatGPT: dispatch one raw record to its normaliser.

Only :class:`~moonshine_core.errors.NormalizeError` leaves :func:`normalize`:
the normalisers tolerate odd shapes where they can, and any programming-level
surprise caused by a malformed record (a wrong type deep inside) is reported
as a NormalizeError naming the record instead of stopping the run.
"""

from __future__ import annotations

from moonshine_core.errors import NormalizeError
from moonshine_core.records import RawRecord, Record

from .conversation import normalize_conversation
from .signals import normalize_comparison, normalize_feedback, normalize_side


def normalize(raw: RawRecord) -> list[Record]:
    """Canonical records for one raw record (see the module docstring for errors)."""
    where = f"{raw.member or 'export'}#{raw.index}"
    context = raw.context if isinstance(raw.context, dict) else {}
    try:
        if raw.kind == "conversation":
            return normalize_conversation(raw.data, variant=raw.variant)
        if raw.kind == "feedback":
            return list(normalize_feedback(raw.data, context))
        if raw.kind == "comparison":
            return list(normalize_comparison(raw.data, context))
        if raw.kind == "side":
            return list(normalize_side(raw.data, context))
    except NormalizeError as exc:
        raise NormalizeError(f"{where}: {exc}") from exc
    except (TypeError, KeyError, AttributeError, ValueError, IndexError, RecursionError) as exc:
        raise NormalizeError(f"{where}: malformed {raw.kind} record ({type(exc).__name__}: {exc})") from exc
    raise NormalizeError(f"{where}: unknown raw record kind {raw.kind!r}")
