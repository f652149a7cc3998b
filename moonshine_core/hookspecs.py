"""The plugin hooks of Moonshine (pluggy project name ``moonshine``).

Hooks are called at coarse grain: once per export, once per raw record, once per
conversation. A plugin implements any subset with :data:`hookimpl`; an
implementation may accept fewer arguments than the spec (pluggy passes only the
ones it names), which is how later core versions add arguments without
breaking plugins. ``docs/plugin_hooks.md`` documents each hook; a test keeps
that page and these signatures in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .lane import Lane
    from .records import Conversation, Detection, RawRecord, Record, Score
    from .sources import ExportSource

PROJECT = "moonshine"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def moonshine_detect(source: "ExportSource") -> "Detection | None":
    """Say whether this plugin can read ``source``.

    Called once per export with every plugin. Return a
    :class:`~moonshine_core.records.Detection` (provider name, format variant,
    confidence between 0.0 and 1.0, a short evidence string) when the export
    looks like yours, else ``None``. Read only what you need (names, the head
    of a file via ``source.sniff_json``); never load a large file whole and
    never raise for an export that is not yours. The core picks the highest
    confidence; two plugins tied at the top is an error shown to the user.
    """


@hookspec(firstresult=True)
def moonshine_parse(provider: str, source: "ExportSource") -> "Iterator[RawRecord] | None":
    """Stream the raw records of an export.

    Called once per export, first result wins: return ``None`` unless
    ``provider`` is your provider name. Otherwise return an iterator (a
    generator is best) of :class:`~moonshine_core.records.RawRecord`:
    conversations first, then side records (feedback, comparisons, projects,
    ...). Memory must not grow with the export: stream JSON arrays item by item
    (``source.iter_json``). Raise :class:`~moonshine_core.errors.ParseError`
    (naming the file) for an export that cannot be read at all; it is the only
    exception a parser may raise.
    """


@hookspec(firstresult=True)
def moonshine_normalize(provider: str, raw: "RawRecord") -> "list[Record] | None":
    """Turn one raw record into canonical records.

    Called once per raw record, first result wins: return ``None`` unless
    ``provider`` is yours. Otherwise return a list of
    :class:`~moonshine_core.records.Conversation`,
    :class:`~moonshine_core.records.Feedback`,
    :class:`~moonshine_core.records.Comparison` or
    :class:`~moonshine_core.records.SideRecord` (an empty list means "nothing to
    keep"). Raise :class:`~moonshine_core.errors.NormalizeError` with a reason
    when the record cannot be normalised: the ingest lists it in the manifest
    and goes on. Message ids must be unique within a conversation and stable
    across runs of the same export; the tree must have no dangling parent and
    no cycle (see :func:`moonshine_core.trees.repair_tree`).
    """


@hookspec
def moonshine_score(conversation: "Conversation") -> "Iterable[Score] | None":
    """Score one conversation.

    Called once per conversation with every plugin; each returns a list of
    :class:`~moonshine_core.records.Score` (named values and flags) or
    ``None``. Scores mark, they never drop: lanes decide what to keep. Must
    not modify the conversation.
    """


@hookspec
def moonshine_emit(lane: str, conversation: "Conversation", context: Any) -> "Iterable[dict] | None":
    """Produce distillation rows for ``lane`` from one conversation.

    Called once per conversation per lane with every plugin. Return a list of
    row dicts in the lane's schema (see ``docs/lanes.md``) or ``None`` when you
    have nothing for this lane. ``context`` gives the conversation's
    provenance, scores and side records (feedback, comparisons) and the lane
    settings. Must not modify the conversation.
    """


@hookspec
def moonshine_sample_exports() -> "list[str] | None":
    """Paths of the small synthetic sample exports this plugin ships as package data.

    Called with every plugin by ``moonshine demo`` (which runs the whole
    lifecycle on them) and available to contract tests. Return a list of file
    or folder paths (``str``), or ``None``. The samples must be written by the
    plugin's authors, never copied from a real person's export.
    """


@hookspec
def moonshine_lanes() -> "list[Lane] | None":
    """The distillation lanes this plugin adds, as :class:`~moonshine_core.lane.Lane` objects.

    Called once per ``distill`` with every plugin. A lane names its row
    columns, how it emits rows from one conversation, how a row is checked,
    ranked and converted; the pipeline gives every lane its folder, manifest
    and card (``reports/distillations/<lane>/<run_id>/``) and never names a
    lane itself. The built-in lanes register through this hook too.
    Lane names are unique: a name already taken is reported and skipped.
    """
