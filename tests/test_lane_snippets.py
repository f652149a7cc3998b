"""Every Python block of docs/lanes.md runs as written on lanes distilled from ../shared/real-exports.

The page's preamble defines ``model``, ``tokenizer`` and ``folder``; here ``model`` (and any hub
id a block names) is a tiny random model saved to a local folder (tests/trl_fixtures.py) and
``folder`` the section's lane folder of a fresh distillation. Each lane section's **Train it**
block trains for two steps (TRL's configs are held to tiny settings, whatever a block passes);
every other block runs in full, builds its trainer if it has one, and must leave rows in each
dataset it loads and in its trainer's training set: a recipe that keeps nothing on the real
exports fails here (DPOTrainer would fail on it with a bare ``StopIteration``). Skips when torch,
transformers, trl or the exports are absent.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import trl_fixtures as tf  # noqa: E402  (sets HF_HUB_OFFLINE before transformers is imported)

pytest.importorskip("torch")
pytest.importorskip("transformers")
trl = pytest.importorskip("trl")

pytestmark = pytest.mark.real_exports

DOC = Path(__file__).resolve().parents[1] / "docs" / "lanes.md"
LANES = ("dpo", "kto", "grpo", "agentic_code", "conversational")
TRAIN_IT = "**Train it**"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
LANE_PATH = re.compile(r'"reports/distillations/(\w+)/[^"/]*(/[^"]*)?"')
HUB_MODEL = re.compile(r'(from_pretrained\(|model\s*=\s*)"[\w.-]+/[\w.-]+"')


class Block(NamedTuple):
    section: str        # the "## " heading it stands under ("" before the first)
    lane: str | None    # the lane that section documents
    lead: str           # the paragraph just before the block
    code: str

    @property
    def is_train_it(self) -> bool:
        return self.lead.startswith(TRAIN_IT)


def doc_blocks(text: str | None = None) -> list[Block]:
    """The Python blocks of docs/lanes.md with their section and lead paragraph."""
    text = DOC.read_text(encoding="utf-8") if text is None else text
    out = []
    for part in re.split(r"^(?=## )", text, flags=re.MULTILINE):
        heading = part.splitlines()[0][3:] if part.startswith("## ") else ""
        lane = re.search(r"\(`(\w+)`\)$", heading)
        for match in FENCE.finditer(part):
            paragraphs = [p.strip() for p in part[:match.start()].split("\n\n") if p.strip()]
            out.append(Block(heading, lane.group(1) if lane else None, paragraphs[-1] if paragraphs else "",
                             match.group(1)))
    return out


def preamble(blocks: list[Block]) -> Block:
    (found,) = [b for b in blocks if not b.section and TRAIN_IT in b.lead]
    return found


def block_id(block: Block) -> str:
    return block.lane or re.sub(r"\W+", "-", block.section or "intro").strip("-").lower()


BLOCKS = doc_blocks()
OTHER_BLOCKS = [b for b in BLOCKS if not b.is_train_it and b is not preamble(BLOCKS)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("snippets") / "ws"


@pytest.fixture(scope="module")
def lanes(workspace) -> dict[str, Path]:
    return tf.distill_real_exports(workspace, LANES)


@pytest.fixture(scope="module")
def checkpoint(lanes, tmp_path_factory) -> str:
    texts = (text for folder in lanes.values() for text in tf.lane_texts(folder))
    return tf.tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"), texts)


def localise(code: str, lane: str | None, lanes: dict[str, Path], workspace: Path, checkpoint: str) -> str:
    """A block pointed at what the test has: lane folders, the workspace, the tiny model."""
    if lane:
        code = code.replace('"reports/distillations/<lane>/', f'"reports/distillations/{lane}/')
    code = LANE_PATH.sub(lambda m: repr(str(lanes[m.group(1)]) + (m.group(2) or "")), code)
    code = code.replace('"~/moonshine"', repr(str(workspace)))
    return HUB_MODEL.sub(lambda m: m.group(1) + repr(checkpoint), code)


def run(block: Block, lanes, workspace, checkpoint, monkeypatch, tmp_path) -> dict:
    """The preamble then ``block``, localised, in ``tmp_path`` with TRL's configs capped."""
    for name in tf.CAPS:
        monkeypatch.setattr(trl, name, tf.capped(getattr(trl, name)))
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for part in (preamble(BLOCKS), block):
        code = localise(part.code, block.lane, lanes, workspace, checkpoint)
        exec(compile(code, f"docs/lanes.md ({block.section or 'intro'})", "exec"), scope)
    return scope


