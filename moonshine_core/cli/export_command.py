"""``moonshine export parquet DIR``: the mash and lanes as Parquet (a thin layer over
:func:`moonshine_core.export_parquet.export_parquet`)."""

from __future__ import annotations

import click

from .group import Context, CountBar, _accept_global_options, cli


@click.group("export")
def export_group() -> None:
    """Export the corpus for other tools.

    \b
    Example:
      moonshine export parquet ./export        the mash and the latest lanes as Parquet
    """


@export_group.command("parquet")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=str))
@click.option("--tables", "tables", metavar="TABLE[,TABLE...]",
              help="Record tables to export (default: conversations, messages, tool_events, feedback, "
                   "comparisons, side_records).")
@click.option("--lanes/--no-lanes", "lanes", default=True, show_default=True,
              help="Also export the latest distill run's lane files.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier export in DIR (in one step, once the new one "
                                                "is complete).")
@click.pass_obj
def parquet_command(obj: Context, out_dir: str, tables: str | None, lanes: bool, overwrite: bool) -> None:
    """Write the mash (and the latest distill run's lanes) as Parquet into DIR.

    Each record table goes to DIR/<table>/provider=<provider>/part-0.parquet
    (hive partitioning: DuckDB, Polars, Spark and Ray read
    DIR/<table>/*/*.parquet with the provider as a column), with every
    provenance column; epoch times keep their float seconds and gain a
    <name>_utc timestamp; *_json columns are JSON text. Lanes go to
    DIR/lanes/<lane>/data/<split>.<group>.parquet, typed by the lane's
    manifest. DIR/_moonshine_export.json says where the export came from:
    workspace, records_sha256 (checked against the merge log), row counts per
    table and provider, core and schema version. DIR must be new or empty;
    --overwrite replaces an earlier export only. The mash holds raw,
    unredacted text and personal side records: see docs/scale-out.md before
    sharing an export.

    \b
    Examples:
      moonshine export parquet ./export
      moonshine export parquet ./export --overwrite --no-lanes
      moonshine export parquet ./export --tables conversations,messages --json

    \b
    Query it with DuckDB:
      SELECT provider, count(*) FROM read_parquet('export/messages/*/*.parquet', hive_partitioning = true)
      GROUP BY provider
    """
    from ..export_parquet import export_parquet

    chosen = [part.strip() for part in tables.split(",") if part.strip()] if tables else None
    progress = CountBar(obj, "exporting")
    try:
        result = export_parquet(obj.workspace(), out_dir, tables=chosen, lanes=lanes, overwrite=overwrite,
                                progress=progress)
    finally:
        progress.close()
    obj.emit(result, _summary(result))


def _summary(result: dict) -> str:
    lines = [f"exported to {result['out_dir']}"]
    for table, entry in result["tables"].items():
        per = ", ".join(f"{p} {n}" for p, n in entry["by_provider"].items()) or "-"
        lines.append(f"  {table}: {entry['rows']} rows ({per})")
    check = result["mash"]["records_check"]
    if check != "ok":
        lines.append(f"  warning: records_check {check}: the merge log does not vouch for these rows "
                     "(see `moonshine status`)")
    lanes = result["lanes"]
    if lanes is not None:
        if not lanes["lanes"]:
            lines.append("  lanes: no published distill run")
        else:
            lines.append(f"  lanes of {lanes['run_id']}: " + ", ".join(
                f"{lane} {entry['rows']}" + ("" if entry["matches_mash"] else " (from an older mash)")
                for lane, entry in lanes["lanes"].items()))
    return "\n".join(lines)


# MoonshineGroup gives plain commands the global options; a group and its subcommands get them here.
_accept_global_options(export_group)
_accept_global_options(parquet_command)
cli.add_command(export_group)
