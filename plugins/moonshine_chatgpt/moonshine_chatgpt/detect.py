"""``moonshine_detect`` for ChatGPT: which variant of the export this is, and how sure."""

from __future__ import annotations

from moonshine_core.errors import ParseError
from moonshine_core.records import Detection
from moonshine_core.sources import ExportSource

from . import PROVIDER
from .layout import discover


def detect(source: ExportSource) -> Detection | None:
    """A :class:`Detection` when ``source`` is a ChatGPT export (or one of its side files), else ``None``.

    The variant is ``<container>:<layout>``: container ``zip``/``folder``/``file``;
    layout ``single`` (one ``conversations.json``), ``sharded`` (2026
    ``conversations-NNN.json``), ``multi`` (several ``conversations.json`` in one
    folder), ``wrapped`` (``{"conversations": [...]}``), ``loose`` (renamed
    files recognised by content), ``side-files``, or the side kind of a bare
    side file (``feedback``, ``comparisons``, ``shared_conversations``, ``user``).
    """
    try:
        layout = discover(source)
    except ParseError:
        return None
    if not layout.members or layout.confidence <= 0.0:
        return None
    return Detection(provider=PROVIDER, variant=layout.variant, confidence=round(layout.confidence, 3),
                     evidence="; ".join(layout.evidence))
