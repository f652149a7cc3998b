"""Lane folders packaged the way the ecosystem expects: ``datasets.load_dataset(folder)`` reads the
card's YAML ``configs`` (typed Parquet copies, never ``converted/``), the columns and types are the
manifest's ``features``, and the card's examples name only files that were written and run as written.

On synthetic mashes (tests/distill_fixtures.py) and, marked ``real_exports``, on ../shared/real-exports.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core import hookimpl  # noqa: E402
from moonshine_core.distill import distill, load_lane  # noqa: E402
from moonshine_core.distill.cardmeta import data_configs, render_yaml, yaml_features  # noqa: E402
from moonshine_core.distill.features import FeatureCollector  # noqa: E402
from moonshine_core.distill.parquet import arrow_schema, write_parquet  # noqa: E402
from moonshine_core.lane import Lane  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402

datasets = pytest.importorskip("datasets")
yaml = pytest.importorskip("yaml")
pq = pytest.importorskip("pyarrow.parquet")
from datasets.info import DatasetInfosDict  # noqa: E402
from datasets.utils.metadata import MetadataConfigs  # noqa: E402
from huggingface_hub import DatasetCard  # noqa: E402

LANES = ("dpo", "kto", "grpo", "agentic_code", "conversational")
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
QUOTED_FILE = re.compile(r"""["']([^"']+\.(?:parquet|jsonl))["']""")


def pm():
    return make_plugin_manager(load_entrypoints=False)


@pytest.fixture(autouse=True)
def hf_cache(tmp_path, monkeypatch):
    """Keep ``datasets``' cache (and the card examples, which pass no ``cache_dir``) out of ~/.cache."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))


# -- reading a lane folder the way a user does ----------------------------------------------------


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def card_of(folder: Path) -> tuple[dict, str]:
    """(the parsed YAML header, the Markdown body) of a lane's README.md."""
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n"), "the card must open with a YAML block"
    header, body = text[len("---\n"):].split("\n---\n", 1)
    return yaml.safe_load(header), body


