"""The lifecycle commands of ``moonshine``, attached to the group of :mod:`.group`.

Each command imports the stage it runs inside its function, on purpose: for
startup time, so that ``moonshine --help`` (and every command) loads only the
code it uses, not the DB, tokenizer and plugin machinery of every stage.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import attrs
import click

from ..errors import MoonshineError, RefusedError
from ..workspace import Workspace
from .group import Context, cli


@cli.command("plugins")
@click.pass_obj
def plugins_command(obj: Context) -> None:
    """List plugins: name, distribution, version, hooks, and load errors.

    A plugin that failed to load is listed with its error and skipped; the
    command still succeeds. MOONSHINE_LOAD_PLUGINS / MOONSHINE_BLOCK_PLUGINS
    choose plugins by name, MOONSHINE_STRICT_PLUGINS=1 makes load errors fatal.

    Example: moonshine plugins --json
    """
    infos = obj.pm.plugin_infos()
    data = [i.to_dict() for i in infos]
    lines = []
    for info in infos:
        kind = "built-in" if info.builtin else "plugin"
        head = f"{info.name} ({kind}, {info.distribution or '?'} {info.version or ''})".replace(" )", ")")
        lines.append(head)
        if info.error:
            lines.append(f"  ERROR: {info.error}")
        else:
            lines.append(f"  hooks: {', '.join(info.hooks) or '-'}")
    obj.emit(data, "\n".join(lines))


@cli.command("info")
@click.pass_obj
def info_command(obj: Context) -> None:
    """Show the workspace: its folder, settings, standard paths, staged runs and tokenizer file.

    Example: moonshine info --workspace ~/moonshine
    """
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
    """A one-line progress display on stderr, only on a terminal and never with --quiet/--json.

    It shows conversations done, data read and elapsed time. No percentage: a plugin may read
    an export more than once (a dedupe scan, then the stream), so bytes read can pass the
    export's size and a percentage would lie.
    """

    def __init__(self, obj: Context, label: str):
        self.enabled = obj.progress_enabled()
        self.label = label
        self.started = time.monotonic()
        self.shown = False

    def __call__(self, done: int, total: int, conversations: int) -> None:
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.started
        line = (f"\r{self.label}: {conversations:,} conversations, {done / 1e6:,.1f} MB read "
                f"(export {total / 1e6:,.1f} MB), {elapsed:,.0f} s")
        click.echo(line + "\x1b[K", nl=False, err=True)
        self.shown = True

    def close(self) -> None:
        if self.shown:
            click.echo("", err=True)
            self.shown = False


@cli.command("preflight")
@click.argument("export", type=click.Path(exists=True, path_type=str))
@click.option("--provider", "-p", help="Provider (or a variant such as claude_code) to use instead of "
                                       "detection (checked against detection).")
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
@click.option("--provider", "-p", help="Provider (or a variant such as claude_code) to use instead of "
                                       "detection (checked against detection).")
@click.option("--run-id", "run_id", metavar="ID",
              help="Use this run id (the one preflight proposed) instead of a new one.")
@click.pass_obj
def ingest_command(obj: Context, export: str, provider: str | None, run_id: str | None) -> None:
    """Stage B: read EXPORT into a new provider-run DB with its token ledger and manifest.

    Writes only reports/providers/<provider>/<run_id>/ (the DB, token_ledger.<provider>.<run_id>.json
    and manifest.json); the mash is not touched. The run folder appears only when the ingest
    succeeds. Exits non-zero when a raw-only gate fails (the run is kept for inspection and cannot
    be merged).

    \b
    Examples:
      moonshine ingest ~/Downloads/chatgpt-export.zip
      moonshine --workspace ~/moonshine ingest claude-export/ --provider claude
      moonshine ingest export.zip --run-id chatgpt_20260101_120000   (the id preflight proposed)
    """
    from ..ingest import ingest

    ws = obj.workspace()
    bar = _ProgressBar(obj, f"ingest {Path(export).name}")
    try:
        result = ingest(export, provider, workspace=ws, pm=obj.pm, progress=bar, run_id=run_id)
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
    if m.get("skipped_members"):
        lines.append(f"skipped     {len(m['skipped_members'])} folder entries that are not files of the export "
                     "(links are never followed; devices and FIFOs never read): see manifest.json")
    lines += [f"gate        {'PASS' if g['passed'] else 'FAIL'} {name}" for name, g in gates.items()]
    obj.emit({"run_id": result.run_id, "provider": result.provider, "run_dir": result.run_dir,
              "manifest": m}, "\n".join(lines))
    if not result.gates_passed:
        failed = ", ".join(n for n, g in gates.items() if not g["passed"])
        raise MoonshineError(f"run {result.run_id} failed raw-only gates: {failed} (see {result.manifest_path})")


@cli.command("archive")
@click.argument("run_id")
@click.pass_obj
def archive_command(obj: Context, run_id: str) -> None:
    """Stage C: copy RUN_ID's artifacts and source export into archive/<provider>/<run_id>/ and
    snapshot the mash to archive/main/<run_id>/moonshine_mash_premerge.db.

    Every copy is hashed and checked. Archiving again before the merge refreshes the snapshot
    (needed when the mash changed since). Example: moonshine archive chatgpt_20260301_101500
    """
    from ..archive import archive_run

    record = archive_run(obj.workspace(), run_id)
    snap = record["premerge_snapshot"]
    obj.emit(record, f"archived {run_id}: {len(record['files'])} files + source ({record['source']['kind']})\n"
                     f"premerge snapshot {snap['path']} sha256 {snap['sha256']}")


def _gate_lines(gates: dict) -> list[str]:
    return [f"gate        {g['status'].upper():<7} {name}" for name, g in gates.items()]


@cli.command("merge")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN_ID")
@click.pass_obj
def merge_command(obj: Context, run_ids: tuple[str, ...]) -> None:
    """Stage D: upsert one provider run into the mash, then evaluate the five gates.

    Refused, changing nothing, when the run is not archived, its premerge snapshot is missing or
    stale, its raw gates failed, the merge order lock in moonshine.toml forbids it, or more than
    one run is named. Merging a merged run again changes nothing. A failing gate fails the
    command (undo with `moonshine rollback RUN_ID`).

    Example: moonshine merge qwen_20260301_101500
    """
    from ..gates.refusals import run_count_refusal
    from ..merge import merge_run

    refusal = run_count_refusal(run_ids)
    if refusal:
        raise RefusedError(refusal)
    result = merge_run(obj.workspace(), run_ids[0])
    entry = result.entry
    lines = [f"{entry['action']} {entry['run_id']}"]
    for table, c in entry["counts"].items():
        lines.append(f"  {table:<13} inserted {c['inserted']:>7,}  updated {c['updated']:>7,}  "
                     f"skipped {c['skipped']:>7,}")
    lines += _gate_lines(result.gates)
    obj.emit({"entry": entry, "gates": result.gates}, "\n".join(lines))
    if result.failed_gates:
        raise MoonshineError(f"merge of {run_ids[0]} failed gates: {', '.join(result.failed_gates)} "
                             f"(undo with `moonshine rollback {run_ids[0]}`)")


@cli.command("gates")
@click.argument("run_id")
@click.pass_obj
def gates_command(obj: Context, run_id: str) -> None:
    """Evaluate the five gates of RUN_ID with their evidence and record them in its manifest.

    source_hash, provider_tags, merge_idempotence (tried in a rolled-back transaction),
    token_reconciliation (report written beside the run), no_contamination. Gates that need the
    archive or the merge say `pending` until then. Also checks that the mash's records still have
    the content hash its last merge recorded. Exits non-zero when a gate fails or the mash was
    edited outside moonshine. Takes the workspace lock.

    Example: moonshine gates chatgpt_20260101_120000 --json
    """
    from ..gates import evaluate_gates, failed
    from ..mash import describe_records_check, records_check
    from ..mergelog import locked

    ws = obj.workspace()
    ws.find_run(run_id)
    with locked(ws):  # it writes the run manifest and the reconciliation report
        gates = evaluate_gates(ws, run_id)
        records = records_check(ws)
    lines = _gate_lines(gates)
    if not obj.quiet and not obj.as_json:
        for name, g in gates.items():
            lines.append(f"  {name}: {json.dumps(g['evidence'], sort_keys=True, default=str)[:400]}")
    lines.append(f"mash        {'FAIL' if records['status'] == 'mismatch' else 'OK':<7} {describe_records_check(records)}")
    obj.emit({**gates, "mash_records": records}, "\n".join(lines))
    problems = failed(gates) + (["mash records changed outside moonshine"] if records["status"] == "mismatch" else [])
    if problems:
        raise MoonshineError(f"{run_id} fails gates: {', '.join(problems)}")


@cli.command("rollback")
@click.argument("run_id")
@click.pass_obj
def rollback_command(obj: Context, run_id: str) -> None:
    """Restore the mash to the premerge snapshot of RUN_ID, which must be the latest merge.

    The snapshot's sha256 is checked first; the rollback is recorded in the merge manifest.

    Example: moonshine rollback chatgpt_20260101_120000
    """
    from ..merge import rollback_run

    entry = rollback_run(obj.workspace(), run_id)
    obj.emit(entry, f"rolled back {run_id}: mash sha256 now {entry['mash_sha256_after']}")


@cli.command("bootstrap")
@click.option("--from", "source", required=True, type=click.Path(exists=True, dir_okay=False),
              help="An existing Moonshine DB (a mash or a provider-run DB).")
@click.pass_obj
def bootstrap_command(obj: Context, source: str) -> None:
    """Start an empty workspace's mash from an existing Moonshine DB (recorded in the manifests).

    Example: moonshine --workspace ~/new-ws bootstrap --from ~/old-ws/reports/main/moonshine_mash_active.db
    """
    from ..merge import bootstrap

    entry = bootstrap(obj.workspace(), source)
    obj.emit(entry, f"bootstrapped mash from {source}: "
                    + ", ".join(f"{n:,} {t}" for t, n in entry["rows"].items() if n))


@cli.command("status")
@click.pass_obj
def status_command(obj: Context) -> None:
    """What is in the mash per provider (conversations, messages, distilled, tokens), which runs are
    staged and whether each may merge (and why not), recent merges and gate failures.

    Example: moonshine status --json
    """
    from ..status import describe, status

    data = status(obj.workspace())
    obj.emit(data, describe(data))


@cli.command("ledger")
@click.argument("run_id", required=False)
@click.pass_obj
def ledger_command(obj: Context, run_id: str | None) -> None:
    """Print the main token ledger, or RUN_ID's provider ledger (headline: non-system tokens).

    \b
    Examples:
      moonshine ledger                                 the mash's ledger
      moonshine ledger chatgpt_20260101_120000 --json  one run's, as JSON
    """
    from ..jsonio import read_json

    ws = obj.workspace()
    if run_id:
        provider = ws.find_run(run_id)
        path = ws.run_ledger_path(provider, run_id)
    else:
        path = ws.main_ledger_path
    ledger = read_json(path)
    if ledger is None:
        raise MoonshineError(f"no ledger at {path}" + ("" if run_id else " (nothing merged yet)"))
    lines = [f"ledger      {path}", f"headline    {ledger['headline']['non_system_tokens']:,} non-system tokens",
             f"totals      {ledger['totals']['conversations']:,} conversations, "
             f"{ledger['totals']['messages']:,} messages, {ledger['totals']['tokens']:,} tokens"]
    lines += [f"  {role:<10} {b['tokens']:>12,} tokens in {b['messages']:,} messages"
              for role, b in sorted(ledger["by_role"].items())]
    for provider, block in sorted((ledger.get("by_provider") or {}).items()):
        lines.append(f"  [{provider}] {block['headline']['non_system_tokens']:,} non-system tokens")
    obj.emit(ledger, "\n".join(lines))


@cli.command("docs-sync")
@click.pass_obj
def docs_sync_command(obj: Context) -> None:
    """Stage F: refresh TOKEN_FORENSICS_README.md, append a status block to
    PROJECT_MOONSHINE_UPDATE_1.md, and update lane counts in docs/Moonshine-Project-Overview.md.

    Only text between Moonshine's markers changes; running it twice changes nothing.

    Example: moonshine docs-sync --workspace ~/moonshine
    """
    from ..docsync import docs_sync

    changed = docs_sync(obj.workspace())
    obj.emit(changed, "\n".join(f"{'updated' if c else 'unchanged'}  {name}" for name, c in changed.items()))


@cli.command("run")
@click.argument("export", type=click.Path(exists=True, path_type=str))
@click.option("--provider", "-p", help="Provider (or a variant such as claude_code) to use instead of "
                                       "detection (checked against detection).")
@click.option("--no-distill", is_flag=True, help="Skip stage E.")
@click.option("--run-id", "run_id", metavar="ID",
              help="Use this run id (the one preflight proposed) instead of a new one.")
@click.pass_obj
def run_command(obj: Context, export: str, provider: str | None, no_distill: bool, run_id: str | None) -> None:
    """Stages A to F for one export: preflight, ingest, archive, merge (with gates), distill,
    docs-sync. Stops at the first failure with the reason.

    Example: moonshine --workspace ~/moonshine run ~/Downloads/claude-export.zip
    """
    from ..lifecycle import run_export
    from ..status import describe, status

    ws = obj.workspace()
    bar = _ProgressBar(obj, f"ingest {Path(export).name}")
    try:
        done = run_export(ws, export, provider, pm=obj.pm, progress=bar, distill=not no_distill, run_id=run_id)
    finally:
        bar.close()
    obj.emit(done, f"run {done['ingest']['run_id']}: ingested, archived, merged, "
                   f"{'distilled, ' if done.get('distill') else ''}documents synced\n\n" + describe(status(ws)))


@cli.command("demo")
@click.option("--workspace", "-w", "demo_dir", metavar="DIR",
              help="Workspace for the demo: a new folder or an earlier demo's (default: the global "
                   "--workspace if given, else ./moonshine-demo; never $MOONSHINE_WORKSPACE).")
@click.pass_obj
def demo_command(obj: Context, demo_dir: str | None) -> None:
    """Run the whole lifecycle on the synthetic sample exports the installed plugins ship:
    qwen before deepseek (the demo's merge order lock), then the others; then distil and sync
    the documents, and print the status.

    Example: moonshine demo --workspace /tmp/moonshine-demo
    """
    from ..lifecycle import demo
    from ..status import describe

    # $MOONSHINE_WORKSPACE names the user's real corpus: only an explicit --workspace moves the demo.
    group = click.get_current_context().find_root()
    explicit = group.get_parameter_source("workspace_dir") == click.core.ParameterSource.COMMANDLINE
    root = demo_dir or (obj.workspace_dir if explicit else None) or "moonshine-demo"
    result = demo(Workspace.open(root), pm=obj.pm)
    lines = [f"demo workspace {result['workspace']}"]
    lines += [f"  {r['run_id']:<28} from {Path(r['sample']).name}" for r in result["runs"]]
    obj.emit(result, "\n".join(lines) + "\n\n" + describe(result["status"]))
