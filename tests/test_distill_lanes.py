"""The built-in lanes on synthetic trees (KTO: test_distill_kto.py): right chosen/rejected per pair source, GRPO only with a checkable
signal, agentic trajectories with bounded outputs, conversational rows on the active branch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill import LaneContext, distill  # noqa: E402
from moonshine_core.plugins import make_plugin_manager  # noqa: E402
from moonshine_core.records import Conversation  # noqa: E402
from moonshine_core.workspace import LaneSettings  # noqa: E402


LANES = make_plugin_manager(load_entrypoints=False).lanes()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    ws = fx.make_mash(tmp_path_factory.mktemp("ws"))
    result = distill(ws, pm=make_plugin_manager(load_entrypoints=False), run_id="distill_test")
    return ws, result


def rows(run, lane):
    ws, _ = run
    return fx.lane_rows(ws, lane, "distill_test")


def by_source(run):
    out = {}
    for row in rows(run, "dpo"):
        out.setdefault((row["conversation_id"], row["pair_source"]), []).append(row)
    return out


def test_thumbs_pair_prefers_thumbs_up_over_thumbs_down(run):
    [row] = by_source(run)[("c-thumbs", "thumbs_pair")]
    assert row["chosen_message_ids"] == ["a2"] and row["rejected_message_ids"] == ["a1"]
    assert row["chosen"][-1]["content"] == "3 km is about 1.86 miles."
    assert row["rejected"][-1]["content"] == "3 km is 4.83 miles."
    assert row["chosen_feedback"] == "up" and row["rejected_feedback"] == "down"
    assert [m["role"] for m in row["prompt"]] == ["user"]


def test_side_by_side_follows_the_explicit_choice_not_the_active_branch(run):
    [row] = by_source(run)[("c-sbs", "side_by_side")]
    assert row["chosen_message_ids"] == ["b2"] and row["rejected_message_ids"] == ["b1"]
    assert row["comparison_source"] == "paragen" and row["chosen_is_inferred"] is False
    # The hidden system prompt never reaches the row.
    assert all("You are ChatGPT" not in m["content"] for m in row["prompt"])
    # The explicit choice wins over a regeneration reading of the same siblings.
    assert ("c-sbs", "regeneration") not in by_source(run)


def test_regeneration_chooses_the_continued_branch_one_row_per_rejected(run):
    pairs = by_source(run)[("c-regen", "regeneration")]
    assert sorted((r["chosen_message_ids"][-1], r["rejected_message_ids"][-1]) for r in pairs) == \
        [("r3", "r1"), ("r3", "r2")]
    assert {r["pair_group_id"] for r in pairs} == {"c-regen:q1"}
    assert all("weak_pair_source" in r["filter_flags"] for r in pairs)


def test_correction_pair_is_honest_about_what_the_later_answer_saw(run):
    [row] = by_source(run)[("c-correct", "correction")]
    assert row["rejected_message_ids"] == ["k2"] and row["chosen_message_ids"] == ["k3"]
    assert row["prompt_rewritten"] is True and row["chosen_context"] == "saw_rejected_and_correction"
    last = row["prompt"][-1]
    assert last["role"] == "user" and "reverses a string" in last["content"] and "AttributeError" in last["content"]
    assert row["margin"] < by_source(run)[("c-thumbs", "thumbs_pair")][0]["margin"]
    # "You're right." answered the rejected answer, which the prompt does not hold: the opener is stripped.
    assert row["chosen"][0]["content"].startswith("Use slicing:") and row["chosen_opener_stripped"] is True
    assert by_source(run)[("c-thumbs", "thumbs_pair")][0]["chosen_opener_stripped"] is False


def test_no_chosen_answer_opens_by_acknowledging_a_turn_its_prompt_lacks(tmp_path):
    from moonshine_core.distill import dpo

    ws = fx.make_mash(tmp_path, {"chatgpt": [*fx.apology_correction_conversation(), *fx.sbs_apology_conversation(),
                                             *fx.correction_conversation()]})
    result = distill(ws, pm=make_plugin_manager(load_entrypoints=False), run_id="r", lanes=["dpo"])
    # The apology opens onto "Here is the corrected answer": nothing complete is left, the pair is left out, counted.
    assert result.lanes["dpo"].left_out == {"invalid_row:chosen_acknowledges_absent_turn": 1}
    got = {(r["conversation_id"], r["pair_source"]): r for r in fx.lane_rows(ws, "dpo", "r")}
    assert ("c-apology", "correction") not in got
    # Any pair source: the side-by-side chosen answer apologised with no earlier answer in its prompt.
    sbs = got[("c-sbs-sorry", "side_by_side")]
    assert sbs["chosen"][0]["content"] == "13 is a prime number above 10."
    assert sbs["chosen_opener_stripped"] is True and sbs["chosen_chars"] == len(sbs["chosen"][0]["content"])
    for row in got.values():
        assert not dpo.acknowledges_unseen_turn(row["pair_source"], row["prompt"]) or \
            not dpo.opens_with_acknowledgement(row["chosen"][0]["content"])


@pytest.mark.parametrize("text, rest", [
    ("You're right. Use slicing: s[::-1] reverses any string.", "Use slicing: s[::-1] reverses any string."),
    ("You're absolutely right, and I apologize for the oversight. The list method sort() returns None.",
     "The list method sort() returns None."),
    ("Sorry, you're correct. The capital of Australia is Canberra, not Sydney.",
     "The capital of Australia is Canberra, not Sydney."),
    ("Vous avez raison, il vaut mieux lire le format depuis la configuration du client.",
     "Il vaut mieux lire le format depuis la configuration du client."),
    ("I apologize for the confusion. Here's the corrected code:\n\ndef f(): pass", None),
    ("You're right, there are other changes that I missed. Let me list them.", None),
    ("You're right!", None),
])
def test_acknowledgement_openers_are_stripped_only_when_a_complete_answer_remains(text, rest):
    from moonshine_core.distill import dpo

    assert dpo.opens_with_acknowledgement(text)
    assert dpo.strip_acknowledgement(text) == rest


def test_refusals_and_plain_answers_are_not_acknowledgements():
    from moonshine_core.distill import dpo

    for text in ("I'm sorry, but I can't help with that.", "I'm sorry to hear about your dog.",
                 "Sorting is O(n log n) for comparison sorts.", "Correct answers need sources."):
        assert not dpo.opens_with_acknowledgement(text), text


def test_every_dpo_row_passes_trl_rules(run):
    for row in rows(run, "dpo"):
        assert LANES["dpo"].validate(row) is None
        assert row["prompt"][-1]["role"] in ("user", "tool")
        assert row["chosen"] != row["rejected"]


def test_grpo_rows_only_with_a_checkable_signal(run):
    grpo = {r["conversation_id"]: r for r in rows(run, "grpo")}
    assert set(grpo) == {"c-math"}
    math = grpo["c-math"]
    assert math["task"] == "math" and math["solution"] == "391" and math["answer_source"] == "user_confirmed"
    # c-tools' verified run is a shell command (pytest): Moonshine re-runs Python only, so it is left out, counted
    # (code rows: tests/test_grpo_lane.py).
    assert run[1].lanes["grpo"].left_out == {"invalid_row:language_not_run": 1}
    for row in grpo.values():
        assert row["prompt"][-1]["role"] == "user"
        assert LANES["grpo"].validate(row) is None


def test_grpo_no_row_when_the_last_run_failed_or_nothing_confirms():
    conv = fx.tool_conversation("c-fail")[0]
    # Make the final run fail: no verified reference remains.
    conv.messages[4].tool_results[1].is_error = True
    ctx = LaneContext(provider="claude", provider_run_id="r", conversation_id="c-fail", conversation_uid="u",
                      raw_sha256=None)
    from moonshine_core.distill import grpo

    assert grpo.emit(conv, ctx) == []
    unconfirmed = fx.math_conversation("c-m2")[0]
    unconfirmed.messages[2].text = "No, that's wrong."
    assert grpo.emit(unconfirmed, ctx) == []
    no_status = fx.tool_conversation("c-nostatus")[0]
    for m in no_status.messages:
        for r in m.tool_results:
            r.is_error = None
    assert grpo.emit(no_status, ctx) == []


def test_agentic_trajectory_shape_outcome_and_bounded_outputs(run):
    [row] = rows(run, "agentic_code")
    msgs = row["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "tool", "assistant", "tool", "tool", "assistant"]
    assert msgs[1]["content"] == "Let me run the tests." and msgs[1]["tool_calls"][0]["id"] == msgs[2]["tool_call_id"]
    assert json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"]) == {"command": "pytest -q"}
    assert len(msgs[2]["content"]) < 4200 and "characters truncated" in msgs[2]["content"]
    assert row["tool_outputs_truncated"] == 1
    assert row["outcome"] == "resolved" and row["outcome_source"] == "tests_passed"
    assert row["n_tool_errors"] == 1 and row["assistant_turn_weights"] == [0, 1, 1]
    assert {t["function"]["name"] for t in json.loads(row["tools"])} == {"Bash", "Edit"}
    assert LANES["agentic_code"].validate(row) is None


def test_reasoning_policy_keep_raw_keeps_raw_reasoning_only():
    conv = fx.tool_conversation()[0]
    ctx = LaneContext(provider="claude", provider_run_id="r", conversation_id=conv.conversation_id,
                      conversation_uid="u", raw_sha256=None,
                      settings=LaneSettings(reasoning_policy="keep_raw"))
    from moonshine_core.distill import agentic

    [row] = agentic.emit(conv, ctx)
    assert row["messages"][-1]["reasoning_content"] == "The test expects lower case."
    assert row["reasoning_kind"] == "raw"
    conv.messages[-1].reasoning_kind = "summary"
    [row] = agentic.emit(conv, ctx)
    assert row["messages"][-1]["reasoning_content"] is None and row["reasoning_kind"] == "summary_dropped"


def test_conversational_uses_the_active_branch_and_alternates(run):
    conv = {r["conversation_id"]: r for r in rows(run, "conversational")}
    regen = conv["c-regen"]
    assert [m["content"][:10] for m in regen["messages"] if m["role"] == "assistant"] == \
        ["Drops tap ", "White hush"]
    for row in conv.values():
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles, roles[1:]))
        assert LANES["conversational"].validate(row) is None
    assert conv["c-correct"]["assistant_turn_weights"] == [0, 1, 1]
    # tool traffic is the agentic lane's: the conversational row keeps the visible text only
    assert all(m["tool_calls"] is None for m in conv["c-tools"]["messages"])


def test_secrets_pii_and_personal_values_are_redacted_and_counted(run):
    everything = json.dumps([rows(run, lane) for lane in ("dpo", "kto", "grpo", "agentic_code", "conversational")])
    assert fx.AWS_KEY not in everything
    assert "jane.doe@example.org" not in everything and "Jane Doe" not in everything
    plain = next(r for r in rows(run, "conversational") if r["conversation_id"] == "c-plain")
    assert plain["pii_redactions"] >= 2 and "pii:personal" in plain["pii_types"]
    tools = next(iter(rows(run, "agentic_code")))
    assert tools["secrets_redacted"] >= 1 and "contains_redactions" in tools["filter_flags"]


def test_feedback_text_never_reaches_rows(run):
    assert "wrong!" not in json.dumps(rows(run, "dpo"))


def test_provenance_block_on_every_row(run):
    ws, _ = run
    from moonshine_core.store import Store

    with Store(ws.mash_path) as store:
        raw = {r["conversation_id"]: r["raw_sha256"] for r in store.rows("SELECT conversation_id, raw_sha256 FROM conversations")}
    for lane in ("dpo", "kto", "grpo", "agentic_code", "conversational"):
        for row in rows(run, lane):
            for key in ("record_uid", "content_sha256", "source_message_ids", "provider", "provider_run_id",
                        "conversation_id", "source_sha256", "schema_version", "split", "filter_flags",
                        "signals", "signals_generator", "language", "exact_dup_group", "near_dup_cluster"):
                assert key in row, (lane, key)
            assert len(row["record_uid"]) == 64 and row["lane"] == lane
            assert row["source_sha256"] == raw[row["conversation_id"]]
            assert row["provider_run_id"] == f"{row['provider']}_20260101_000000"


def test_duplicates_across_providers_are_marked_not_dropped(run):
    conv = {(r["provider"], r["conversation_id"]): r for r in rows(run, "conversational")}
    a, b = conv[("chatgpt", "c-plain")], conv[("claude", "c-plain-claude")]
    assert a["near_dup_cluster"] == b["near_dup_cluster"] is not None
    assert a["is_cluster_rep"] != b["is_cluster_rep"]
    assert "near_duplicate" in b["filter_flags"] and a["split"] == b["split"]


def test_hook_lanes_register_the_builtin_lanes_which_emit_from_a_lane_context():
    pm = make_plugin_manager(load_entrypoints=False)
    assert list(pm.lanes()) == ["dpo", "kto", "grpo", "agentic_code", "conversational"]
    assert set(pm.lane_owners.values()) == {"builtin-lanes"}
    conv = fx.math_conversation()[0]
    ctx = LaneContext(provider="p", provider_run_id="r", conversation_id=conv.conversation_id,
                      conversation_uid="u", raw_sha256=None)
    assert LANES["grpo"].emit(conv, ctx) and LANES["conversational"].emit(conv, ctx)
    # The built-in lanes add no rows to other lanes through moonshine_emit.
    assert pm.emit("grpo", conv, ctx) == [] and pm.emit("toy", Conversation(conversation_id="x"), ctx) == []


# -- agentic: code classification, outcome evidence, pairing -----------------------------------------

from moonshine_core.distill import agentic  # noqa: E402
from moonshine_core.distill.messages import pair_problem  # noqa: E402
from moonshine_core.records import Message, ToolCall, ToolResult  # noqa: E402


@pytest.mark.parametrize("name, arguments, kind", [
    ("python", "import pandas as pd", "code"),
    ("code_interpreter", {"code": "1+1"}, "code"),
    ("Bash", {"command": "ls"}, "shell"),
    ("shell", {"command": ["bash", "-lc", "ls"]}, "shell"),
    ("exec_command", {"cmd": "make"}, "shell"),
    ("apply_patch", "*** Begin Patch\n*** Update File: a.py\n", "file_edit"),
    ("Edit", {"file_path": "a.py", "old_string": "a", "new_string": "b"}, "file_edit"),
    ("Write", {"file_path": "a.py", "content": "x"}, "file_edit"),
    ("str_replace_based_edit_tool", {"command": "view", "path": "a.py"}, "file_read"),
    ("Read", {"file_path": "a.py"}, "file_read"),
    ("mcp__ide__executeCode", {"code": "1"}, "code"),
    ("artifacts", {"command": "create", "type": "application/vnd.ant.react", "content": "x"}, "file_edit"),
    ("artifacts", {"command": "create", "type": "text/markdown", "content": "x"}, "document"),
    ("canmore.create_textdoc", {"name": "a", "type": "code/python", "content": "x"}, "file_edit"),
    ("canmore.create_textdoc", {"name": "a", "type": "document", "content": "x"}, "document"),
    ("browser", "search('x')", "web"),
    ("web.run", {"search_query": []}, "web"),
    ("dalle.text2im", {"prompt": "x"}, "image"),
    ("bio", "likes tea", "memory"),
    ("canva.searchTemplates", {"query": "x"}, "plugin"),
    ("speechki_tts_plugin.tts", {"text": "x"}, "plugin"),
    ("mystery_tool", {"command": ["git", "status"]}, "shell"),
    ("mystery_tool", {"patch": "--- a/x.py\n+++ b/x.py\n@@"}, "file_edit"),
    ("mystery_tool", {"command": "do the thing"}, "other"),
])
def test_tool_call_kind(name, arguments, kind):
    assert agentic.tool_call_kind(name, arguments) == kind
    assert agentic.is_code_call(name, arguments) is (kind in agentic.CODE_KINDS)


def _ctx(cid):
    return LaneContext(provider="chatgpt", provider_run_id="r", conversation_id=cid, conversation_uid="u",
                       raw_sha256=None)


def _trajectory(cid, name, arguments, result, *, follow_up=None):
    messages = [
        fx.msg("t1", "user", "Do the thing with the data."),
        fx.msg("t2", "assistant", "", "t1", tool_calls=[ToolCall(name=name, arguments=arguments, call_id="t2")]),
        fx.msg("t3", "tool", "", "t2", tool_results=[result]),
        fx.msg("t4", "assistant", "Done: here is the result.", "t3"),
    ]
    if follow_up:
        messages.append(fx.msg("t5", "user", follow_up, "t4"))
    return Conversation(conversation_id=cid, current_leaf_id=messages[-1].message_id, messages=messages)


def test_plugin_only_trajectories_are_left_out_with_a_reason():
    conv = _trajectory("c-canva", "canva.searchTemplates", {"query": "leaflet"},
                       ToolResult(content="templates", call_id="t2"))
    [row] = agentic.emit(conv, _ctx("c-canva"))
    assert row["n_code_calls"] == 0 and row["tool_kinds"] == ["plugin"]
    assert agentic.validate(row) == "no_code_tool_call"
    code = _trajectory("c-py", "python", "print(1)", ToolResult(content="1", call_id="t2", status="success"))
    [row] = agentic.emit(code, _ctx("c-py"))
    assert agentic.validate(row) is None and row["n_code_calls"] == 1


def test_plugin_only_trajectories_are_counted_in_the_manifest(tmp_path):
    conv = _trajectory("c-canva", "canva.searchTemplates", {"query": "leaflet"},
                       ToolResult(content="templates", call_id="t2"))
    ws = fx.make_mash(tmp_path, {"chatgpt": [conv, *fx.plain_conversation()]})
    result = distill(ws, pm=make_plugin_manager(load_entrypoints=False), run_id="d", lanes=["agentic_code"])
    assert result.lanes["agentic_code"].rows == 0
    assert result.lanes["agentic_code"].left_out == {"invalid_row:no_code_tool_call": 1}


@pytest.mark.parametrize("result, follow_up, outcome, source", [
    (ToolResult(content="1", call_id="t2", status="success"), None, "resolved", "exit_code"),
    (ToolResult(content="Traceback", call_id="t2", status="failed_with_in_kernel_exception"), None,
     "failed", "tool_error"),
    (ToolResult(content="1", call_id="t2"), None, "unknown", None),
    (ToolResult(content="1", call_id="t2"), "Can you also plot it?", "unknown", None),
    (ToolResult(content="1", call_id="t2"), "Perfect, that works, thanks!", "resolved", "user_confirmed"),
    (ToolResult(content="1", call_id="t2", status="success"), "No, that's wrong.", "failed", "user_pushback"),
])
def test_outcome_is_conservative_and_names_its_evidence(result, follow_up, outcome, source):
    conv = _trajectory("c-o", "python", "print(1)", result, follow_up=follow_up)
    [row] = agentic.emit(conv, _ctx("c-o"))
    assert (row["outcome"], row["outcome_source"]) == (outcome, source), row["outcome_evidence"]
    assert row["outcome_evidence"][0].startswith("code_runs=1")


def test_test_output_decides_over_a_clean_exit():
    failing = ToolResult(content="===== 2 failed, 3 passed in 0.2s =====", call_id="t2", is_error=False)
    conv = _trajectory("c-t", "Bash", {"command": "pytest -q"}, failing)
    [row] = agentic.emit(conv, _ctx("c-t"))
    assert (row["outcome"], row["outcome_source"]) == ("failed", "tests_failed")
    assert "last_test_run:failed(output)" in row["outcome_evidence"]
    assert agentic.test_output_verdict("test result: ok. 4 passed; 0 failed") is True
    assert agentic.test_output_verdict("Ran 3 tests in 0.001s\n\nOK") is True
    assert agentic.test_output_verdict("nothing to see") is None


def _chain_conversation(call_ids):
    """One turn: a call answered by several results (``call_ids`` are what the store says each answers)."""
    messages = [fx.msg("u1", "user", "Search the web for the notes."),
                fx.msg("c1", "assistant", "", "u1", tool_calls=[ToolCall(name="python", arguments="x", call_id="c1")])]
    parent = "c1"
    for i, cid in enumerate(call_ids, 1):
        messages.append(fx.msg(f"r{i}", "tool", "", parent,
                               tool_results=[ToolResult(content=f"Error {i}", call_id=cid, is_error=True)]))
        parent = f"r{i}"
    messages.append(fx.msg("a1", "assistant", "It failed.", parent))
    return Conversation(conversation_id="c-chain", current_leaf_id="a1", messages=messages)


def test_tool_messages_follow_their_call_with_the_stored_pairing():
    # All 8 results name the call: one tool message for the call, the results joined in order.
    [row] = agentic.emit(_chain_conversation(["c1"] * 8), _ctx("c-chain"))
    tools = [m for m in row["messages"] if m["role"] == "tool"]
    assert len(tools) == 1 and tools[0]["tool_call_id"] == row["messages"][1]["tool_calls"][0]["id"] == "call_1"
    assert tools[0]["content"].split("\n\n") == [f"Error {i}" for i in range(1, 9)]
    assert pair_problem(row["messages"]) is None and row["n_unpaired_results"] == 0
    # Results the store could not pair (no call id, the call already answered) get no invented id.
    [row] = agentic.emit(_chain_conversation(["c1"] * 6 + [None, "elsewhere"]), _ctx("c-chain"))
    assert pair_problem(row["messages"]) is None and row["n_unpaired_results"] == 2
    assert "Error 7" not in json.dumps(row["messages"]) and "Error 8" not in json.dumps(row["messages"])


def test_a_result_without_id_does_not_reach_back_to_an_earlier_turn():
    messages = [fx.msg("u1", "user", "Run it."),
                fx.msg("c1", "assistant", "", "u1", tool_calls=[ToolCall(name="python", arguments="x", call_id="c1")]),
                fx.msg("a1", "assistant", "The run never came back.", "c1"),
                fx.msg("u2", "user", "Try once more.", "a1"),
                fx.msg("r1", "tool", "", "u2", tool_results=[ToolResult(content="late", call_id=None)]),
                fx.msg("a2", "assistant", "Still nothing.", "r1")]
    conv = Conversation(conversation_id="c-late", current_leaf_id="a2", messages=messages)
    [row] = agentic.emit(conv, _ctx("c-late"))
    assert not [m for m in row["messages"] if m["role"] == "tool"] and row["n_unpaired_results"] == 1


def test_pair_problem_names_the_broken_rule():
    call = {"id": "call_1", "type": "function", "function": {"name": "python", "arguments": "{}"}}
    base = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [call]}]
    assert pair_problem(base + [{"role": "tool", "tool_call_id": "call_1"}]) is None
    assert pair_problem(base[:1] + [{"role": "tool", "tool_call_id": "call_1"}] + base[1:]) == \
        "tool_message_without_earlier_call"
    assert pair_problem(base + [{"role": "tool", "tool_call_id": "call_1"}] * 2) == "call_answered_twice"
