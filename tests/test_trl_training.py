"""TRL trains on every lane: SFT (conversational, agentic code), DPO, KTO and GRPO with the shipped
reward functions, two steps each on the CPU, on lanes distilled from ../shared/real-exports.

The model is a two-layer Qwen2 with random weights and the tokenizer is trained on the lane rows
on the spot (tests/trl_fixtures.py), so nothing comes from the hub. Each run takes a handful of
the lane's shortest rows: what is checked is that TRL accepts the rows as written and trains on
them (finite losses, the masks it builds from them), not what the model learns. Skips when torch,
transformers, trl or the exports are absent.
"""

from __future__ import annotations

import functools
import math
import sys
from collections import defaultdict
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import trl_fixtures as tf  # noqa: E402  (sets HF_HUB_OFFLINE before transformers is imported)

pytest.importorskip("torch")
pytest.importorskip("transformers")
trl = pytest.importorskip("trl")

from moonshine_core.distill import load_lane  # noqa: E402

pytestmark = pytest.mark.real_exports

LANES = ("conversational", "agentic_code", "dpo", "kto", "grpo")


@pytest.fixture(scope="module")
def lanes(tmp_path_factory) -> dict[str, Path]:
    return tf.distill_real_exports(tmp_path_factory.mktemp("trl-real") / "ws", LANES)


@pytest.fixture(scope="module")
def checkpoint(lanes, tmp_path_factory) -> str:
    texts = (text for folder in lanes.values() for text in tf.lane_texts(folder))
    return tf.tiny_checkpoint(tmp_path_factory.mktemp("tiny-model"), texts)


@pytest.fixture
def tokenizer(checkpoint):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint)


def shortest(folder: Path, n: int, where=lambda row: True):
    """The ``n`` shortest training rows of a lane folder that satisfy ``where``."""
    ds = load_lane(folder, split="train").filter(where)
    assert len(ds), f"no training row in {folder} satisfies the filter"
    return ds.sort("approx_tokens").select(range(min(n, len(ds))))


def trained(trainer) -> list[dict]:
    """Train; check TRL took its two steps on finite losses; return the log history."""
    trainer.train()
    history = trainer.state.log_history
    assert trainer.state.global_step == 2, history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses), history
    return history


@pytest.mark.parametrize("lane", ["conversational", "agentic_code"])
def test_sft_trains_on_the_assistant_turns(lane, lanes, checkpoint, tokenizer, tmp_path):
    rows = shortest(lanes[lane], 4)
    trainer = trl.SFTTrainer(model=checkpoint, processing_class=tokenizer, train_dataset=rows,
                             args=tf.capped(trl.SFTConfig)(output_dir=str(tmp_path), assistant_only_loss=True))
    # The template's generation markers found assistant text in every row, and only there: the
    # loss reads some tokens of each row (labels) and leaves the others out (-100).
    labels = trainer.train_dataset["labels"]
    assert labels and all(-100 in row and any(t != -100 for t in row) for row in labels)
    trained(trainer)


def test_dpo_trains_on_preference_pairs(lanes, checkpoint, tokenizer, tmp_path):
    rows = shortest(lanes["dpo"], 4)
    trainer = trl.DPOTrainer(model=checkpoint, processing_class=tokenizer, train_dataset=rows,
                             args=tf.capped(trl.DPOConfig)(output_dir=str(tmp_path)))
    history = trained(trainer)
    assert all(math.isfinite(entry["rewards/margins"]) for entry in history if "rewards/margins" in entry)


def test_kto_trains_on_both_labels(lanes, checkpoint, tokenizer, tmp_path):
    from datasets import concatenate_datasets

    rows = concatenate_datasets([shortest(lanes["kto"], 2, lambda r: r["label"]),
                                 shortest(lanes["kto"], 2, lambda r: not r["label"])])
    assert sorted(rows["label"]) == [False, False, True, True]
    trainer = trl.KTOTrainer(model=checkpoint, processing_class=tokenizer, train_dataset=rows,
                             args=tf.capped(trl.KTOConfig)(output_dir=str(tmp_path)))
    trained(trainer)


def test_grpo_trains_on_shipped_rewards_that_differ(lanes, checkpoint, tokenizer, tmp_path):
    from moonshine_core import rewards

    seen: dict[str, list] = defaultdict(list)

    def recorded(func):
        # Same name, so TRL logs it as the shipped function; the values are kept to check them.
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            out = func(*args, **kwargs)
            seen[func.__name__].extend(out)
            return out
        return wrapper

    funcs = [rewards.accuracy_reward, rewards.answer_similarity_reward, rewards.format_reward]
    rows = shortest(lanes["grpo"], 2)
    trainer = trl.GRPOTrainer(model=checkpoint, processing_class=tokenizer, train_dataset=rows,
                              reward_funcs=[recorded(f) for f in funcs],
                              args=tf.capped(trl.GRPOConfig)(output_dir=str(tmp_path)))
    history = trained(trainer)
    steps = [entry for entry in history if "reward" in entry]
    print("GRPO rewards per step:", [{k: v for k, v in entry.items() if k.startswith("reward")} for entry in steps])
    # Two steps of four completions each, every one scored by every function with a float.
    generated = 2 * tf.CAPS["GRPOConfig"]["num_generations"]
    for func in funcs:
        values = seen[func.__name__]
        assert len(values) == generated and all(isinstance(v, float) for v in values), (func.__name__, values)
        for entry in steps:
            assert math.isfinite(entry[f"rewards/{func.__name__}/mean"]), entry
    # A random model's completions are all wrong, but the graded reward still tells them apart:
    # GRPO has an advantage to learn from.
    assert len(set(seen["answer_similarity_reward"])) > 1, seen["answer_similarity_reward"]
    assert any(entry["reward_std"] > 0 for entry in steps), steps
