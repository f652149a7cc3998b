"""The Codex provider's hook implementations: one :class:`ProviderPlugin` over the sibling modules.

The entry point ``codex = "moonshine_codex.plugin:plugin"`` names :data:`plugin`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from moonshine_core.provider import ProviderPlugin

from . import PROVIDER
from .normalize import normalize
from .parse import detect, parse

#: The synthetic sample exports (a sessions folder, a single legacy rollout, a TypeScript CLI rollout).
SAMPLES_DIR = Path(str(resources.files("moonshine_codex") / "samples"))

plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize, samples=SAMPLES_DIR)
