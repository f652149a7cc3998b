"""Lifecycle commands attach themselves to the ``cli`` group here (one module per stage)."""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import click

from ..errors import MoonshineError
from .main import Context, cli


@cli.command("info")
@click.pass_obj
def info_command(obj: Context) -> None:
    """Show the workspace: its folder, settings, standard paths, staged runs and tokenizer file."""
    from ..tokens import default_encoding_file, verify_encoding_file

    ws = obj.workspace()
    encoding = ws.settings.tiktoken_file or str(default_encoding_file())
    data = {
        "workspace": str(ws.root),
        "settings_file": str(ws.settings_path) if ws.settings_path.exists() else None,
        "settings": attrs.asdict(ws.settings),
        "mash": str(ws.mash_path),
        "mash_exists": ws.mash_path.exists(),
        "runs": [{"provider": p, "run_id": r} for p, r in ws.run_ids()],
        "tiktoken_file": encoding,
        "tiktoken_sha256": verify_encoding_file(encoding),
    }
    lines = [f"workspace   {data['workspace']}",
             f"settings    {data['settings_file'] or '(defaults: no moonshine.toml)'}",
             f"merge order {', '.join(ws.settings.merge_order) or '(none)'}",
             f"mash        {data['mash']}{'' if data['mash_exists'] else ' (not created yet)'}",
             f"runs        {len(data['runs'])}",
             f"tokenizer   {encoding} (sha256 ok)"]
    lines += [f"  {r['run_id']}" for r in data["runs"]]
    obj.emit(data, "\n".join(lines))


class _ProgressBar:
    """A byte-based progress bar on stderr, shown only on a terminal and never with --quiet/--json."""

    def __init__(self, obj: Context, label: str):
        self.enabled = obj.progress_enabled()
        self.label = label
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int, conversations: int) -> None:
        if not self.enabled or total <= 0:
            return
        if self._bar is None:
            self._bar = click.progressbar(length=total, label=self.label, file=sys.stderr, show_pos=False,
                                          item_show_func=lambda n: f"{n:,} conversations" if n is not None else "")
            self._bar.__enter__()
        self._bar.current_item = conversations
        self._bar.update(max(0, done - self._done))
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@cli.command("preflight")
@click.argument("export", type=click.Path(exists=True, path_type=str))
@click.option("--provider", "-p", help="Provider to use instead of detection (checked against detection).")
@click.pass_obj
def preflight_command(obj: Context, export: str, provider: str | None) -> None:
    """Stage A: hash EXPORT, detect its provider and format variant, propose a run id.

    EXPORT is a zip, an extracted folder or a single file. Nothing is written.

    \b
    Examples:
      moonshine preflight ~/Downloads/chatgpt-export.zip
      moonshine --json preflight conversations.json --provider deepseek
    """
    from ..preflight import describe, preflight

    ws = obj.workspace()
    result = preflight(export, provider, pm=obj.pm, run_id_taken=ws.run_id_taken)
    obj.emit(result.to_dict(), describe(result))


@cli.command("ingest")
@click.argument("export", type=click.Path(exists=True, path_type=str))
@click.option("--provider", "-p", help="Provider to use instead of detection (checked against detection).")
@click.pass_obj
def ingest_command(obj: Context, export: str, provider: str | None) -> None:
    """Stage B: read EXPORT into a new provider-run DB with its token ledger and manifest.

    Writes only reports/providers/<provider>/<run_id>/ (the DB, token_ledger.<provider>.<run_id>.json
    and manifest.json); the mash is not touched. The run folder appears only when the ingest
    succeeds. Exits non-zero when a raw-only gate fails (the run is kept for inspection and cannot
    be merged).

    \b
    Examples:
      moonshine ingest ~/Downloads/chatgpt-export.zip
      moonshine --workspace ~/moonshine ingest claude-export/ --provider claude
    """
    from ..ingest import ingest

    ws = obj.workspace()
    bar = _ProgressBar(obj, f"ingest {Path(export).name}")
    try:
        result = ingest(export, provider, workspace=ws, pm=obj.pm, progress=bar)
    finally:
        bar.close()
    m = result.manifest
    gates = m["gates_raw"]
    lines = [f"run         {result.run_id} ({result.provider}, {m['format_variant']})",
             f"folder      {result.run_dir}",
             f"records     {m['counts']['db_rows']['conversations']:,} conversations, "
             f"{m['counts']['db_rows']['messages']:,} messages, {m['counts']['db_rows']['feedback']:,} feedback, "
             f"{m['counts']['db_rows']['comparisons']:,} comparisons, "
             f"{m['counts']['db_rows']['side_records']:,} side records",
             f"tokens      {m['tokens']['headline_non_system']:,} non-system (o200k_base)",
             f"not normalised {len(m['not_normalised'])}; unknown shapes {sum(m['unknown_shapes'].values())}"]
    lines += [f"gate        {'PASS' if g['passed'] else 'FAIL'} {name}" for name, g in gates.items()]
    obj.emit({"run_id": result.run_id, "provider": result.provider, "run_dir": result.run_dir,
              "manifest": m}, "\n".join(lines))
    if not result.gates_passed:
        failed = ", ".join(n for n, g in gates.items() if not g["passed"])
        raise MoonshineError(f"run {result.run_id} failed raw-only gates: {failed} (see {result.manifest_path})")
