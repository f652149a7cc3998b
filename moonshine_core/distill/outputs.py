"""Writing a lane's folder: JSONL files, converted copies, ``manifest.json`` and the ``README.md`` card.

Nothing written here holds a timestamp or the run id (the folder name carries
it), and every file is written in a fixed order with sorted keys, so two
distillations of the same mash are byte-identical.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from ..jsonio import write_json_atomic, write_text_atomic
from ..lane import Lane
from .provenance import ROW_SCHEMA_VERSION

MANIFEST_SCHEMA_VERSION = "1"

def dumps_row(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LaneWriter:
    """Streams rows into ``<split>.<group>.jsonl`` files and their converted copies."""

    def __init__(self, lane: Lane, folder: Path):
        self.lane = lane
        self.folder = folder
        self.handles: dict[str, Any] = {}
        self.rows: Counter[str] = Counter()
        self.skipped_conversions: Counter[str] = Counter()

    def _handle(self, name: str):
        if name not in self.handles:
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handles[name] = open(path, "w", encoding="utf-8", newline="\n")
        return self.handles[name]

    def write(self, group: str, row: dict[str, Any]) -> None:
        name = f"{row['split']}.{group}.jsonl"
        self._handle(name).write(dumps_row(row) + "\n")
        self.rows[name] += 1
        for fmt, convert in self.lane.converters.items():
            converted = convert(row)
            if converted is None:
                self.skipped_conversions[fmt] += 1
                continue
            target = f"converted/{fmt}/{name}"
            self._handle(target).write(dumps_row(converted) + "\n")
            self.rows[target] += 1

    def close(self) -> dict[str, dict[str, Any]]:
        """Close every file; returns ``{relative path: {rows, bytes, sha256}}`` sorted by path."""
        for handle in self.handles.values():
            handle.close()
        files = {}
        for name in sorted(self.handles):
            path = self.folder / name
            files[name] = {"rows": self.rows[name], "bytes": path.stat().st_size, "sha256": file_sha256(path)}
        return files


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    write_json_atomic(folder / "manifest.json", manifest)


def _table(counter: dict[str, Any], head: tuple[str, str]) -> str:
    if not counter:
        return "_none_\n"
    lines = [f"| {head[0]} | {head[1]} |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in sorted(counter.items())]
    return "\n".join(lines) + "\n"


def write_card(folder: Path, manifest: dict[str, Any], lane_spec: Lane) -> None:
    """The dataset card: what the rows are, where they came from, how to load them, what was left out."""
    lane = lane_spec.name
    counts = manifest["counts"]
    data_files = sorted(f for f in manifest["files"] if "/" not in f)
    # Mixed-provider training only through the balanced mix; otherwise show one provider's files.
    groups = sorted({f.split(".")[1] for f in data_files})
    by_provider = counts["by_provider"]
    group = "mix" if "mix" in groups else (max(sorted(by_provider), key=lambda p: by_provider[p])
                                           if by_provider else "<provider>")
    train, eval_ = f"train.{group}.jsonl", f"eval.{group}.jsonl"
    lane_key = f"by_{lane_spec.count_columns[0]}" if lane_spec.count_columns else None
    parts = [
        f"# Moonshine {lane} dataset\n",
        f"{lane_spec.title}, distilled from a Moonshine mash of chat exports.\n",
        f"- rows: {counts['rows']} (train {counts['by_split'].get('train', 0)}, "
        f"eval {counts['by_split'].get('eval', 0)})",
        f"- row schema version: {manifest['row_schema_version']}; mash content sha256: "
        f"`{manifest['mash_content_sha256']}`",
        f"- settings: eval_fraction {manifest['settings']['eval_fraction']}, reasoning_policy "
        f"`{manifest['settings']['reasoning_policy']}`, max_tool_output_chars "
        f"{manifest['settings']['max_tool_output_chars']}\n",
        "## Rows per provider\n", _table(counts["by_provider"], ("provider", "rows")),
    ]
    if lane_key:
        parts += [f"## Rows {lane_key.replace('_', ' ')}\n", _table(counts.get(lane_key, {}), ("value", "rows"))]
    parts += ["## Flags (marked, not dropped)\n", _table(counts["by_flag"], ("flag", "rows")),
              "## Left out\n", _table(manifest["left_out"], ("reason", "count"))]
    if manifest.get("mix"):
        parts += ["## Mixed set\n", "Built after per-provider balancing (`distill --mix`), mode "
                  f"`{manifest['mix']['mode']}`, {manifest['mix']['rows']} rows.\n",
                  _table({p: v["contributed"] for p, v in manifest["mix"]["providers"].items()},
                         ("provider", "contributed"))]
    parts += [
        "## Loading\n",
        "```python\nfrom datasets import load_dataset\n"
        f"ds = load_dataset(\"json\", data_files={{\"train\": \"{train}\", \"eval\": \"{eval_}\"}})\n"
        f"{lane_spec.loading}\n```\n",
        "Files are `<split>.<provider>.jsonl` (one provider each) and, with `--mix`, `<split>.mix.jsonl` "
        "(the balanced mixed-provider set; its rows also appear in the provider files). A split file is "
        "absent when no conversation fell in it.",
        "Tool-call `arguments` and `tools` are JSON strings (decode them if your chat template wants objects).",
        "Converted copies (OpenAI, ShareGPT) are under `converted/`; see docs/lanes.md.\n",
        "## Provenance and personal data\n",
        "Every row carries `record_uid`, `provider`, `provider_run_id`, `conversation_id`, "
        "`source_message_ids`, `source_sha256` (the stored raw conversation) and `content_sha256`. "
        "Secrets and PII found in row text were replaced by `[REDACTED_<TYPE>]` placeholders (counts in "
        "`pii_redactions`, `secrets_redacted`, `pii_types`); personal side records (account data) never "
        "reach a row and their values are redacted wherever they appear. Providers' terms may restrict "
        "training on their outputs: the `provider` column lets you filter.\n",
    ]
    write_text_atomic(folder / "README.md", "\n".join(parts))


def lane_manifest(lane: Lane, *, mash_hash: str, settings: dict[str, Any], generator: str,
                  counts: dict[str, Any], left_out: dict[str, int], writer: LaneWriter,
                  files: dict[str, dict[str, Any]], features: dict[str, Any],
                  mix_report: dict[str, Any] | None) -> dict[str, Any]:
    """``manifest.json`` of one lane folder (every key sorted; no time, no run id)."""
    return {
        "manifest_schema_version": MANIFEST_SCHEMA_VERSION,
        "row_schema_version": ROW_SCHEMA_VERSION,
        "lane": lane.name,
        "mash_content_sha256": mash_hash,
        "settings": settings,
        "signals_generator": json.loads(generator),
        "counts": counts,
        "left_out": dict(sorted(left_out.items())),
        "converter_skips": dict(sorted(writer.skipped_conversions.items())),
        "files": files,
        "features": features,
        "mix": mix_report,
    }
