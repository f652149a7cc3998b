"""Acceptance: real exports from ../shared/real-exports, ingested, archived, merged and distilled.

Every lane that has signal in these exports must produce rows that load with
``datasets`` and pass the lanes' TRL rules. Skips cleanly when the exports,
the provider plugins, the archive/merge stage or ``datasets`` are absent.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from moonshine_core.distill.grpo import LEFT_OUT_REASONS

sys.path.insert(0, str(Path(__file__).parent))
from real_fixtures import PICKS, REAL, merged_real_workspace  # noqa: E402,F401  (PICKS: other modules import it here)

LANES = ("dpo", "kto", "grpo", "agentic_code", "conversational")
#: Left-out reasons docs/lanes.md documents as rules rather than lane bugs (GRPO: code runs that cannot be,
#: or were not, reproduced).
DOCUMENTED_LEFT_OUT = {"invalid_row:chosen_acknowledges_absent_turn", "invalid_row:no_code_tool_call",
                       *(f"invalid_row:{reason}" for reason in LEFT_OUT_REASONS)}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "lanes.md"

pytestmark = pytest.mark.real_exports


@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    pytest.importorskip("datasets")
    from moonshine_core.distill import distill
    from moonshine_core.plugins import make_plugin_manager

    pm = make_plugin_manager()
    ws, ingested = merged_real_workspace(tmp_path_factory.mktemp("real-distill") / "ws")
    result = distill(ws, pm=pm, run_id="distill_real", mix=True)
    return ws, result, sorted(set(ingested))


def test_every_lane_with_signal_has_rows_that_load(distilled):
    from moonshine_core.distill import load_lane
    from moonshine_core.plugins import make_plugin_manager

    lanes = make_plugin_manager(load_entrypoints=False).lanes()

    ws, result, providers = distilled
    counts = {lane: result.lanes[lane].by_provider for lane in LANES}
    print("real-export rows per lane and provider:", json.dumps(counts, sort_keys=True))
    # These exports hold regenerate branches, comparisons, code runs and tool sessions: every lane has signal.
    for lane in LANES:
        assert result.lanes[lane].rows > 0, (lane, result.lanes[lane].left_out)
    assert set(counts["conversational"]) == set(providers)
    for lane in LANES:
        folder = ws.distill_dir(lane, "distill_real")
        ds = load_lane(folder)
        assert sum(len(split) for split in ds.values()) == result.lanes[lane].rows
        for split in ds.values():
            for row in split:
                assert lanes[lane].validate(row) is None
        for name in sorted(folder.glob("converted/*/*.jsonl")):
            assert all(json.loads(line) for line in name.read_text().splitlines())


def test_real_rows_carry_provenance_and_no_invalid_rows(distilled):
    ws, result, _ = distilled
    for lane in LANES:
        manifest = json.loads((ws.distill_dir(lane, "distill_real") / "manifest.json").read_text())
        assert not [k for k in manifest["left_out"] if k.startswith(("invalid_row", "plugin_error"))
                    and k not in DOCUMENTED_LEFT_OUT], manifest["left_out"]
        for name in manifest["files"]:
            if "/" in name:
                continue
            for line in (ws.distill_dir(lane, "distill_real") / name).read_text().splitlines():
                row = json.loads(line)
                assert row["provider_run_id"] and row["record_uid"] and row["source_message_ids"]
                assert row["lane"] == lane and row["split"] in ("train", "eval")


def test_kto_rows_have_both_labels(distilled):
    from moonshine_core.distill import load_lane

    ws, _, _ = distilled
    ds = load_lane(ws.distill_dir("kto", "distill_real"))
    balance = Counter((row["provider"], row["label"], row["label_source"]) for split in ds.values() for row in split)
    print("real-export KTO rows per provider, label and source:", sorted(balance.items()))
    labels = Counter(label for (_, label, _), n in balance.items() for _ in range(n))
    assert labels[True] and labels[False], labels
    for (_, label, source), _ in balance.items():
        assert label is (source in ("thumbs_up", "user_confirmed", "user_continued"))


def documented_recipes() -> list[tuple[str, str]]:
    """``(section, code)`` of every loading recipe in the DPO and KTO sections of docs/lanes.md."""
    out = []
    for part in re.split(r"^## ", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)[1:]:
        title = part.splitlines()[0]
        if title in ("DPO (`dpo`)", "KTO (`kto`)"):
            out += [(title, code) for code in re.findall(r"```python\n(.*?)```", part, re.DOTALL)
                    if "load_dataset" in code]
    return out


def runnable(code: str, folder) -> str:
    """A recipe up to its trainer (neither TRL nor a model here), reading ``folder(lane)``."""
    lines = []
    for line in code.splitlines():
        if line.startswith("trainer ="):
            break
        if not line.startswith("from trl import"):
            lines.append(line)
    return re.sub(r'"reports/distillations/(\w+)/[^"]*"', lambda m: repr(str(folder(m.group(1)))), "\n".join(lines))


def test_every_documented_dpo_and_kto_recipe_yields_rows(distilled):
    from moonshine_core.distill import load_lane

    ws, _, _ = distilled
    recipes = documented_recipes()
    assert {title for title, _ in recipes} == {"DPO (`dpo`)", "KTO (`kto`)"}
    for title, code in recipes:
        scope: dict = {}
        exec(runnable(code, lambda lane: ws.distill_dir(lane, "distill_real")), scope)
        sizes = {name: len(split) for name, split in scope["ds"].items()}
        print(title, "recipe rows on the real exports:", sizes)
        assert sizes and all(sizes.values()), (title, sizes)
    # The documented "why not": strong pairs only come from ChatGPT's comparisons and thumbs.
    dpo = load_lane(ws.distill_dir("dpo", "distill_real"))
    strong = Counter(row["provider"] for split in dpo.values() for row in split
                     if row["pair_source"] in ("side_by_side", "thumbs_pair"))
    assert set(strong) == {"chatgpt"}, strong


def test_every_tool_message_follows_its_call_in_agentic_and_dpo_rows(distilled):
    """The pairing rule: each tool message answers a call made earlier in the same row, once, and every
    agentic row holds a code call (code, shell or file edit)."""
    from moonshine_core.distill import load_lane
    from moonshine_core.distill.agentic import _decoded, is_code_call
    from moonshine_core.distill.messages import pair_problem

    ws, _, _ = distilled
    checked = Counter()
    for lane in ("agentic_code", "dpo"):
        ds = load_lane(ws.distill_dir(lane, "distill_real"))
        for split in ds.values():
            for row in split:
                runs = [row["messages"]] if lane == "agentic_code" else \
                    [row["prompt"] + row["chosen"], row["prompt"] + row["rejected"]]
                for messages in runs:
                    assert pair_problem(messages) is None, (lane, row["record_uid"], pair_problem(messages))
                    checked[lane] += sum(1 for m in messages if m["role"] == "tool")
                if lane == "agentic_code":
                    assert any(is_code_call(c["function"]["name"], _decoded(c["function"]["arguments"]))
                               for m in row["messages"] for c in m["tool_calls"] or []), row["record_uid"]
    print("real-export tool messages checked:", dict(checked))
    assert checked["agentic_code"] > 0
