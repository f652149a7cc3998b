"""The pluggy hook implementations of the Qwen provider (thin: the work is in the other modules)."""

from __future__ import annotations

from pathlib import Path

from moonshine_core import hookimpl
from moonshine_core.errors import NormalizeError

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import select_members, stream

SAMPLES_DIR = Path(__file__).with_name("samples")


@hookimpl
def moonshine_detect(source):
    """A Detection for Qwen exports (see :mod:`moonshine_qwen.detect` for the variants), else None."""
    return detect(source)


@hookimpl
def moonshine_parse(provider, source):
    """Stream the raw conversations of a Qwen export; ``ParseError`` for a file that is not a whole export."""
    if provider != PROVIDER:
        return None
    members = select_members(source)
    return stream(source, members)


@hookimpl
def moonshine_normalize(provider, raw):
    """Canonical records for one raw Qwen record; ``NormalizeError`` for one that cannot be read."""
    if provider != PROVIDER:
        return None
    try:
        return normalize(raw)
    except NormalizeError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError, IndexError, RecursionError) as exc:
        # A shape no test foresaw must cost one record, not the run.
        raise NormalizeError(f"unexpected shape in conversation #{raw.index}: {type(exc).__name__}: {exc}") from exc


@hookimpl
def moonshine_sample_exports():
    """The synthetic sample exports shipped with the plugin."""
    return [str(p) for p in sorted(SAMPLES_DIR.glob("*.json"))]
