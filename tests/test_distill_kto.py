"""The KTO lane on synthetic trees: one row per answer with a label signal (thumbs, a correction, a
confirmation, a conservative continuation), none without one, and TRL's unpaired preference shape."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill import LaneContext, distill, kto, load_lane  # noqa: E402
from moonshine_core.distill.messages import message  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402


def pm():
    return make_plugin_manager(load_entrypoints=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = fx.make_mash(tmp_path_factory.mktemp("ws"))
    result = distill(ws, pm=pm(), run_id="kto_test", lanes=["kto"])
    rows = fx.lane_rows(ws, "kto", "kto_test")
    return ws, result, {(r["conversation_id"], r["completion_message_ids"][-1]): r for r in rows}


def emit(records):
    conv = next(r for r in records if hasattr(r, "messages"))
    feedback = [r for r in records if r.__class__.__name__ == "Feedback"]
    ctx = LaneContext(provider="chatgpt", provider_run_id="r", conversation_id=conv.conversation_id,
                      conversation_uid="u", raw_sha256=None, feedback=feedback)
    return {r["completion_message_ids"][-1]: r for r in kto.emit(conv, ctx)}


def test_thumbs_feedback_labels_each_rated_answer(run):
    _, _, rows = run
    down, up = rows[("c-thumbs", "a1")], rows[("c-thumbs", "a2")]
    assert down["label"] is False and down["label_source"] == "thumbs_down" and down["feedback"] == "down"
    assert down["completion"] == [message("assistant", "3 km is 4.83 miles.")]
    assert down["on_active_branch"] is False and down["follow_up"] is None
    assert up["label"] is True and up["label_source"] == "thumbs_up" and up["follow_up"] == "continued"
    assert [m["role"] for m in up["prompt"]] == ["user"] and up["model"] == "gpt-4o"


def test_next_turn_corrects_confirms_or_continues(run):
    _, _, rows = run
    corrected = rows[("c-correct", "k2")]
    assert corrected["label"] is False and corrected["label_source"] == "user_corrected"
    assert corrected["follow_up_message_id"] == "v3"
    confirmed = rows[("c-correct", "k3")]
    assert confirmed["label"] is True and confirmed["label_source"] == "user_confirmed"
    # The confirmed answer is trained in its real context: the corrected answer and the correction are in its prompt.
    assert [m["content"][:6] for m in confirmed["prompt"]] == ["Write ", "def re", "No, th"]
    assert rows[("c-math", "m2")]["label_source"] == "user_confirmed"
    continued = rows[("c-regen", "r3")]   # "Lovely, now one about snow."
    assert continued["label"] is True and continued["label_source"] == "user_continued"
    assert "weak_label_source" in continued["filter_flags"]


def test_answers_without_a_signal_give_no_row(run):
    _, result, rows = run
    convs = {cid for cid, _ in rows}
    # c-plain: one exchange, nothing follows; c-sbs: no follow-up (the DPO lane has the choice);
    # c-tools: the final answer has no follow-up and the tool turns cannot be completions.
    assert not convs & {"c-plain", "c-plain-claude", "c-sbs", "c-tools"}
    # Abandoned regenerations and the last answer of a branch say nothing either.
    assert not {("c-regen", "r1"), ("c-regen", "r2"), ("c-regen", "r4"), ("c-correct", "k4")} & set(rows)
    assert result.lanes["kto"].rows == len(rows) == 8
    assert result.lanes["kto"].left_out == {}


def test_every_row_has_the_trl_unpaired_preference_shape(run):
    ws, _, rows = run
    lane = pm().lanes()["kto"]
    for row in rows.values():
        assert lane.validate(row) is None
        assert row["prompt"][-1]["role"] == "user" and isinstance(row["label"], bool)
        assert [m["role"] for m in row["completion"]] == ["assistant"] and row["completion"][0]["content"]
    manifest = json.loads((ws.distill_dir("kto", "kto_test") / "manifest.json").read_text())
    assert manifest["counts"]["by_label"] == {"False": 3, "True": 5}
    assert manifest["counts"]["by_label_source"] == {"thumbs_down": 1, "thumbs_up": 1, "user_confirmed": 3,
                                                     "user_continued": 1, "user_corrected": 2}
    card = (ws.distill_dir("kto", "kto_test") / "README.md").read_text()
    assert "KTOTrainer" in card and "Rows by label" in card


def test_lane_loads_with_datasets(run):
    pytest.importorskip("datasets")
    ws, _, rows = run
    ds = load_lane(ws.distill_dir("kto", "kto_test"))
    assert sum(len(split) for split in ds.values()) == len(rows)
    for split in ds.values():
        assert split.features["label"].dtype == "bool"
        assert all(p[-1]["role"] == "user" for p in split["prompt"])


def test_sharegpt_copy_carries_kto_tag(run):
    ws, _, rows = run
    converted = []
    for path in sorted(ws.distill_dir("kto", "kto_test").glob("converted/sharegpt/*.jsonl")):
        converted.extend(fx.read_jsonl(path))
    assert len(converted) == len(rows)
    by_uid = {r["record_uid"]: r for r in rows.values()}
    for row in converted:
        assert row["kto_tag"] is by_uid[row["id"]]["label"]
        assert row["conversations"][-1]["from"] == "gpt" and row["conversations"][0]["from"] == "human"
    assert not list(ws.distill_dir("kto", "kto_test").glob("converted/openai/*"))   # OpenAI has no KTO form


def test_rating_wins_refusals_and_hesitant_turns_give_no_inferred_label():
    rows = emit(fx.kto_conversation())
    assert set(rows) == {"n2", "n7"}
    assert rows["n2"]["label"] is False and rows["n2"]["on_active_branch"] is False   # rated down, abandoned
    # n3 ("Actually, make it shorter" follows), n5 (a refusal the user pushed back on), n9 (last): no row.
    conflict = rows["n7"]
    assert conflict["label"] is True and conflict["label_source"] == "thumbs_up"
    assert conflict["follow_up"] == "corrected" and "label_conflict" in conflict["lane_flags"]


def test_a_rated_tool_turn_gives_no_row():
    records = fx.tool_conversation("c-rated-tools")
    conv = records[0]
    records.append(fx.Feedback(feedback_id="t1", rating="thumbs_up", conversation_id=conv.conversation_id,
                               message_id="x6"))
    assert emit(records) == {}


def test_follow_up_reading():
    assert kto.follow_up("No, that's wrong.") == "corrected"
    assert kto.follow_up("Traceback (most recent call last):\n  File 'x'") == "corrected"
    assert kto.follow_up("Perfect, thanks!") == "confirmed"
    assert kto.follow_up("And 5 km?") == "continued"
    for unclear in ("Actually, make it shorter.", "Why?", "But what about tabs?", "Can you rewrite it in French?",
                    "Here is the whole log:\n" + "INFO ok\n" * 100 + "ValueError: bad value"):   # error past the head
        assert kto.follow_up(unclear) == "unclear", unclear


def test_validate_rejects_what_ktotrainer_cannot_take():
    [row] = [r for r in emit(fx.thumbs_conversation()).values() if r["label"] is False]
    assert kto.validate(row) is None
    bad = [({"prompt": row["prompt"] + [message("assistant", "x")]}, "prompt_must_end_on_user"),
           ({"completion": [message("tool", "out", tool_call_id="call_1", name="Bash")]},
            "completion_must_be_assistant_only"),
           ({"completion": [message("assistant", "  ")]}, "completion_empty"),
           ({"completion": []}, "completion_empty_messages"),
           ({"label": "false"}, "label_not_bool")]
    for change, reason in bad:
        assert kto.validate({**row, **change}) == reason
