"""The Moonshine hook implementations of the ChatGPT plugin (thin: the work lives in sibling modules).

The entry point ``chatgpt = "moonshine_chatgpt.plugin:plugin"`` names :data:`plugin`;
:class:`~moonshine_core.provider.ProviderPlugin` supplies the hooks (provider
check, sample exports, and turning unexpected exceptions in normalize into a
NormalizeError naming the record).
"""

from __future__ import annotations

from pathlib import Path

from moonshine_core.provider import ProviderPlugin

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import iter_raw_records

SAMPLES_DIR = Path(__file__).parent / "samples"

plugin = ProviderPlugin(PROVIDER, detect=detect, parse=iter_raw_records, normalize=normalize, samples=SAMPLES_DIR)
