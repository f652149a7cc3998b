"""The DeepSeek plugin's hook implementations: one :class:`ProviderPlugin` over the modules' functions.

The entry point (``deepseek = "moonshine_deepseek.plugin:plugin"``) names :data:`plugin`.
"""

from __future__ import annotations

from pathlib import Path

from moonshine_core.provider import ProviderPlugin
from moonshine_core.records import Detection
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .normalize import normalize
from .parse import parse, read_layout

SAMPLES = Path(__file__).resolve().parent / "samples"


def detect(source: ExportSource) -> Detection | None:
    """Recognise DeepSeek exports; never claims a ChatGPT ``mapping`` export.

    An export that cannot be read raises ``ParseError``, which ``ProviderPlugin`` reads as "not mine".
    """
    found = read_layout(source)
    if found is None:
        return None
    return Detection(provider=PROVIDER, variant=found.variant, confidence=found.confidence,
                     evidence=found.evidence)


plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize, samples=SAMPLES)
