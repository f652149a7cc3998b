"""The entry point's object (``gemini = "moonshine_gemini.plugin:plugin"``): the toolkit's ProviderPlugin
over this package's detector (:func:`~moonshine_gemini.layout.detect`), parser and normaliser."""

from __future__ import annotations

from pathlib import Path

from moonshine_core.provider import ProviderPlugin

from . import PROVIDER
from .layout import detect
from .normalize import normalize
from .parse import parse

plugin = ProviderPlugin(PROVIDER, detect=detect, parse=parse, normalize=normalize,
                        samples=Path(__file__).resolve().parent / "samples")
