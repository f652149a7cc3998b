"""Writing a lane's folder: JSONL files, their typed Parquet copies, converted copies,
``manifest.json`` and the ``README.md`` card.

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
from .cardmeta import LICENSE_NAME, card_metadata, data_configs, render_yaml
from .features import FeatureCollector
from .parquet import write_parquet
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


def parquet_name(jsonl_name: str) -> str:
    """Where the typed copy of a top-level data file goes: ``data/<split>.<group>.parquet``."""
    return f"data/{jsonl_name.removesuffix('.jsonl')}.parquet"


class LaneWriter:
    """Streams rows into ``<split>.<group>.jsonl`` files and their converted copies; on
    :meth:`close`, writes the typed Parquet copy of each data file under ``data/``."""

    def __init__(self, lane: Lane, folder: Path):
        self.lane = lane
        self.folder = folder
        self.handles: dict[str, Any] = {}
        self.rows: Counter[str] = Counter()
        self.skipped_conversions: Counter[str] = Counter()
        # The Parquet schema needs every row's types, so the copies are written once all rows are in.
        self.types = FeatureCollector()

    def _handle(self, name: str):
        if name not in self.handles:
            path = self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handles[name] = open(path, "w", encoding="utf-8", newline="\n")
        return self.handles[name]

    def write(self, group: str, row: dict[str, Any]) -> None:
        name = f"{row['split']}.{group}.jsonl"
        self._handle(name).write(dumps_row(row) + "\n")
        self.types.add(row)
        self.rows[name] += 1
        for fmt, convert in self.lane.converters.items():
            converted = convert(row)
            if converted is None:
                self.skipped_conversions[fmt] += 1
                continue
            target = f"converted/{fmt}/{name}"
            self._handle(target).write(dumps_row(converted) + "\n")
            self.rows[target] += 1

    def features(self) -> dict[str, Any]:
        """The column types of every row written (the manifest's ``features``)."""
        return self.types.features()

    def close(self) -> dict[str, dict[str, Any]]:
        """Close every file and write the Parquet copies; returns ``{relative path: {rows, bytes,
        sha256}}`` sorted by path."""
        for handle in self.handles.values():
            handle.close()
        written = list(self.handles)
        features = self.features()
        for name in sorted(n for n in self.handles if "/" not in n):
            target = parquet_name(name)
            self.rows[target] = write_parquet(self.folder / name, self.folder / target, features)
            written.append(target)
        files = {}
        for name in sorted(written):
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


def _loading(manifest: dict[str, Any], configs: dict[str, dict[str, list[str]]]) -> list[str]:
    """The card's "Loading" section: a runnable example naming only files this run wrote."""
    default = configs["default"]
    if not default:
        return ["## Loading\n", "No rows were distilled in this run: there is nothing to load.\n"]
    files = manifest["files"]

    def sizes(splits: dict[str, list[str]]) -> str:
        counts = {split: sum(files[p]["rows"] for p in paths) for split, paths in splits.items()}
        return ", ".join(f"{split} ({n} row{'' if n == 1 else 's'})" for split, n in counts.items())

    code = ["import os", "from datasets import load_dataset", "",
            f"ds = load_dataset(os.getcwd())          # every provider, typed: {sizes(default)}"]
    if "mix" in configs:
        code.append(f"mix = load_dataset(os.getcwd(), \"mix\")  # the balanced mixed-provider set: "
                    f"{sizes(configs['mix'])}")
    by_provider = manifest["counts"]["by_provider"]
    if len(by_provider) > 1:
        top = max(sorted(by_provider), key=lambda p: by_provider[p])
        one = {split: f"data/{split}.{top}.parquet" for split in default
               if f"data/{split}.{top}.parquet" in files}
        code.append(f"one = load_dataset(\"parquet\", data_files={json.dumps(one)})   # {top} only")
    return [
        "## Loading\n",
        "From this folder (`load_dataset` wants a named path, not `\".\"`):\n",
        "```python\n" + "\n".join(code) + "\n```\n",
        "`load_dataset(folder)` reads the `configs` of this card's YAML header: `default` is every "
        "provider's `data/<split>.<provider>.parquet`" + (", `mix` the `data/<split>.mix.parquet` files"
                                                          if "mix" in configs else "")
        + "; the Parquet files carry the column types of `manifest.json` → `features`. The same rows are in "
        "`<split>.<provider>.jsonl` (one JSON object a line); loading several JSONL files at once needs "
        "`features=` from the manifest (see docs/lanes.md). The folder pushed to the Hub as it is loads "
        "the same way by repository name.\n",
    ]


def _training(default: dict[str, list[str]], lane_spec: Lane) -> list[str]:
    """The lane's own trainer snippet (it needs a model, so the tests do not run it)."""
    if not lane_spec.loading or not default:
        return []
    note = "" if "train" in default else \
        " This run wrote no train split (every conversation fell in eval): use `ds[\"eval\"]`."
    return ["## Training\n", f"With `ds` from above, your model and its tokenizer:{note}\n",
            f"```python\n{lane_spec.loading}\n```\n"]


def write_card(folder: Path, manifest: dict[str, Any], lane_spec: Lane) -> None:
    """The dataset card: a YAML header ``datasets`` and the Hub read (configs, features, licence),
    then what the rows are, where they came from, how to load them, what was left out."""
    lane = lane_spec.name
    counts = manifest["counts"]
    lane_key = f"by_{lane_spec.count_columns[0]}" if lane_spec.count_columns else None
    parts = [
        render_yaml(card_metadata(lane_spec, manifest)),
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
    configs = data_configs(manifest["files"])
    parts += _loading(manifest, configs) + _training(configs["default"], lane_spec)
    parts += [
        "## Files\n",
        "- `data/<split>.<provider>.parquet`: typed, what the configs read; `<split>.<provider>.jsonl`: the "
        "same rows as JSON lines. One provider per file; a split file is absent when no conversation fell "
        "in it.",
        "- `<split>.mix.*` (with `--mix`): the balanced mixed-provider set; its rows also appear in the "
        "provider files.",
        "- `converted/<format>/`: the rows in other formats (OpenAI, ShareGPT), not part of any config; see "
        "docs/lanes.md.",
        "- `manifest.json`: counts, left-out reasons, file hashes, column types.\n",
        "Tool-call `arguments` and `tools` are JSON strings (decode them if your chat template wants objects).\n",
        "## Provenance and personal data\n",
        "Every row carries `record_uid`, `provider`, `provider_run_id`, `conversation_id`, "
        "`source_message_ids`, `source_sha256` (the stored raw conversation) and `content_sha256`. "
        "Secrets and PII found in row text were replaced by `[REDACTED_<TYPE>]` placeholders (counts in "
        "`pii_redactions`, `secrets_redacted`, `pii_types`); personal side records (account data) never "
        "reach a row and their values are redacted wherever they appear. Providers' terms may restrict "
        "training on their outputs: the `provider` column lets you filter.\n",
        "## License\n",
        f"`{LICENSE_NAME}`: the rows are the exporter's own chat history (their prompts and the assistants' "
        "answers), not data Moonshine can license. Whoever shares this folder decides its terms, within the "
        "providers' terms for their outputs.\n",
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
