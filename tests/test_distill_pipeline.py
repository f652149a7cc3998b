"""The distill pipeline: split by conversation, --mix quotas/weights, determinism, datasets loading,
converters, the distilled_conversations table and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill import DistillError, distill, load_lane  # noqa: E402
from moonshine_core.distill.converters import from_sharegpt  # noqa: E402
from moonshine_core.distill.grpo import RESERVED  # noqa: E402
from moonshine_core.distill.split import assign_split  # noqa: E402
from moonshine_core.errors import PluginError  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402
from moonshine_core.store import Store  # noqa: E402

LANES = ("dpo", "kto", "grpo", "agentic_code", "conversational")


def pm():
    return make_plugin_manager(load_entrypoints=False)


def many_records(n=40):
    """``n`` conversations per provider, each a regeneration pair + a math confirmation + a tool session."""
    out = {"chatgpt": [], "claude": []}
    for i in range(n):
        for provider in out:
            regen = fx.regeneration_conversation(f"{provider}-regen-{i}")[0]
            for m in regen.messages:   # distinct words per conversation: no near-duplicate clusters
                m.text += " " + " ".join(f"{provider}{i}word{k}" for k in range(40))
            out[provider].append(regen)
            conv = fx.math_conversation(f"{provider}-math-{i}")[0]
            conv.messages[0].text = f"What is {i} * 7 for case {provider} number {i}?"
            conv.messages[1].text = f"{i} * 7 = {i * 7}"
            out[provider].append(conv)
    return out


def test_split_never_separates_a_conversation(tmp_path):
    ws = fx.make_mash(tmp_path, many_records(), settings="[lanes]\neval_fraction = 0.3\n")
    distill(ws, pm=pm(), run_id="r")
    for lane in ("dpo", "grpo", "conversational"):
        splits = {}
        for row in fx.lane_rows(ws, lane, "r"):
            splits.setdefault((row["provider"], row["conversation_id"]), set()).add(row["split"])
        assert all(len(s) == 1 for s in splits.values())
        assert {"train", "eval"} <= {next(iter(s)) for s in splits.values()}, lane
    # the regeneration conversation's two DPO rows share a group, so a split
    dpo = fx.lane_rows(ws, "dpo", "r")
    assert len(dpo) == 2 * 2 * 40
    assert assign_split("x\x1fy", 0.0) == "train" and assign_split("x\x1fy", 0.9999999) == "eval"


def test_distilling_twice_is_byte_identical(tmp_path):
    ws = fx.make_mash(tmp_path)
    distill(ws, pm=pm(), run_id="run_first", mix=True)
    distill(ws, pm=pm(), run_id="run_second", mix=True)
    for lane in LANES:
        a, b = ws.distill_dir(lane, "run_first"), ws.distill_dir(lane, "run_second")
        files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
        files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
        assert files_a == files_b and files_a
        for rel in files_a:
            assert (a / rel).read_bytes() == (b / rel).read_bytes(), (lane, rel)
    manifest = json.loads((ws.distill_dir("dpo", "run_first") / "manifest.json").read_text())
    assert "run_first" not in json.dumps(manifest) and manifest["mash_content_sha256"]
    for name, info in manifest["files"].items():
        import hashlib

        assert hashlib.sha256((ws.distill_dir("dpo", "run_first") / name).read_bytes()).hexdigest() == info["sha256"]


def test_record_uid_is_stable_across_reimport_and_run_id(tmp_path):
    ws1 = fx.make_mash(tmp_path / "a")
    ws2 = fx.make_mash(tmp_path / "b", {p: r for p, r in fx.default_records().items()})
    # A different provider run id for the same export must not change any row's identity.
    with Store(ws2.mash_path) as store:
        store.conn.execute("UPDATE conversations SET provider_run_id = 'other_run'")
    distill(ws1, pm=pm(), run_id="x")
    distill(ws2, pm=pm(), run_id="y")
    for lane in LANES:
        uids1 = sorted(r["record_uid"] for r in fx.lane_rows(ws1, lane, "x"))
        uids2 = sorted(r["record_uid"] for r in fx.lane_rows(ws2, lane, "y"))
        assert uids1 == uids2 and len(set(uids1)) == len(uids1)


def test_mix_honours_quotas_and_reports_why(tmp_path):
    ws = fx.make_mash(tmp_path, many_records(10), settings="[mix]\nquotas = { chatgpt = 3, claude = 5 }\n")
    result = distill(ws, pm=pm(), run_id="m", mix=True, lanes=["dpo", "grpo"])
    mixed = fx.lane_rows(ws, "dpo", "m", group="mix")
    counts = {p: sum(1 for r in mixed if r["provider"] == p) for p in ("chatgpt", "claude")}
    assert counts == {"chatgpt": 3, "claude": 5}
    report = json.loads((ws.distill_dir("dpo", "m") / "manifest.json").read_text())["mix"]
    assert report["mode"] == "quotas"
    assert report["providers"]["chatgpt"]["contributed"] == 3
    assert report["providers"]["chatgpt"]["left_out"]["over_share"] == 20 - 3
    assert result.lanes["dpo"].mixed_rows == 8
    # quality ranking: the mixed rows are the highest-quality rows of their provider
    chatgpt = sorted((r for r in fx.lane_rows(ws, "dpo", "m", group="chatgpt")),
                     key=lambda r: (-r["quality_score"], r["record_uid"]))
    assert {r["record_uid"] for r in chatgpt[:3]} == {r["record_uid"] for r in mixed if r["provider"] == "chatgpt"}


def test_mix_weights_and_providers_left_out(tmp_path):
    ws = fx.make_mash(tmp_path, many_records(10), settings="[mix]\nweights = { claude = 1 }\n")
    distill(ws, pm=pm(), run_id="w", mix=True, lanes=["conversational"])
    mixed = fx.lane_rows(ws, "conversational", "w", group="mix")
    assert mixed and {r["provider"] for r in mixed} == {"claude"}
    report = json.loads((ws.distill_dir("conversational", "w") / "manifest.json").read_text())["mix"]
    assert report["providers"]["chatgpt"]["left_out"] == {"not_in_weights": 20}
    # Default (no [mix]): equal weights, so both providers contribute equally.
    ws2 = fx.make_mash(tmp_path / "eq", many_records(10))
    distill(ws2, pm=pm(), run_id="e", mix=True, lanes=["conversational"])
    mixed = fx.lane_rows(ws2, "conversational", "e", group="mix")
    assert sum(r["provider"] == "claude" for r in mixed) == sum(r["provider"] == "chatgpt" for r in mixed) > 0


def test_mix_excludes_duplicates(tmp_path):
    ws = fx.make_mash(tmp_path)
    distill(ws, pm=pm(), run_id="d", mix=True, lanes=["conversational"])
    mixed = fx.lane_rows(ws, "conversational", "d", group="mix")
    assert mixed and not any({"exact_duplicate", "near_duplicate"} & set(r["filter_flags"]) for r in mixed)


def test_lane_files_load_with_datasets_and_pass_trl_rules(tmp_path):
    datasets = pytest.importorskip("datasets")
    ws = fx.make_mash(tmp_path, {**fx.default_records(),
                                 "qwen": [*fx.tool_conversation("q-tools"), *fx.thumbs_conversation("q-thumbs")]})
    distill(ws, pm=pm(), run_id="load", mix=True)
    for lane in LANES:
        folder = ws.distill_dir(lane, "load")
        files = sorted(str(p) for p in folder.glob("*.jsonl"))
        assert files, lane
        for name in files:   # every file loads on its own, untyped
            datasets.load_dataset("json", data_files=name, split="train")
        # all providers at once need the manifest's types (a column may be null in one file only)
        features = datasets.Features.from_dict(json.loads((folder / "manifest.json").read_text())["features"])
        ds = datasets.load_dataset("json", data_files=files, split="train", features=features)
        assert len(ds) == sum(len(fx.read_jsonl(Path(f))) for f in files)
        assert len(load_lane(folder, [Path(f).name for f in files], split="train")) == len(ds)
        first = ds[0]
        if lane == "dpo":
            for col in ("prompt", "chosen", "rejected"):
                assert isinstance(first[col], list) and "role" in first[col][0]   # TRL is_conversational
            assert all(row[-1]["role"] in ("user", "tool") for row in ds["prompt"])
        elif lane == "kto":
            assert isinstance(first["completion"], list) and "role" in first["completion"][0]
            assert all(row[-1]["role"] == "user" for row in ds["prompt"]) and ds.features["label"].dtype == "bool"
        elif lane == "grpo":
            assert not (RESERVED & set(ds.column_names))
            assert all(row[-1]["role"] == "user" for row in ds["prompt"])
        else:
            assert all(m[-1]["role"] == "assistant" for m in ds["messages"])
        for name in folder.glob("converted/*/*.jsonl"):
            datasets.load_dataset("json", data_files=str(name), split="train")


def test_converters_round_trip_text_and_tool_calls(tmp_path):
    ws = fx.make_mash(tmp_path)
    distill(ws, pm=pm(), run_id="c", lanes=["agentic_code", "conversational", "dpo"])
    for lane in ("agentic_code", "conversational"):
        canon = fx.lane_rows(ws, lane, "c")
        share = {}
        for path in ws.distill_dir(lane, "c").glob("converted/sharegpt/*.jsonl"):
            share.update({r["id"]: r for r in fx.read_jsonl(path)})
        openai = []
        for path in sorted(ws.distill_dir(lane, "c").glob("converted/openai/*.jsonl")):
            openai.extend(fx.read_jsonl(path))
        assert len(openai) == len(canon)
        for row in canon:
            back = from_sharegpt(share[row["record_uid"]])
            text = [(m["role"], m["content"]) for m in row["messages"] if m["content"]]
            back_text = [(m["role"], m["content"]) for m in back if m["content"]]
            assert text == back_text
            calls = [(c["function"]["name"], json.loads(c["function"]["arguments"]))
                     for m in row["messages"] for c in (m["tool_calls"] or [])]
            back_calls = [(c["name"], c["arguments"]) for m in back for c in (m.get("tool_calls") or [])]
            assert calls == back_calls
    pref = []
    for path in ws.distill_dir("dpo", "c").glob("converted/openai/*.jsonl"):
        pref.extend(fx.read_jsonl(path))
    assert pref and all(r["input"]["messages"][-1]["role"] == "user" and len(r["preferred_output"]) == 1 for r in pref)


def test_distilled_conversations_table_counts_per_provider(tmp_path):
    ws = fx.make_mash(tmp_path)
    distill(ws, pm=pm(), run_id="t")
    with Store(ws.mash_path) as store:
        got = {(r["lane"], r["provider"]): r["n"] for r in store.rows(
            "SELECT lane, provider, count(*) AS n FROM distilled_conversations WHERE run_id = 't' GROUP BY 1, 2")}
        scores = store.conn.execute("SELECT count(DISTINCT name) FROM scores").get
    assert got[("agentic_code", "claude")] == 1 and ("agentic_code", "chatgpt") not in got
    assert got[("conversational", "chatgpt")] == 6
    assert scores >= 8


def test_refusals_no_mash_and_taken_run_ids(tmp_path):
    from moonshine_core.workspace import Workspace

    with pytest.raises(DistillError, match="no mash"):
        distill(Workspace.open(tmp_path / "empty"), pm=pm())
    ws = fx.make_mash(tmp_path / "ws")
    with pytest.raises(DistillError, match="unknown lane"):
        distill(ws, lanes=["sft"], pm=pm())
    distill(ws, pm=pm(), run_id="same", lanes=["grpo"])
    with pytest.raises(DistillError, match="already exists"):
        distill(ws, pm=pm(), run_id="same", lanes=["grpo"])
    bad = fx.make_mash(tmp_path / "bad", settings='[lanes]\nreasoning_policy = "keep_all"\n')
    with pytest.raises(DistillError, match="reasoning_policy"):
        distill(bad, pm=pm())
    assert not list((ws.state_dir / "staging").glob("*"))


def test_a_broken_lane_plugin_is_reported_and_skipped(tmp_path):
    from moonshine_core import hookimpl

    class Broken:
        @hookimpl
        def moonshine_emit(self, lane, conversation, context):
            raise RuntimeError("boom")

    ws = fx.make_mash(tmp_path)
    manager = make_plugin_manager(load_entrypoints=False, strict=False, extra=[("broken", Broken())])
    result = distill(ws, pm=manager, run_id="b", lanes=["conversational"])
    assert result.lanes["conversational"].rows == 9
    assert result.lanes["conversational"].left_out["plugin_error:broken:RuntimeError"] == 9


def test_cli_distill_json(tmp_path, moonshine_exe):
    ws = fx.make_mash(tmp_path)
    out = subprocess.run([moonshine_exe, "--workspace", str(ws.root), "--json", "distill", "--lanes", "dpo,grpo",
                          "--mix", "--run-id", "distill_cli"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data["lanes"]) == {"dpo", "grpo"} and data["lanes"]["dpo"]["rows"] == 6 and data["mix"] is True
    assert out.stderr == ""
    help_text = subprocess.run([moonshine_exe, "distill", "--help"], capture_output=True, text=True).stdout
    assert "Examples" in help_text and "--mix" in help_text and "quotas" in help_text
    again = subprocess.run([moonshine_exe, "--workspace", str(ws.root), "distill", "--run-id", "distill_cli"],
                           capture_output=True, text=True)
    assert again.returncode == 1 and again.stderr.count("\n") == 1 and "already exists" in again.stderr


@pytest.fixture
def toy_lane():
    """The test plugin of tests/toy/toy_lane.py (a lane beside the built-in five)."""
    sys.path.insert(0, str(Path(__file__).parent / "toy"))
    try:
        import toy_lane

        yield toy_lane
    finally:
        sys.path.pop(0)


def test_a_lane_from_a_plugin_gets_its_folder_manifest_and_card(tmp_path, toy_lane):
    ws = fx.make_mash(tmp_path)
    manager = make_plugin_manager(load_entrypoints=False, extra=[("toy-lane", toy_lane)])
    assert list(manager.lanes())[-1] == "toy_qa" and manager.lane_owners["toy_qa"] == "toy-lane"
    result = distill(ws, pm=manager, run_id="five", mix=True)
    assert set(result.lanes) == {"dpo", "kto", "grpo", "agentic_code", "conversational", "toy_qa"}
    folder = ws.distill_dir("toy_qa", "five")
    rows = fx.lane_rows(ws, "toy_qa", "five")
    assert rows and result.lanes["toy_qa"].rows == len(rows)
    for row in rows:   # the pipeline stamps provenance on a plugin lane's rows like on the built-in ones
        assert row["lane"] == "toy_qa" and row["record_uid"] and row["source_message_ids"]
        assert row["split"] in ("train", "eval") and row["content_sha256"] and row["provider_run_id"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["lane"] == "toy_qa" and manifest["counts"]["rows"] == len(rows)
    assert "by_answer_chars" in manifest["counts"] and manifest["mix"] is not None
    assert any(name.startswith("converted/upper/") for name in manifest["files"])
    card = (folder / "README.md").read_text()
    assert "Toy question/answer pairs" in card and "prompt/completion rows" in card
    # Only this run's six lanes: [lanes] enabled, when unset, means every registered lane.
    assert ws.distill_dir("toy_qa", "five").is_dir()
    with pytest.raises(DistillError, match="unknown lane"):
        distill(ws, pm=pm(), run_id="six", lanes=["toy_qa"])


def test_a_raising_lane_is_counted_in_its_manifest_and_the_others_still_run(tmp_path, toy_lane):
    ws = fx.make_mash(tmp_path)
    manager = make_plugin_manager(load_entrypoints=False, strict=False, extra=[("broken", toy_lane.BrokenLane())])
    result = distill(ws, pm=manager, run_id="r", lanes=["broken_lane", "conversational"])
    assert result.lanes["broken_lane"].rows == 0
    assert result.lanes["broken_lane"].left_out == {"plugin_error:broken:KeyError": 9}
    assert result.lanes["conversational"].rows == 9
    strict = make_plugin_manager(load_entrypoints=False, strict=True, extra=[("broken", toy_lane.BrokenLane())])
    with pytest.raises(PluginError, match="lane broken_lane: emit failed: KeyError"):
        distill(ws, pm=strict, run_id="r2", lanes=["broken_lane"])
    assert not ws.distill_dir("broken_lane", "r2").exists()


def test_a_raising_scorer_is_counted_in_every_lane_manifest(tmp_path):
    from moonshine_core import hookimpl

    class Raiser:
        @hookimpl
        def moonshine_score(self, conversation):
            raise ValueError("scorer bug")

    ws = fx.make_mash(tmp_path)
    manager = make_plugin_manager(load_entrypoints=False, strict=False, extra=[("raiser", Raiser())])
    result = distill(ws, pm=manager, run_id="r", lanes=["conversational", "dpo"])
    for lane in ("conversational", "dpo"):
        assert result.lanes[lane].left_out["plugin_error:raiser:ValueError"] == 9
    assert result.lanes["conversational"].rows == 9
