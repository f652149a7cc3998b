"""The Qwen provider's hook implementations: one :class:`ProviderPlugin` (the work is in the other modules).

The entry point ``qwen = "moonshine_qwen.plugin:plugin"`` names :data:`plugin`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from moonshine_core.provider import ProviderPlugin
from moonshine_core.records import RawRecord
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import select_members, stream

SAMPLES_DIR = Path(__file__).with_name("samples")


def parse(source: ExportSource) -> Iterator[RawRecord]:
    """Stream the raw conversations of a Qwen export; ``ParseError`` (at once) for a file that is not a whole export."""
    members = select_members(source)
    return stream(source, members)


plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize, samples=SAMPLES_DIR)
