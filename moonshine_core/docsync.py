"""Stage F: keep the operators' three documents in step with the DBs and manifests.

- ``TOKEN_FORENSICS_README.md``: the main ledger per provider, every provider
  run's ledger, and each merged run's token reconciliation;
- ``PROJECT_MOONSHINE_UPDATE_1.md``: a dated status block is appended when the
  status changed since the last block;
- ``docs/Moonshine-Project-Overview.md``: lane counts from the latest
  distillation of each lane.

Only text between Moonshine's own markers is ever replaced (a file without
them gets them appended), so what a person wrote around them survives, and
the generated text holds no clock time, so running it twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from .jsonio import read_json, write_text_atomic
from .mash import mash_sha256
from .runs import all_runs
from .status import status
from .timeutil import utc_now_iso
from .workspace import Workspace

STATUS_MARK = re.compile(r"<!-- moonshine:status fingerprint=([0-9a-f]{16}) -->")


def _replace_section(path: Path, name: str, body: str, title: str) -> bool:
    """Put ``body`` between the ``name`` markers of ``path``; returns whether the file changed."""
    start, end = f"<!-- moonshine:{name}:start -->", f"<!-- moonshine:{name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else f"# {title}\n\n"
    if start in old and end in old:
        head, rest = old.split(start, 1)
        _, tail = rest.split(end, 1)
        new = head + block + tail
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    if new == old:
        return False
    write_text_atomic(path, new)
    return True


def _n(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def token_forensics(ws: Workspace) -> str:
    ledger = read_json(ws.main_ledger_path, default={}) or {}
    lines = ["## Main corpus (mash)", ""]
    lines.append(f"Mash sha256: `{mash_sha256(ws) or 'no mash yet'}`  ")
    lines.append(f"Encoding: `{(ledger.get('encoding') or {}).get('name', 'o200k_base')}` "
                 f"(sha256 `{(ledger.get('encoding') or {}).get('sha256', '-')}`)")
    lines += ["", "| provider | conversations | messages | non-system tokens | text | reasoning | tool |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for provider, block in sorted((ledger.get("by_provider") or {}).items()):
        kinds = block["by_kind_non_system"]
        lines.append(f"| {provider} | {_n(block['totals']['conversations'])} | {_n(block['totals']['messages'])} | "
                     f"{_n(block['headline']['non_system_tokens'])} | {_n(kinds['text'])} | "
                     f"{_n(kinds['reasoning'])} | {_n(kinds['tool'])} |")
    if ledger:
        kinds = ledger["by_kind_non_system"]
        lines.append(f"| **all** | {_n(ledger['totals']['conversations'])} | {_n(ledger['totals']['messages'])} | "
                     f"{_n(ledger['headline']['non_system_tokens'])} | {_n(kinds['text'])} | "
                     f"{_n(kinds['reasoning'])} | {_n(kinds['tool'])} |")
    lines += ["", "## Provider runs", "",
              "| run | source sha256 | non-system tokens | merged | token reconciliation |",
              "|---|---|---:|---|---|"]
    for run in all_runs(ws):
        run_ledger = read_json(ws.run_ledger_path(run.provider, run.run_id), default={}) or {}
        gate = (run.manifest.get("gates") or {}).get("token_reconciliation", {}).get("status", "pending")
        sha = (run.manifest.get("source") or {}).get("sha256", "")
        lines.append(f"| {run.run_id} | `{sha[:16]}…` | "
                     f"{_n((run_ledger.get('headline') or {}).get('non_system_tokens', '-'))} | "
                     f"{'yes' if run.merged else 'no'} | {gate} |")
    return "\n".join(lines)


def lane_counts(ws: Workspace) -> str:
    lines = ["| lane | distillation | rows | per provider |", "|---|---|---:|---|"]
    root = ws.reports_dir / "distillations"
    # Every lane that was ever distilled (lanes are plugins: the core keeps no list of them).
    lanes = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not lanes:
        lines.append("| - | - | 0 | - |")
    for lane in lanes:
        base = root / lane
        runs = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
        if not runs:
            lines.append(f"| {lane} | - | 0 | - |")
            continue
        latest = runs[-1]
        per: dict[str, int] = {}
        for path in sorted(latest.glob("*.jsonl")):
            # per-provider files only: the --mix file repeats rows already counted there
            if not path.name.startswith(("train.", "eval.")) or path.name.endswith(".mix.jsonl"):
                continue
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        provider = json.loads(line).get("provider", "?")
                        per[provider] = per.get(provider, 0) + 1
        providers = ", ".join(f"{p} {_n(n)}" for p, n in sorted(per.items())) or "-"
        lines.append(f"| {lane} | {latest.name} | {_n(sum(per.values()))} | {providers} |")
    return "\n".join(lines)


def status_block(ws: Workspace) -> tuple[str, str]:
    """The status text (without date) and its fingerprint."""
    data = status(ws)
    lines = []
    for provider, c in sorted(data["main"].items()):
        lines.append(f"- {provider}: {_n(c.get('conversations', 0))} conversations, {_n(c.get('messages', 0))} "
                     f"messages, {_n(c.get('non_system_tokens', 0))} non-system tokens")
    if not data["main"]:
        lines.append("- mash: empty")
    for run in data["runs"]:
        state = "merged" if run["merged"] else ("merge-ready" if run["merge_ready"] else "staged, not ready")
        lines.append(f"- run {run['run_id']}: {state}")
    for failure in data["gate_failures"]:
        lines.append(f"- gate failures in {failure['run_id']}: {', '.join(failure['gates'])}")
    text = "\n".join(lines)
    return text, hashlib.sha256(text.encode()).hexdigest()[:16]


def append_status(ws: Workspace) -> bool:
    path = ws.status_log_path
    text, fingerprint = status_block(ws)
    old = path.read_text(encoding="utf-8") if path.exists() else "# Project Moonshine — status log\n"
    marks = STATUS_MARK.findall(old)
    if marks and marks[-1] == fingerprint:
        return False
    stamp = utc_now_iso().replace("T", " ").replace("Z", " UTC")
    block = f"\n<!-- moonshine:status fingerprint={fingerprint} -->\n## Status {stamp}\n\n{text}\n"
    write_text_atomic(path, old.rstrip("\n") + "\n" + block)
    return True


def docs_sync(ws: Workspace) -> dict[str, bool]:
    """Refresh the three documents; returns which files changed."""
    with ws.lock():
        return {
            str(ws.token_forensics_path.relative_to(ws.root)): _replace_section(
                ws.token_forensics_path, "token-forensics", token_forensics(ws), "Token forensics"),
            str(ws.status_log_path.relative_to(ws.root)): append_status(ws),
            str(ws.overview_path.relative_to(ws.root)): _replace_section(
                ws.overview_path, "lane-counts", lane_counts(ws), "Moonshine project overview"),
        }
