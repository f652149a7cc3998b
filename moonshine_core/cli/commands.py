"""Lifecycle commands attach themselves to the ``cli`` group here (one module per stage)."""

from __future__ import annotations

import attrs
import click

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