def section(body: str, title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", body, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else ""


def provider_files(folder: Path, manifest: dict, typed: bool = False) -> dict[str, list[str]]:
    """``{split: [file names]}`` of the per-provider JSONL files, or of their Parquet copies under
    ``data/`` (``typed``); not mix, not converted."""
    out: dict[str, list[str]] = {}
    for name in sorted(manifest["files"]):
        folder_part, _, base = name.rpartition("/")
        if folder_part == ("data" if typed else "") and base.endswith(".parquet" if typed else ".jsonl") \
                and base.split(".")[1] != "mix":
            out.setdefault(base.split(".")[0], []).append(name)
    return out


def shaped(value, feature: dict):
    """A JSONL value as a typed reader returns it: keys a row or message lacks come back as None."""
    if value is None or feature.get("_type") == "Value":
        return value
    if feature.get("_type") == "List":
        return [shaped(item, feature["feature"]) for item in value]
    return {name: shaped(value.get(name), inner) for name, inner in feature.items()}


def rows_in(manifest: dict, names: list[str]) -> int:
    return sum(manifest["files"][n]["rows"] for n in names)


def check_folder(folder: Path, *, mixed: bool) -> dict:
    """Every packaging promise for one lane folder; returns what ``load_dataset(folder)`` gave."""
    manifest = manifest_of(folder)
    features = datasets.Features.from_dict(manifest["features"])
    splits = provider_files(folder, manifest)
    assert splits, (folder, manifest["left_out"])

    # The YAML header, as datasets itself reads it (DatasetCard -> MetadataConfigs / DatasetInfosDict).
    header, body = card_of(folder)
    assert header["license"] == "other" and header["license_name"] and header["pretty_name"]
    assert header["task_categories"] and "moonshine" in header["tags"] and manifest["lane"] in header["tags"]
    card = DatasetCard.load(folder / "README.md").data
    configs = MetadataConfigs.from_dataset_card_data(card)
    assert list(configs) == (["default", "mix"] if mixed else ["default"])
    for config in configs.values():
        for item in config["data_files"]:
            for path in item["path"]:
                assert (folder / path).is_file() and not path.startswith("converted/"), path
    infos = DatasetInfosDict.from_dataset_card_data(card)
    assert set(infos) == set(configs) and all(info.features == features for info in infos.values())

    # load_dataset(folder): each split, every provider, typed as the manifest says, nothing else.
    ds = datasets.load_dataset(str(folder))
    assert set(ds) == set(splits)
    for split, names in splits.items():
        assert len(ds[split]) == rows_in(manifest, names)
        assert ds[split].features == features and ds[split].column_names == list(manifest["features"])
        # the typed copy holds the very rows of the JSONL files, in order (not datasets' JSON reading of
        # them, which turns ISO timestamp strings into "YYYY-MM-DD HH:MM:SS")
        raw = [shaped(row, manifest["features"]) for n in names for row in fx.read_jsonl(folder / n)]
        assert ds[split].to_list() == raw
    if mixed:
        mix = datasets.load_dataset(str(folder), "mix")
        mix_files = {n.split(".")[0]: [n] for n in manifest["files"] if "/" not in n and ".mix." in n
                     and n.endswith(".jsonl")}
        assert {s: len(d) for s, d in mix.items()} == {s: rows_in(manifest, n) for s, n in mix_files.items()}
        assert sum(len(d) for d in mix.values()) == manifest["mix"]["rows"]
        assert all(d.features == features for d in mix.values())
    else:
        with pytest.raises(ValueError, match="mix"):
            datasets.load_dataset(str(folder), "mix")

    # Any set of the Parquet copies loads together without features= (the JSONL files need them).
    typed = sorted(str(folder / n) for names in provider_files(folder, manifest, typed=True).values() for n in names)
    assert datasets.load_dataset("parquet", data_files=typed, split="train").features == features
    assert pq.read_schema(typed[0]).remove_metadata() == arrow_schema(manifest["features"])

    # load_lane keeps working, on the typed copies, and agrees with load_dataset(folder).
    lane_ds = load_lane(folder)
    assert {s: d.to_list() for s, d in lane_ds.items()} == {s: d.to_list() for s, d in ds.items()}

    check_examples(folder, manifest, body)
    return ds


def check_examples(folder: Path, manifest: dict, body: str) -> None:
    """Every file a card example names exists; no example names a split that was not written."""
    written = set(manifest["files"])
    for code in BLOCK.findall(body):
        for name in QUOTED_FILE.findall(code):
            assert name in written and (folder / name).is_file(), name
    loading = "\n".join(BLOCK.findall(section(body, "Loading")))
    assert "load_dataset(" in loading
    for split in ("train", "eval"):
        if not any(n.startswith(f"data/{split}.") for n in written):
            assert f'"{split}"' not in loading and f"data/{split}." not in loading, split


def run_card_example(folder: Path, monkeypatch) -> dict:
    """The card's "Loading" code, run as written from the lane folder; returns its variables."""
    _, body = card_of(folder)
    code = "\n".join(BLOCK.findall(section(body, "Loading")))
    monkeypatch.chdir(folder)
    scope: dict = {}
    exec(compile(code, str(folder / "README.md"), "exec"), scope)
    return scope


# -- synthetic mashes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """One mash (three providers, most conversations in eval) distilled with and without --mix."""
    root = tmp_path_factory.mktemp("packaging")
    records = {**fx.default_records(), "qwen": [*fx.tool_conversation("q-tools"), *fx.thumbs_conversation("q-thumbs")]}
    ws = fx.make_mash(root / "ws", records, settings="[lanes]\neval_fraction = 0.85\n")
    distill(ws, pm=pm(), run_id="mixed", mix=True)
    distill(ws, pm=pm(), run_id="plain")
    return ws


@pytest.mark.parametrize("lane", LANES)
@pytest.mark.parametrize("run_id", ["mixed", "plain"])
def test_every_lane_folder_loads_with_load_dataset(synthetic, lane, run_id):
    check_folder(synthetic.distill_dir(lane, run_id), mixed=run_id == "mixed")


def null_in_one_file_only(folder: Path, names: list[str]) -> set[str]:
    """Columns null in every row of one of ``names`` and set in another (what breaks untyped loads)."""
    set_in = [{k for row in fx.read_jsonl(folder / n) for k, v in row.items() if v is not None} for n in names]
    return set.union(*set_in) - set.intersection(*set_in) if set_in else set()


def test_both_splits_and_a_column_null_in_one_file_are_exercised(synthetic):
    """The fixture is only useful if some lane has train and eval, and some split has a column that is
    null throughout one provider's file and set in another's; the Parquet copies load those together."""
    shapes = {}
    for lane in LANES:
        folder = synthetic.distill_dir(lane, "mixed")
        shapes[lane] = provider_files(folder, manifest_of(folder))
    assert any(set(s) == {"train", "eval"} for s in shapes.values()), shapes
    awkward = {(lane, split): null_in_one_file_only(synthetic.distill_dir(lane, "mixed"), names)
               for lane, splits in shapes.items() for split, names in splits.items()}
    assert any(awkward.values()), awkward
    for (lane, split), columns in awkward.items():
        if columns:
            ds = datasets.load_dataset(str(synthetic.distill_dir(lane, "mixed")), split=split)
            features = datasets.Features.from_dict(manifest_of(synthetic.distill_dir(lane, "mixed"))["features"])
            assert all(ds.features[c] == features[c] for c in columns)


@pytest.mark.parametrize("lane", LANES)
def test_the_card_example_runs_from_the_lane_folder(synthetic, lane, monkeypatch):
    folder = synthetic.distill_dir(lane, "mixed")
    manifest = manifest_of(folder)
    scope = run_card_example(folder, monkeypatch)
    assert {s: len(d) for s, d in scope["ds"].items()} == \
        {s: rows_in(manifest, n) for s, n in provider_files(folder, manifest).items()}
    assert sum(len(d) for d in scope["mix"].values()) == manifest["mix"]["rows"]
    if len(manifest["counts"]["by_provider"]) > 1:
        assert 0 < sum(len(d) for d in scope["one"].values()) < manifest["counts"]["rows"]


def test_one_provider_one_split(tmp_path, monkeypatch):
    """A folder with only train files of one provider: only that split is configured, named and loaded."""
    ws = fx.make_mash(tmp_path / "ws", {"claude": fx.default_records()["claude"]},
                      settings="[lanes]\neval_fraction = 0.0\n")
    distill(ws, pm=pm(), run_id="one")
    for lane in ("conversational", "agentic_code"):
        folder = ws.distill_dir(lane, "one")
        ds = check_folder(folder, mixed=False)
        assert set(ds) == {"train"}
        header, body = card_of(folder)
        assert [item["split"] for item in header["configs"][0]["data_files"]] == ["train"]
        assert "eval" not in "\n".join(BLOCK.findall(section(body, "Loading")))
        scope = run_card_example(folder, monkeypatch)
        assert set(scope["ds"]) == {"train"} and "one" not in scope and "mix" not in scope


def test_eval_only_folder_says_so_and_loads(tmp_path, monkeypatch):
    ws = fx.make_mash(tmp_path / "ws", {"claude": fx.tool_conversation()}, settings="[lanes]\neval_fraction = 0.999\n")
    distill(ws, pm=pm(), run_id="ev", lanes=["agentic_code"])
    folder = ws.distill_dir("agentic_code", "ev")
    assert set(provider_files(folder, manifest_of(folder))) == {"eval"}
    ds = check_folder(folder, mixed=False)
    assert set(ds) == {"eval"} and set(run_card_example(folder, monkeypatch)["ds"]) == {"eval"}
    _, body = card_of(folder)
    assert "no train split" in section(body, "Training")


class EmptyLane:
    """A plugin lane that finds nothing."""

    @hookimpl
    def moonshine_lanes(self):
        return [Lane(name="empty_lane", title="finds nothing", payload_columns=("messages",),
                     emit=lambda conversation, context: [])]


def test_an_empty_lane_has_nothing_to_load_and_says_so(tmp_path):
    ws = fx.make_mash(tmp_path / "ws")
    manager = make_plugin_manager(load_entrypoints=False, extra=[("empty", EmptyLane())])
    distill(ws, pm=manager, run_id="e", lanes=["empty_lane"])
    folder = ws.distill_dir("empty_lane", "e")
    header, body = card_of(folder)
    assert header["configs"] == [{"config_name": "default", "data_files": []}] and "dataset_info" not in header
    assert "nothing to load" in section(body, "Loading") and not BLOCK.findall(body)
    # not the manifest read as a one-row dataset
    with pytest.raises(datasets.exceptions.DataFilesNotFoundError):
        datasets.load_dataset(str(folder))


def test_a_folder_without_parquet_copies_still_loads_with_load_lane(synthetic, tmp_path):
    """Folders distilled before the Parquet copies existed: load_lane falls back to the typed JSONL."""
    import shutil

    old = tmp_path / "old"
    shutil.copytree(synthetic.distill_dir("dpo", "mixed"), old)
    shutil.rmtree(old / "data")
    manifest = manifest_of(old)
    manifest["files"] = {k: v for k, v in manifest["files"].items() if not k.startswith("data/")}
    (old / "manifest.json").write_text(json.dumps(manifest))
    new, legacy = load_lane(synthetic.distill_dir("dpo", "mixed")), load_lane(old)
    assert {s: d["record_uid"] for s, d in legacy.items()} == {s: d["record_uid"] for s, d in new.items()}
    assert all(legacy[s].features == new[s].features for s in new)


# -- the pieces ---------------------------------------------------------------------------------


def test_yaml_features_match_datasets_own_yaml_form(synthetic):
    for lane in LANES:
        features = manifest_of(synthetic.distill_dir(lane, "mixed"))["features"]
        assert yaml_features(features) == datasets.Features.from_dict(features)._to_yaml_list(), lane
        assert arrow_schema(features) == datasets.Features.from_dict(features).arrow_schema.remove_metadata(), lane


def test_render_yaml_round_trips_awkward_strings():
    data = {"pretty_name": 'Moonshine "odd": lane #1', "tags": ["yes", "null", "n<1K", "1e3", "ünïcode ✓", "a\tb",
                                                             "\u0085x", "😀"],
            "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": ["data/a.parquet"]}]}],
            "empty": [], "nested": [[1, True]]}
    assert yaml.safe_load(render_yaml(data)[len("---\n"):-len("---\n")]) == data


