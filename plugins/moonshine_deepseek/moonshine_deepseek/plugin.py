"""The pluggy hook implementations of the DeepSeek plugin (thin: the work lives in the modules)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moonshine_core import hookimpl
from moonshine_core.records import Detection, RawRecord
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .layout import inspect_export
from .normalize import normalize
from .parse import plan, stream

SAMPLES = Path(__file__).resolve().parent / "samples"


@hookimpl
def moonshine_detect(source: ExportSource) -> Detection | None:
    """Recognise DeepSeek exports; never claims a ChatGPT ``mapping`` export and never raises."""
    try:
        found = inspect_export(source)
    except Exception:  # a detector must stay silent on exports it cannot read
        return None
    if found is None:
        return None
    return Detection(provider=PROVIDER, variant=found.variant, confidence=found.confidence,
                     evidence=found.evidence)


@hookimpl
def moonshine_parse(provider: str, source: ExportSource) -> Iterator[RawRecord] | None:
    """Stream raw records (conversations, then ``user.json``); raises only ``ParseError``."""
    if provider != PROVIDER:
        return None
    return stream(source, plan(source))


@hookimpl
def moonshine_normalize(provider: str, raw: RawRecord) -> list[Any] | None:
    """Canonical records for one raw record; raises only ``NormalizeError``."""
    if provider != PROVIDER:
        return None
    return normalize(raw)


@hookimpl
def moonshine_sample_exports() -> list[str]:
    """The synthetic sample exports shipped with the plugin."""
    return [str(p) for p in sorted(SAMPLES.iterdir()) if not p.name.startswith((".", "_"))]
