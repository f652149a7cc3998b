"""The Claude provider's hook implementations: one :class:`ProviderPlugin` over the sibling modules.

The entry point ``claude = "moonshine_claude.plugin:plugin"`` names :data:`plugin`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from moonshine_core.provider import ProviderPlugin

from . import PROVIDER
from .detect import detect
from .normalize import normalize
from .parse import parse

#: The synthetic sample exports (``claude_ai_2026``, ``claude_ai_legacy``, ``claude_code``).
SAMPLES_DIR = Path(str(resources.files("moonshine_claude") / "samples"))

plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize, samples=SAMPLES_DIR)