def test_data_configs_leave_converted_and_jsonl_out():
    files = ["README.md", "converted/openai/train.a.jsonl", "data/eval.b.parquet", "data/train.a.parquet",
             "data/train.b.parquet", "data/train.mix.parquet", "manifest.json", "train.a.jsonl"]
    assert data_configs(files) == {
        "default": {"train": ["data/train.a.parquet", "data/train.b.parquet"], "eval": ["data/eval.b.parquet"]},
        "mix": {"train": ["data/train.mix.parquet"]}}
    assert data_configs(["train.a.jsonl"]) == {"default": {}}


def test_write_parquet_types_conflicting_shapes_as_json_text(tmp_path):
    """A plugin column that holds an int in one row and text in another is typed string (features.merge);
    the Parquet copy keeps the text and writes the other value as its JSON text, where Arrow would refuse."""
    rows = [{"x": 1, "m": [{"role": "user", "content": "hi"}], "f": 0.5},
            {"x": "one", "m": [], "f": 2},
            {"x": None, "m": [{"role": "assistant", "content": {"a": 1}}]}]
    collector = FeatureCollector()
    for row in rows:
        collector.add(row)
    features = collector.features()
    source = tmp_path / "train.p.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert write_parquet(source, tmp_path / "a.parquet", features) == 3
    assert pq.read_table(tmp_path / "a.parquet").to_pylist() == [
        {"f": 0.5, "m": [{"content": "hi", "role": "user"}], "x": "1"},
        {"f": 2.0, "m": [], "x": "one"},
        {"f": None, "m": [{"content": '{"a":1}', "role": "assistant"}], "x": None}]
    write_parquet(source, tmp_path / "b.parquet", features)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


