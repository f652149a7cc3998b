"""``moonshine gc``: remove old distill runs and leftovers of killed commands (:mod:`moonshine_core.gc`).

The command imports :mod:`moonshine_core.gc` when it runs, like every command (see :mod:`.commands`).
"""

from __future__ import annotations

import click

from .group import Context, cli


@cli.command("gc")
@click.option("--keep", type=click.IntRange(min=1), default=3, show_default=True,
              help="Distill runs to keep per lane (newest first).")
@click.option("--dry-run", is_flag=True, help="Say what would be removed; remove nothing.")
@click.pass_obj
def gc_command(obj: Context, keep: int, dry_run: bool) -> None:
    """Remove old distill runs (all but the newest --keep per lane) and leftovers of killed commands.

    Never removes the runs the latest distill published, an archive, a premerge snapshot, a run DB,
    or anything a rollback needs; the leftovers are staging folders, half-built archive folders and
    snapshot copies (*.partial), and the mash copies a killed rollback or bootstrap left. Takes the
    workspace lock, and says what it freed (paths and bytes).

    \b
    Examples:
      moonshine gc --dry-run
      moonshine gc --keep 1 --json
    """
    from ..gc import gc
    from ..show import human_size

    result = gc(obj.workspace(), keep, dry_run=dry_run)
    verb = "would free" if dry_run else "freed"
    lines = [f"{'would remove' if dry_run else 'removed'} {r.path} ({human_size(r.bytes)}): {r.reason}"
             for r in result.removed]
    freed, n = result.freed_bytes, len(result.removed)
    exact = f" ({freed} bytes)" if freed >= 1024 else ""
    lines.append(f"{verb} {human_size(freed)}{exact} in {n} item{'s' if n != 1 else ''}"
                 + ("" if n else ": nothing to remove") + f"; {len(result.kept)} distill run folders kept")
    if result.recovered:
        lines.append(f"recovery: {', '.join(f'{k} {v}' for k, v in sorted(result.recovered.items()))}")
    obj.emit(result.to_dict(), "\n".join(lines))
