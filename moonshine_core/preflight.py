"""Stage A: preflight. Hash an export, find the plugin that reads it, propose a run id.

Preflight writes nothing. ``moonshine preflight EXPORT`` prints what
:func:`preflight` returns.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import attrs

from .errors import DetectionError, RefusedError
from .plugins import PluginManager, make_plugin_manager
from .records import Detection
from .sources import ExportSource
from .workspace import RUN_ID_RE


@attrs.define(kw_only=True)
class PreflightResult:
    """Everything known about an export before it is ingested."""

    source_path: str
    source_kind: str
    source_sha256: str
    source_size: int
    provider: str
    variant: str
    confidence: float
    evidence: str
    provider_overridden: bool
    detections: list[dict[str, Any]]
    detector_errors: list[str]
    adapter: str
    adapter_distribution: str | None
    adapter_version: str | None
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def new_run_id(provider: str, taken=lambda run_id: False, now: _dt.datetime | None = None) -> str:
    """``<provider>_YYYYMMDD_HHMMSS`` in UTC; moves forward a second at a time past ids already taken."""
    moment = (now or _dt.datetime.now(tz=_dt.timezone.utc)).replace(microsecond=0)
    while True:
        run_id = f"{provider}_{moment.strftime('%Y%m%d_%H%M%S')}"
        if not taken(run_id):
            return run_id
        moment += _dt.timedelta(seconds=1)


def choose_detection(detections: list[Detection], provider: str | None, installed: list[str],
                     display: str) -> tuple[Detection, bool]:
    """The detection to use, and whether ``provider`` overrode the best guess.

    No detection, or two providers tied at the top, is an error listing what
    was seen. A named ``provider`` must be installed, and may not contradict
    detection: when another plugin recognised the export and the named one did
    not, that is an error.
    """
    seen = ", ".join(f"{d.provider}/{d.variant} ({d.confidence:.2f})" for d in detections) or "nothing"
    if provider is not None and provider not in installed:
        # A variant's name (`-p claude_code`) picks the plugin that detected that variant.
        by_variant = [d for d in detections if d.variant == provider or d.variant.startswith(f"{provider}_")]
        if by_variant:
            return by_variant[0], by_variant[0] is not detections[0]
    if provider is not None:
        if provider not in installed:
            raise DetectionError(f"no installed plugin for provider {provider!r} "
                                 f"(installed: {', '.join(installed) or 'none'})")
        mine = [d for d in detections if d.provider == provider]
        if mine:
            return mine[0], mine[0] is not detections[0]
        if detections:
            raise DetectionError(f"{display}: --provider {provider} does not match the export: the {provider} "
                                 f"plugin does not recognise it, detection saw {seen}")
        return Detection(provider=provider, variant="unknown", confidence=0.0,
                         evidence="no plugin recognised the export; provider named by the user"), True
    if not detections:
        raise DetectionError(f"{display}: no installed plugin recognises this export "
                             f"(plugins asked: {', '.join(installed) or 'none'}); name one with --provider")
    best = detections[0]
    rivals = [d for d in detections[1:] if d.confidence == best.confidence and d.provider != best.provider]
    if rivals:
        raise DetectionError(f"{display}: ambiguous export, plugins claim it equally: {seen}; "
                             "choose one with --provider")
    return best, False


def check_run_id(run_id: str, provider: str, taken=lambda run_id: False) -> str:
    """``run_id`` when it is a well-formed, free id of ``provider``'s, else a :class:`RefusedError`."""
    match = RUN_ID_RE.match(run_id)
    if not match or match.group("provider") != provider:
        raise RefusedError(f"run id {run_id!r} is not {provider}_YYYYMMDD_HHMMSS")
    if taken(run_id):
        raise RefusedError(f"run id {run_id} is taken in this workspace; leave --run-id out for a new one")
    return run_id


def preflight(path: str | os.PathLike[str], provider: str | None = None, *, pm: PluginManager | None = None,
              run_id_taken=lambda run_id: False, run_id: str | None = None) -> PreflightResult:
    """Hash ``path``, detect its provider and variant, and propose a run id. Writes nothing.

    ``run_id`` asks for that id (the one an earlier preflight proposed) instead of a new one;
    it must be ``<provider>_YYYYMMDD_HHMMSS`` for the detected provider and not taken.
    """
    pm = pm or make_plugin_manager()
    with ExportSource(path) as source:
        detections, errors = pm.detect(source)
        installed = pm.providers()
        chosen, overridden = choose_detection(detections, provider, installed, str(source.path))
        digest = source.sha256()
        size = source.total_size()
        kind = source.kind
        resolved = str(source.path)
    info = next((i for i in pm.plugin_infos() if i.name == chosen.provider), None)
    return PreflightResult(
        source_path=resolved, source_kind=kind, source_sha256=digest, source_size=size,
        provider=chosen.provider, variant=chosen.variant, confidence=chosen.confidence,
        evidence=chosen.evidence, provider_overridden=overridden,
        detections=[attrs.asdict(d) for d in detections], detector_errors=errors,
        adapter=chosen.provider, adapter_distribution=info.distribution if info else None,
        adapter_version=info.version if info else None,
        run_id=check_run_id(run_id, chosen.provider, run_id_taken) if run_id else new_run_id(chosen.provider,
                                                                                          run_id_taken),
    )


def describe(result: PreflightResult) -> str:
    """The human-readable form ``moonshine preflight`` prints."""
    lines = [
        f"export      {result.source_path} ({result.source_kind}, {result.source_size:,} bytes)",
        f"sha256      {result.source_sha256}",
        f"provider    {result.provider}" + (" (named with --provider)" if result.provider_overridden else ""),
        f"variant     {result.variant} (confidence {result.confidence:.2f})",
        f"evidence    {result.evidence}",
        f"adapter     {result.adapter_distribution or result.adapter} {result.adapter_version or ''}".rstrip(),
        f"run id      {result.run_id}  (to ingest under this id: --run-id {result.run_id})",
    ]
    others = [d for d in result.detections if d["provider"] != result.provider]
    if others:
        lines.append("also seen   " + ", ".join(f"{d['provider']}/{d['variant']} ({d['confidence']:.2f})"
                                               for d in others))
    lines += [f"warning     {e}" for e in result.detector_errors]
    return "\n".join(lines)

