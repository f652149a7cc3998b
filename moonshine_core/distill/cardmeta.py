"""The YAML header of a lane's dataset card: what ``datasets.load_dataset(folder)`` and the Hub read.

``datasets`` reads ``README.md``'s YAML block (``DatasetCard.load``):
``configs`` (``MetadataConfigs``) names the data files of each config and
split, so ``load_dataset(folder)`` reads exactly those and nothing else of
the folder (not ``converted/``, not ``manifest.json``); ``dataset_info``
(``DatasetInfosDict.from_dataset_card_data``) gives each config's features.
The configs point at the typed Parquet copies (:mod:`.parquet`): ``default``
holds every provider's files by split, ``mix`` the balanced mixed-provider
set when it was written. ``converted/`` copies have other columns and are
read by other tools (OpenAI uploads, LLaMA-Factory), so they get no config.

The YAML is written by :func:`render_yaml` (block style, strings quoted
where YAML could read them as something else) rather than by PyYAML, which
the core does not depend on; the tests parse it with PyYAML and ``datasets``.
"""

from __future__ import annotations

import re
from typing import Any

from ..lane import Lane

#: The rows are the exporter's own chat history: no open licence applies, the card says so.
LICENSE = "other"
LICENSE_NAME = "own-chat-history"
TASK_CATEGORIES = ["text-generation"]
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def parquet_groups(files: dict[str, Any] | list[str]) -> dict[str, dict[str, list[str]]]:
    """``{group: {split: [paths]}}`` of the Parquet data files (``data/<split>.<group>.parquet``)."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in sorted(files):
        if name.startswith("data/") and name.endswith(".parquet") and name.count("/") == 1:
            split, group = name[len("data/"):].split(".")[:2]
            out.setdefault(group, {}).setdefault(split, []).append(name)
    return out


def _split_order(split: str) -> tuple[int, str]:
    return ({"train": 0, "eval": 1}.get(split, 2), split)


def data_configs(files: dict[str, Any] | list[str]) -> dict[str, dict[str, list[str]]]:
    """``{config: {split: [paths]}}``: ``default`` (every provider's files), and ``mix`` when written."""
    groups = parquet_groups(files)
    default: dict[str, list[str]] = {}
    for group, splits in groups.items():
        if group != "mix":
            for split, paths in splits.items():
                default.setdefault(split, []).extend(paths)
    configs = {"default": default}
    if "mix" in groups:
        configs["mix"] = groups["mix"]
    return {name: {split: sorted(splits[split]) for split in sorted(splits, key=_split_order)}
            for name, splits in configs.items()}


def yaml_features(features: dict[str, Any]) -> list[dict[str, Any]]:
    """``features`` (``Features.to_dict()`` form) in the card's YAML form (``Features._to_yaml_list()``)."""
    def inner(feature: dict[str, Any]) -> dict[str, Any]:
        kind = feature.get("_type")
        if kind == "Value":
            return {"dtype": feature["dtype"]}
        if kind == "List":
            item = inner(feature["feature"])
            # datasets writes `list: <dtype>` and `list: [fields]` for the two simple cases
            if list(item) == ["dtype"]:
                return {"list": item["dtype"]}
            if list(item) == ["struct"]:
                return {"list": item["struct"]}
            return {"list": item}
        if kind is None:
            return {"struct": [{"name": name, **inner(sub)} for name, sub in feature.items()]}
        raise ValueError(f"feature type {kind!r} has no YAML form here")

    return [{"name": name, **inner(feature)} for name, feature in features.items()]


def _trl_type(payload: tuple[str, ...]) -> str:
    """TRL's name for the dataset type the lane's training columns make."""
    columns = set(payload)
    if {"chosen", "rejected"} <= columns:
        return "preference"
    if {"completion", "label"} <= columns:
        return "unpaired-preference"
    if "completion" in columns:
        return "prompt-completion"
    if "messages" in columns:
        return "conversational"
    return "prompt-only"


def _size_category(rows: int) -> str:
    return next((label for limit, label in _SIZES if rows < limit), "n>100M")


def card_metadata(lane: Lane, manifest: dict[str, Any]) -> dict[str, Any]:
    """The card's YAML header as a dict (keys in the order they are written)."""
    configs = data_configs(manifest["files"])
    languages = sorted(k for k in manifest["counts"].get("by_language", {}) if k != "und")
    tags = ["moonshine", lane.name, _trl_type(lane.payload_columns)]
    if "tools" in lane.payload_columns:
        tags.append("tool-use")
    meta: dict[str, Any] = {
        "pretty_name": f"Moonshine {lane.name} dataset",
        "license": LICENSE,
        "license_name": LICENSE_NAME,
    }
    if languages:
        meta["language"] = languages
    meta.update({
        "task_categories": TASK_CATEGORIES,
        "tags": tags,
        "size_categories": [_size_category(manifest["counts"]["rows"])],
        "configs": [{"config_name": name,
                     "data_files": [{"split": split, "path": paths} for split, paths in splits.items()]}
                    for name, splits in configs.items()],
    })
    if configs["default"]:
        meta["dataset_info"] = [{"config_name": name, "features": yaml_features(manifest["features"])}
                                for name in configs]
    return meta


# -- YAML ---------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _quote(text: str) -> str:
    out = []
    for char in text:
        point = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif point < 0x20 or 0x7F <= point <= 0x9F or not char.isprintable():
            out.append(f"\\x{point:02x}" if point <= 0xFF else
                       f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if value == [] or value == {}:
        return "[]" if value == [] else "{}"
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return _quote(text)


def _is_leaf(value: Any) -> bool:
    return not isinstance(value, (dict, list)) or not value


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_leaf(item):
                out.append(f"{pad}{key}: {_scalar(item)}")
            else:
                out.append(f"{pad}{key}:")
                out += _lines(item, indent if isinstance(item, list) else indent + 2)
        return out
    for item in value:
        if _is_leaf(item):
            out.append(f"{pad}- {_scalar(item)}")
        else:
            nested = _lines(item, indent + 2)
            out.append(f"{pad}- {nested[0][indent + 2:]}")
            out += nested[1:]
    return out


def render_yaml(data: dict[str, Any]) -> str:
    """``data`` as a card header: ``---``, block-style YAML, ``---``."""
    return "---\n" + "\n".join(_lines(data, 0)) + "\n---\n"
