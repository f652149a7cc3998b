"""``moonshine_normalize`` for Claude: dispatch one raw record to its normaliser.

Only :class:`~moonshine_core.errors.NormalizeError` is raised on purpose.
Anything else a bug raises inside a record is turned into a NormalizeError
naming the record by :class:`moonshine_core.provider.ProviderPlugin` (the run
goes on and lists it); tests set ``plugin.raise_unexpected`` so such bugs fail
loudly instead.
"""

from __future__ import annotations

from moonshine_core.errors import NormalizeError
from moonshine_core.provider import as_dict
from moonshine_core.records import RawRecord, Record

from .claude_ai import normalize_conversation
from .claude_code import normalize_session
from .side import normalize_side


def normalize(raw: RawRecord) -> list[Record]:
    """Canonical records of one raw record (see the module docstring for errors)."""
    if raw.kind == "side":
        return list(normalize_side(raw))
    if raw.kind != "conversation":
        raise NormalizeError(f"unknown raw record kind {raw.kind!r}")
    if as_dict(raw.context).get("format") == "claude_code":
        return normalize_session(raw)
    return normalize_conversation(raw)