def test_every_lane_section_ends_with_one_train_it_block():
    for lane in LANES:
        in_section = [b for b in BLOCKS if b.lane == lane]
        assert [b.is_train_it for b in in_section].count(True) == 1, lane
        assert in_section[-1].is_train_it, f"{lane}: the Train it block is not the section's last"
        assert "trainer.train()" in in_section[-1].code, lane
    assert {"model", "tokenizer", "folder"} <= set(re.findall(r"^(\w+) =", preamble(BLOCKS).code, re.MULTILINE))


def test_doc_blocks_reads_sections_and_leads():
    text = ("intro\n\n**Train it** first:\n\n```python\nmodel = 1\n```\n\n## DPO (`dpo`)\n\n"
            "Words.\n\n```python\nx = 1\n```\n\n### Sub\n\n**Train it** here:\n\n```python\ntrainer.train()\n```\n"
            "\n## Scores\n\n```python\ny = 2\n```\n")
    blocks = doc_blocks(text)
    assert [(b.section, b.lane, b.is_train_it) for b in blocks] == [
        ("", None, True), ("DPO (`dpo`)", "dpo", False), ("DPO (`dpo`)", "dpo", True), ("Scores", None, False)]
    assert preamble(blocks).code == "model = 1\n"


def test_localise_points_paths_and_hub_ids_at_the_test_data(tmp_path):
    lanes = {"dpo": tmp_path / "dpo", "grpo": tmp_path / "grpo"}
    code = ('folder = "reports/distillations/<lane>/<run_id>"\n'
            'f = "reports/distillations/grpo/<run_id>/train.claude.jsonl"\n'
            'tok = AutoTokenizer.from_pretrained("meta-llama/Llama-3.1-8B-Instruct")\n'
            'model = "Qwen/Qwen2.5-0.5B-Instruct"\nws = Workspace.open("~/moonshine")\nmime = "text/html"\n')
    scope = {"AutoTokenizer": type("T", (), {"from_pretrained": staticmethod(lambda x: x)}),
             "Workspace": type("W", (), {"open": staticmethod(lambda x: x)})}
    exec(localise(code, "dpo", lanes, tmp_path / "ws", "/ckpt"), scope)
    assert scope["folder"] == str(tmp_path / "dpo") and scope["f"] == str(tmp_path / "grpo") + "/train.claude.jsonl"
    assert scope["tok"] == scope["model"] == "/ckpt" and scope["ws"] == str(tmp_path / "ws")
    assert scope["mime"] == "text/html"


@pytest.mark.parametrize("lane", LANES)
def test_train_it_block_trains(lane, lanes, workspace, checkpoint, monkeypatch, tmp_path):
    (block,) = [b for b in BLOCKS if b.lane == lane and b.is_train_it]
    trainer = run(block, lanes, workspace, checkpoint, monkeypatch, tmp_path)["trainer"]
    history = trainer.state.log_history
    assert trainer.state.global_step == 2, history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses), history
    if lane == "grpo":
        rewards = [v for entry in history for k, v in entry.items() if k.startswith("rewards/") and k.endswith("/mean")]
        assert rewards and all(math.isfinite(v) for v in rewards), history


@pytest.mark.parametrize("block", OTHER_BLOCKS, ids=[block_id(b) for b in OTHER_BLOCKS])
def test_every_other_block_runs_and_keeps_rows(block, lanes, workspace, checkpoint, monkeypatch, tmp_path):
    from datasets import Dataset, DatasetDict

    scope = run(block, lanes, workspace, checkpoint, monkeypatch, tmp_path)
    sizes = {}
    for name, value in scope.items():
        if isinstance(value, DatasetDict):
            sizes.update({f"{name}[{split!r}]": len(ds) for split, ds in value.items()})
        elif isinstance(value, Dataset):
            sizes[name] = len(value)
    if "trainer" in scope:
        # What is left after TRL's own drops (rows whose prompt alone fills max_length, which the
        # test holds lower than a block may ask, so this is the stricter check).
        sizes["trainer.train_dataset"] = len(scope["trainer"].train_dataset)
    print(block.section or "intro", "rows on the real exports:", sizes)
    assert all(sizes.values()), sizes
