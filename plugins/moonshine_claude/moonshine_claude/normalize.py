"""``moonshine_normalize`` for Claude: dispatch one raw record to its normaliser.

Only :class:`~moonshine_core.errors.NormalizeError` leaves this module. A bug
that raises anything else inside a record is turned into a NormalizeError
naming the record (the run goes on and lists it); tests set
:data:`STRICT_INTERNAL` so such bugs fail loudly instead.
"""

from __future__ import annotations

from moonshine_core.errors import NormalizeError
from moonshine_core.records import RawRecord, Record

from .claude_ai import normalize_conversation
from .claude_code import normalize_session
from .side import normalize_side

#: Re-raise unexpected exceptions instead of wrapping them (for the test suite).
STRICT_INTERNAL = False


def normalize(raw: RawRecord) -> list[Record]:
    """Canonical records of one raw record (see the module docstring for errors)."""
    try:
        if raw.kind == "side":
            return list(normalize_side(raw))
        if raw.kind != "conversation":
            raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
        context = raw.context if isinstance(raw.context, dict) else {}
        if context.get("format") == "claude_code":
            return normalize_session(raw)
        return normalize_conversation(raw)
    except NormalizeError:
        raise
    except Exception as exc:
        if STRICT_INTERNAL:
            raise
        raise NormalizeError(f"{raw.member or 'record'} #{raw.index}: cannot normalise "
                             f"({type(exc).__name__}: {exc})") from exc