@pytest.mark.parametrize("block_bytes", [16 << 20, 64])
def test_write_parquet_fills_absent_keys_and_survives_rows_longer_than_a_block(tmp_path, monkeypatch, block_bytes):
    """The Arrow reader's path (a block per row group) and, for rows longer than a block, the row-by-row
    path give the same typed rows: keys a row or message lacks come back as None."""
    import moonshine_core.distill.parquet as parquet

    monkeypatch.setattr(parquet, "BLOCK_BYTES", block_bytes)
    row_by_row = []
    python_tables = parquet._python_tables
    monkeypatch.setattr(parquet, "_python_tables", lambda *args: row_by_row.append(1) or python_tables(*args))
    rows = [{"a": 1, "m": [{"role": "user", "content": "x" * 200}], "t": "2026-01-01T00:00:00Z"},
            {"m": [{"role": "assistant"}], "b": True},
            {"a": 3, "m": [], "b": False}]
    collector = FeatureCollector()
    for row in rows:
        collector.add(row)
    features = collector.features()
    source = tmp_path / "train.p.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert write_parquet(source, tmp_path / "out.parquet", features) == 3
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [shaped(r, features) for r in rows]
    assert pq.read_table(tmp_path / "out.parquet")["t"][0].as_py() == "2026-01-01T00:00:00Z"   # text stays text
    assert bool(row_by_row) == (block_bytes == 64)


# -- real exports -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from real_fixtures import merged_real_workspace

    manager = make_plugin_manager()
    ws, _ = merged_real_workspace(tmp_path_factory.mktemp("real-packaging") / "ws")
    distill(ws, pm=manager, run_id="mixed", mix=True)
    distill(ws, pm=manager, run_id="plain")
    return ws


@pytest.mark.real_exports
@pytest.mark.parametrize("lane", LANES)
def test_real_lane_folders_load_with_load_dataset(real, lane, monkeypatch):
    for run_id in ("mixed", "plain"):
        folder = real.distill_dir(lane, run_id)
        ds = check_folder(folder, mixed=run_id == "mixed")
        print(f"real-export {lane}/{run_id}: load_dataset(folder) ->", {s: len(d) for s, d in ds.items()})
    scope = run_card_example(real.distill_dir(lane, "mixed"), monkeypatch)
    assert sum(len(d) for d in scope["ds"].values()) == manifest_of(real.distill_dir(lane, "mixed"))["counts"]["rows"]
