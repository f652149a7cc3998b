"""``moonshine distill``: lane rows from the mash (a thin layer over :func:`moonshine_core.distill.distill`)."""

from __future__ import annotations

import click

from .group import Context, CountBar, cli

#: The left-out reason of code rows a run without ``--verify-code`` could not vouch for.
UNVERIFIED_CODE = "invalid_row:code_not_verified"


@cli.command("distill")
@click.option("--lanes", "lanes", metavar="LANE[,LANE...]",
              help="Lanes to build: dpo, grpo, agentic_code, conversational (default: [lanes] enabled).")
@click.option("--mix", is_flag=True,
              help="Also write a mixed-provider set, balanced by [mix] quotas / weights of moonshine.toml.")
@click.option("--run-id", "run_id", metavar="ID", help="Run id (default: distill_YYYYMMDD_HHMMSS in UTC).")
@click.option("--verify-code/--no-verify-code", "verify_code", default=None,
              help="GRPO: re-run logged code in a sandbox (no network, time/memory limits, writes confined to a "
                   "temp folder) and keep the code rows that reproduce. This executes code found in the "
                   "exports. Default: [lanes] verify_code (off).")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Distil every conversation afresh instead of reusing the rows of unchanged ones from "
                   ".moonshine/cache/distill-rows.sqlite (the output is the same either way).")
@click.pass_obj
def distill_command(obj: Context, lanes: str | None, mix: bool, run_id: str | None, verify_code: bool | None,
                    no_cache: bool) -> None:
    """Build training datasets from the mash: DPO, GRPO, agentic-code and conversational rows.

    Each lane is written to reports/distillations/<lane>/<run_id>/: one
    train.<provider>.jsonl and eval.<provider>.jsonl per provider (split by
    conversation), converted OpenAI / ShareGPT copies under converted/, a
    manifest.json (counts per provider, source, flag; file hashes) and a
    README.md dataset card. Rows carry their provenance and quality flags;
    nothing is dropped silently: what was left out is counted in the manifest.

    \b
    Examples:
      moonshine distill                              every enabled lane
      moonshine distill --lanes dpo,grpo             two lanes only
      moonshine distill --mix                        plus train.mix.jsonl / eval.mix.jsonl
      moonshine --json distill --run-id distill_a    machine-readable summary
      moonshine distill --lanes grpo --verify-code   GRPO code rows re-run in the sandbox
      moonshine distill --no-cache                   every conversation distilled afresh

    \b
    Balancing for --mix, in moonshine.toml:
      [mix]
      weights = { claude = 2, chatgpt = 1 }          shares per provider
      quotas  = { chatgpt = 5000 }                   or at most N rows per provider

    \b
    Load a lane with datasets:
      load_dataset("json", data_files={"train": "train.claude.jsonl", "eval": "eval.claude.jsonl"})
    """
    from ..distill import distill

    chosen = [part.strip() for part in lanes.split(",") if part.strip()] if lanes else None
    progress = CountBar(obj, "distilling")
    try:
        result = distill(obj.workspace(), lanes=chosen, mix=mix, pm=obj.pm, run_id=run_id, progress=progress,
                         verify_code=verify_code, use_cache=not no_cache)
    finally:
        progress.close()
    lines = [f"distill run {result.run_id}: {result.conversations} conversations "
             f"(mash {result.mash_content_sha256[:12]})"]
    for lane, lane_result in result.lanes.items():
        providers = ", ".join(f"{p} {n}" for p, n in lane_result.by_provider.items()) or "no rows"
        mixed = f"; mixed {lane_result.mixed_rows}" if lane_result.mixed_rows is not None else ""
        left = sum(lane_result.left_out.values())
        lines.append(f"  {lane:<15} {lane_result.rows:>6} rows ({providers}{mixed})"
                     + (f"; {left} left out" if left else ""))
        unverified = lane_result.left_out.get(UNVERIFIED_CODE, 0)
        if unverified:
            lines.append(f"  {'':<15} {unverified} code rows left out unverified: add --verify-code to re-run "
                         "them in the sandbox (it executes export code)")
        lines.append(f"  {'':<15} {lane_result.folder}")
    obj.emit(result.to_dict(), "\n".join(lines))
