"""The Moonshine hook implementations of the ChatGPT plugin (thin: the work lives in sibling modules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from moonshine_core import hookimpl
from moonshine_core.records import Detection, RawRecord, Record
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import iter_raw_records

SAMPLES_DIR = Path(__file__).parent / "samples"


@hookimpl
def moonshine_detect(source: ExportSource) -> Detection | None:
    """Recognise a ChatGPT export or side file (see :func:`moonshine_chatgpt.detect.detect`)."""
    return detect(source)


@hookimpl
def moonshine_parse(provider: str, source: ExportSource) -> Iterator[RawRecord] | None:
    """Stream the export's raw records (a generator; ParseError for an unreadable export)."""
    if provider != PROVIDER:
        return None
    return iter_raw_records(source)


@hookimpl
def moonshine_normalize(provider: str, raw: RawRecord) -> list[Record] | None:
    """Canonical records for one raw record (NormalizeError for a bad one)."""
    if provider != PROVIDER:
        return None
    return normalize(raw)


@hookimpl
def moonshine_sample_exports() -> list[str]:
    """The synthetic sample exports shipped with the plugin."""
    return [str(p) for p in sorted(SAMPLES_DIR.iterdir()) if not p.name.startswith((".", "_"))]
