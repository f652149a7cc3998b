"""The whole run (A to F) for one export, and the demo on the plugins' bundled samples."""

from __future__ import annotations

import os
from typing import Any

from .archive import archive_run
from .distill import distill
from .docsync import docs_sync
from .errors import MoonshineError, RefusedError
from .ingest import Progress, ingest
from .merge import merge_run
from .plugins import PluginManager, make_plugin_manager
from .status import status
from .workspace import SETTINGS_FILE, Workspace

#: The file that marks a folder as a demo workspace (the only kind ``demo`` writes into).
DEMO_MARKER = ".moonshine-demo"
DEMO_SETTINGS = """\
# Written by `moonshine demo`: the bundled samples are synthetic, so this workspace allows them.
merge_order = ["qwen", "deepseek"]
allowed_source_kinds = ["provider_export", "synthetic_sample"]
"""


def _distill(ws: Workspace, pm: PluginManager) -> dict[str, Any]:
    return distill(ws, pm=pm).to_dict()


def run_export(ws: Workspace, path: str | os.PathLike[str], provider: str | None = None, *,
               pm: PluginManager | None = None, progress: Progress | None = None,
               source_kind: str = "provider_export", distill: bool = True,
               run_id: str | None = None) -> dict[str, Any]:
    """Stages A to F for one export, stopping at the first failure with its reason.

    Returns what each stage produced. Raises :class:`MoonshineError` naming the
    stage that failed; the stages before it stay done (an ingested run stays
    staged, a merged run stays merged and can be rolled back).
    """
    pm = pm or make_plugin_manager()
    done: dict[str, Any] = {}
    result = ingest(path, provider, workspace=ws, pm=pm, progress=progress, source_kind=source_kind,
                    run_id=run_id)
    done["ingest"] = {"run_id": result.run_id, "provider": result.provider, "gates_raw": {
        n: g["passed"] for n, g in result.manifest["gates_raw"].items()}}
    if not result.gates_passed:
        raise MoonshineError(f"stopped after B (ingest): run {result.run_id} failed its raw gates")
    done["archive"] = archive_run(ws, result.run_id)
    merged = merge_run(ws, result.run_id)
    done["merge"] = merged.entry
    if merged.failed_gates:
        raise MoonshineError(f"stopped after D (merge): run {result.run_id} failed gates "
                             f"{', '.join(merged.failed_gates)}; `moonshine rollback {result.run_id}` undoes it")
    if distill:
        done["distill"] = _distill(ws, pm)
    done["docs_sync"] = docs_sync(ws)
    return done


def demo(ws: Workspace, pm: PluginManager | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """Run the whole lifecycle on every installed plugin's bundled sample exports.

    Runs only in a new (or empty) folder or one an earlier demo made (it holds
    :data:`DEMO_MARKER`); anything else is refused, so samples never reach a real
    corpus. A workspace without ``moonshine.toml`` gets one that locks the merge
    order to qwen before deepseek and allows synthetic samples. Samples are run
    qwen first, then deepseek, then the other providers by name; lanes are
    distilled once at the end.
    """
    pm = pm or make_plugin_manager()
    marker = ws.root / DEMO_MARKER
    if ws.root.exists() and any(ws.root.iterdir()) and not marker.exists():
        # Synthetic samples merged into a real corpus would reach its training files unmarked.
        raise RefusedError(f"{ws.root} is not empty and is not a demo workspace (no {DEMO_MARKER}); the demo "
                           "writes only into a new folder or one an earlier demo made: "
                           "moonshine demo --workspace ./moonshine-demo")
    ws.root.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        marker.write_text("This workspace was made by `moonshine demo`: it holds synthetic samples only.\n",
                          encoding="utf-8")
    if not ws.settings_path.exists():
        (ws.root / SETTINGS_FILE).write_text(DEMO_SETTINGS, encoding="utf-8")
        ws = Workspace.open(ws.root)
    if "synthetic_sample" not in ws.settings.allowed_source_kinds:
        raise RefusedError(f"{ws.settings_path} does not allow synthetic samples; run the demo in a fresh "
                           "workspace (moonshine demo --workspace DIR)")
    samples = pm.sample_exports()
    if not samples:
        raise MoonshineError("no installed plugin ships sample exports; install the provider plugins")
    first = [p for p in ("qwen", "deepseek") if p in samples]
    order = first + sorted(p for p in samples if p not in first)
    runs = []
    for provider in order:
        for path in samples[provider]:
            done = run_export(ws, path, provider, pm=pm, progress=progress, source_kind="synthetic_sample",
                              distill=False)
            runs.append({"provider": provider, "sample": path, "run_id": done["ingest"]["run_id"],
                         "merge": done["merge"]["counts"]})
    distilled = _distill(ws, pm)
    docs_sync(ws)
    return {"workspace": str(ws.root), "runs": runs, "distill": distilled, "status": status(ws)}
