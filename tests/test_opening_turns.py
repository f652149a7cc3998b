"""Opening turns, role order and exact ``source_message_ids`` in every lane (issue 16, item 5).

A row opens on a user turn (after an optional system turn), its roles alternate the way strict chat
templates require, a user turn that is only an upload says what was uploaded, and
``source_message_ids`` lists exactly the stored messages whose content is in the row.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import distill_fixtures as fx  # noqa: E402

from moonshine_core.distill import agentic, conversational, dpo, grpo, kto  # noqa: E402
from moonshine_core.distill.messages import (ConversionStats, convert, merge_same_role, role_order_problem,  # noqa: E402
                                             settle_turns, turn_text, upload_note)
from moonshine_core.distill.validate import alternates  # noqa: E402
from moonshine_core.lane import SOURCES_KEY, LaneContext, lane_row  # noqa: E402
from moonshine_core.records import Attachment, Comparison, Conversation, ToolCall, ToolResult  # noqa: E402

LANES = {"dpo": dpo, "kto": kto, "grpo": grpo, "agentic_code": agentic, "conversational": conversational}


def _ctx(conv: Conversation, comparisons=(), feedback=()) -> LaneContext:
    return LaneContext(provider="chatgpt", provider_run_id="chatgpt_20260101_000000",
                       conversation_id=conv.conversation_id, conversation_uid="uid", raw_sha256=None,
                       comparisons=list(comparisons), feedback=list(feedback))


def _one(records) -> Conversation:
    [conv] = [r for r in records if isinstance(r, Conversation)]
    return conv


def _sequences(lane: str, row: dict) -> list[list[dict]]:
    """The message lists a trainer renders from a row: prompt and each answer, or the whole conversation."""
    if lane == "dpo":
        return [row["prompt"] + row["chosen"], row["prompt"] + row["rejected"]]
    if lane == "kto":
        return [row["prompt"] + row["completion"]]
    if lane == "grpo":
        return [row["prompt"]]
    return [row["messages"]]


# -- the upload note -------------------------------------------------------------------------------

def test_an_upload_note_names_each_file_and_its_type():
    assert upload_note([Attachment(name="report.pdf", mime_type="application/pdf")]) == \
        "[uploaded: report.pdf (application/pdf)]"
    assert upload_note([Attachment(name="a b.png", mime_type="image/png"), Attachment(kind="image"),
                        Attachment(name="notes.docx")]) == "[uploaded: a b.png (image/png), image, notes.docx]"
    upload = fx.msg("u", "user", "", attachments=[Attachment(name="x.csv", pointer="file-secret-id")])
    assert turn_text(upload) == "[uploaded: x.csv]" and "file-secret-id" not in turn_text(upload)
    # A user turn with text keeps its text; the note is only for uploads that say nothing else.
    said = fx.msg("u2", "user", "Look at this.", attachments=[Attachment(name="x.csv")])
    assert turn_text(said) == "Look at this."


# -- first turn an upload without text ------------------------------------------------------------

def test_a_first_turn_that_is_only_an_upload_keeps_the_opening_exchange():
    conv = _one(fx.upload_first_conversation())
    [row] = conversational.emit(conv, _ctx(conv))
    msgs = row["messages"]
    assert msgs[0] == {"role": "user", "content": "[uploaded: report.pdf (application/pdf)]",
                       "reasoning_content": None, "tool_calls": None, "tool_call_id": None, "name": None}
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 3 and alternates(msgs)
    assert msgs[1]["content"].startswith("The report says revenue grew")
    assert row["truncated_turns"] == 0 and "leading_turns_cut" not in row["lane_flags"]
    # The hidden system node and the hidden tool plumbing are not in the row, so they are not listed.
    assert row["source_message_ids"] == ["f1", "f2", "f3", "f4", "f5", "f6"]

    kto_rows = {r["completion_message_ids"][-1]: r for r in kto.emit(conv, _ctx(conv))}
    first = kto_rows["f2"]
    assert [m["content"] for m in first["prompt"]] == ["[uploaded: report.pdf (application/pdf)]"]
    assert first["source_message_ids"] == ["f1", "f2"]
    assert kto_rows["f4"]["prompt"][0]["content"].startswith("[uploaded:")


def test_grpo_prompts_open_on_the_upload_turn_and_list_their_reference():
    conv = _one(fx.upload_first_conversation())
    builder = grpo._Builder(conv, _ctx(conv))
    builder.add("f3", ["f4"], "answer:f4", {"task": "math", "solution": "12", "reference_response": "15% of 80 = 12",
                                           "lane_flags": []})
    [row] = builder.rows
    assert [m["role"] for m in row["prompt"]] == ["user", "assistant", "user"]
    assert row["prompt"][0]["content"] == "[uploaded: report.pdf (application/pdf)]"
    # The prompt's messages, then the answer whose text the reward columns hold.
    assert row["source_message_ids"] == ["f1", "f2", "f3", "f4"]
    assert row["prompt_message_ids"] == ["f0", "f1", "f1t", "f2", "f3"]   # the branch in the tree, unchanged
    assert "leading_turns_cut" not in row["lane_flags"]
    for emitted in grpo.emit(conv, _ctx(conv)):
        assert emitted["prompt"][0]["role"] == "user" and role_order_problem(emitted["prompt"]) is None


# -- an upload turn between two answers ------------------------------------------------------------

def test_an_upload_between_two_answers_stays_a_turn_of_its_own():
    conv = _one(fx.upload_between_answers_conversation())
    [row] = conversational.emit(conv, _ctx(conv))
    contents = [m["content"] for m in row["messages"]]
    assert contents[2] == "[uploaded: notes.docx]"
    # The unrelated answers are not merged into one assistant turn.
    assert contents[1].startswith("I am unable to open") and contents[3].startswith("I see you uploaded")
    assert row["merged_messages"] == 0 and alternates(row["messages"])
    assert row["source_message_ids"] == ["g1", "g2", "g3", "g4", "g5", "g6"]

    kto_rows = {r["completion_message_ids"][-1]: r for r in kto.emit(conv, _ctx(conv))}
    # The answer about the upload is a row whose prompt ends on the upload turn ...
    assert kto_rows["g4"]["prompt"][-1]["content"] == "[uploaded: notes.docx]"
    assert kto_rows["g4"]["source_message_ids"] == ["g1", "g2", "g3", "g4"]
    # ... while an upload-only next turn says nothing about the answer before it: no label for g2.
    assert "g2" not in kto_rows


# -- a conversation that starts with an assistant greeting --------------------------------------------

def test_an_assistant_greeting_before_the_first_user_turn_is_cut_in_every_lane():
    conv = _one(fx.greeting_first_conversation())
    conv.messages.append(fx.msg("h2b", "assistant", "17 * 3 = 41", "h1"))
    comparison = Comparison(comparison_id="sbs:1", source="side_by_side", conversation_id=conv.conversation_id,
                            prompt_message_id="h1", chosen_message_ids=["h2"], rejected_message_ids=["h2b"],
                            candidate_message_ids=["h2", "h2b"])
    ctx = _ctx(conv, comparisons=[comparison])

    [conv_row] = conversational.emit(conv, ctx)
    assert conv_row["messages"][0]["content"] == "What is 17 * 3?"
    assert conv_row["truncated_turns"] == 1 and "leading_turns_cut" in conv_row["lane_flags"]
    assert "h0" not in conv_row["source_message_ids"]

    [pair] = dpo.emit(conv, ctx)
    assert [m["content"] for m in pair["prompt"]] == ["What is 17 * 3?"]
    assert pair["source_message_ids"] == ["h1", "h2", "h2b"] and "leading_turns_cut" in pair["lane_flags"]
    assert dpo.validate(pair) is None

    for row in kto.emit(conv, ctx):
        assert row["prompt"][0]["role"] == "user" and "h0" not in row["source_message_ids"]
        assert "leading_turns_cut" in row["lane_flags"] and kto.validate(row) is None

    builder = grpo._Builder(conv, ctx)
    builder.add("h1", ["h2"], "answer:h2", {"task": "math", "solution": "51", "reference_response": "17 * 3 = 51",
                                           "lane_flags": []})
    [grpo_row] = builder.rows
    assert [m["content"] for m in grpo_row["prompt"]] == ["What is 17 * 3?"]
    assert grpo_row["source_message_ids"] == ["h1", "h2"] and "leading_turns_cut" in grpo_row["lane_flags"]


def test_a_trajectory_cut_at_its_first_user_turn_keeps_no_orphan_tool_message():
    call = ToolCall(name="python", arguments={"code": "print(1)"}, call_id="t0")
    conv = Conversation(conversation_id="c-tool-greeting", current_leaf_id="a2", messages=[
        fx.msg("g0", "assistant", "", tool_calls=[call]),
        fx.msg("u1", "user", "Now compute 2 ** 10 in Python.", "g0"),
        fx.msg("r0", "tool", "", "u1", tool_results=[ToolResult(content="1", call_id="t0", is_error=False)]),
        fx.msg("a1", "assistant", "", "r0", tool_calls=[ToolCall(name="python", arguments={"code": "print(2 ** 10)"},
                                                                   call_id="t1")]),
        fx.msg("r1", "tool", "", "a1", tool_results=[ToolResult(content="1024", call_id="t1", is_error=False)]),
        fx.msg("a2", "assistant", "2 ** 10 is 1024.", "r1"),
    ])
    [row] = agentic.emit(conv, _ctx(conv))
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert row["source_message_ids"] == ["u1", "a1", "r1", "a2"]
    assert row["n_unpaired_results"] == 1 and "leading_turns_cut" in row["lane_flags"]
    assert agentic.validate(row) is None


# -- consecutive user turns ------------------------------------------------------------------------

def test_consecutive_user_turns_merge_into_one_that_lists_both():
    conv = _one(fx.consecutive_users_conversation())
    [row] = conversational.emit(conv, _ctx(conv))
    assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
    assert row["messages"][0]["content"] == "I have a question about Python lists.\n\nHow do I reverse one in place?"
    assert row["merged_messages"] == 1 and row["source_message_ids"] == ["k1", "k2", "k3", "k4", "k5"]
    [first] = [r for r in kto.emit(conv, _ctx(conv)) if r["completion_message_ids"][-1] == "k3"]
    assert len(first["prompt"]) == 1 and first["source_message_ids"] == ["k1", "k2", "k3"]


# -- the role order rule and the merges it needs ----------------------------------------------------

def _call(cid: str, name: str = "python") -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": "{}"}}


def _m(role: str, content: str = "", calls=None, answers=None) -> dict:
    return {"role": role, "content": content, "reasoning_content": None, "tool_calls": calls,
            "tool_call_id": answers, "name": None}


def test_role_order_problem_names_each_rule():
    user, answer = _m("user", "q"), _m("assistant", "a")
    calling, result = _m("assistant", "", [_call("call_1")]), _m("tool", "out", answers="call_1")
    assert role_order_problem([_m("system", "s"), user, answer, user, answer]) is None
    assert role_order_problem([user, calling, result, answer, user]) is None
    assert role_order_problem([user, calling, answer]) is None   # a call nothing answered (stopped) may stay
    assert role_order_problem([user, calling, result, user]) is None   # the assistant's turn ended on the result
    assert role_order_problem([answer, user]) == "first_turn_not_user"
    assert role_order_problem([user, _m("system", "s"), answer]) == "system_after_first_turn"
    assert role_order_problem([user, user, answer]) == "consecutive_user_turns"
    assert role_order_problem([user, answer, answer]) == "consecutive_assistant_turns"
    assert role_order_problem([user, answer, calling, result]) == "consecutive_assistant_turns"
    assert role_order_problem([user, result, answer]) == "tool_not_after_its_call"
    assert role_order_problem([user, calling, answer, result]) == "tool_not_after_its_call"
    assert role_order_problem([user, calling, result, result]) == "tool_not_after_its_call"


def test_merges_give_strict_order_without_inventing_parallel_calls():
    stats = ConversionStats()
    user = _m("user", "q")
    # Text just before a call is the calling message's own text.
    merged = merge_same_role([user, _m("assistant", "Let me run it."), _m("assistant", "", [_call("call_1")]),
                              _m("tool", "ok", answers="call_1"), _m("assistant", "Done.")], stats)
    assert [m["role"] for m in merged] == ["user", "assistant", "tool", "assistant"]
    assert merged[1]["content"] == "Let me run it." and merged[1]["tool_calls"] == [_call("call_1")]
    # Calls stored one per message, answered after both, are one parallel call ...
    parallel = merge_same_role([user, _m("assistant", "", [_call("call_1")]), _m("assistant", "", [_call("call_2")]),
                                _m("tool", "1", answers="call_1"), _m("tool", "2", answers="call_2")])
    assert [len(m["tool_calls"] or []) for m in parallel] == [0, 2, 0, 0] and role_order_problem(parallel) is None
    # ... but a call that was never answered and then retried stays a step of its own.
    retried = merge_same_role([user, _m("assistant", "", [_call("call_1", "web")]),
                               _m("assistant", "", [_call("call_2", "web.run")]), _m("tool", "", answers="call_2")])
    assert [len(m["tool_calls"] or []) for m in retried] == [0, 1, 1, 0] and role_order_problem(retried) is None


def test_settling_keeps_each_stored_id_with_its_content():
    records = [fx.msg("s", "system", "Be brief."), fx.msg("g", "assistant", "Hi!", "s"),
               fx.msg("u1", "user", "One", "g"), fx.msg("u2", "user", "Two", "u1"),
               fx.msg("a1", "assistant", "Yes.", "u2"), fx.msg("a2", "assistant", "And more.", "a1")]
    stats = ConversionStats()
    msgs = settle_turns(convert(records, reasoning_policy="drop", include_tools=True, max_tool_output_chars=100,
                                stats=stats), stats)
    assert [(m["role"], m[SOURCES_KEY]) for m in msgs] == [("system", ["s"]), ("user", ["u1", "u2"]),
                                                          ("assistant", ["a1", "a2"])]
    assert stats.leading_turns_cut == 1 and stats.merged_messages == 2


def test_lane_row_lists_the_carried_ids_then_the_lanes_own_and_strips_them():
    conv = Conversation(conversation_id="c", messages=[])
    prompt = [{**_m("user", "q"), SOURCES_KEY: ["u1", "u2"]}]
    chosen = [{**_m("assistant", "a"), SOURCES_KEY: ["a1"]}]
    rejected = [{**_m("assistant", "b"), SOURCES_KEY: ["u2", "b1"]}]
    row = lane_row("dpo", conv, ["ref"], "v", {"prompt": prompt, "chosen": chosen, "rejected": rejected}, {})
    assert row["source_message_ids"] == ["u1", "u2", "a1", "b1", "ref"]
    assert all(SOURCES_KEY not in m for col in ("prompt", "chosen", "rejected") for m in row[col])
    assert SOURCES_KEY in prompt[0]   # the lane's own lists are left as they were
    # A plugin's row without converted messages lists what the plugin names, as before.
    assert lane_row("toy", conv, ["m1", "m2"], "qa", {"prompt": "q", "completion": "a"}, {})["source_message_ids"] \
        == ["m1", "m2"]


def test_a_correction_pair_lists_the_correction_it_holds_and_not_hidden_nodes():
    conv = _one(fx.correction_conversation())
    [pair] = [r for r in dpo.emit(conv, _ctx(conv)) if r["pair_source"] == "correction"]
    assert pair["prompt"][-1]["content"].endswith(fx.correction_conversation()[0].messages[2].text)
    assert pair["source_message_ids"] == ["v1", "v3", "k3", "k2"]
    records = fx.side_by_side_conversation()
    conv, comparison = records
    [sbs] = dpo.emit(conv, _ctx(conv, comparisons=[comparison]))
    assert sbs["source_message_ids"] == ["p1", "b2", "b1"]   # the hidden system prompt s0 is not in the row


def test_inline_comparison_prompts_open_on_a_user_turn_with_one_system_message():
    system = {"role": "system", "content": "You are ChatGPT."}
    comparison = Comparison(comparison_id="mc:1", source="model_comparisons", conversation_id="absent", prompt=[
        system, {"role": "assistant", "content": "This document outlines the rules."},
        {"role": "user", "content": "Convert it to text."}, {"role": "assistant", "content": "Here it is."},
        {"role": "user", "content": "Extract all data."}, system],
        chosen=[{"role": "assistant", "content": "The image shows shapes."}],
        rejected=[{"role": "assistant", "content": "I cannot see images."}])
    [row] = dpo.unattached_rows(comparison)
    assert [m["role"] for m in row["prompt"]] == ["system", "user", "assistant", "user"]
    assert "leading_turns_cut" in row["lane_flags"] and dpo.validate(row) is None


# -- on the real exports -----------------------------------------------------------------------------

#: Exports with uploads that carry no text (yoonchoonkoon: as the first turn; bobbytango: between answers),
#: inline comparisons with repeated system prompts (VRSEx), code runs and tool sessions.
PICKS = {
    "chatgpt": ["chatgpt/yoonchoonkoon__chatgpt-archive__DERIVED_selected_conversations.json",
                "chatgpt/bobbytango__ChatGPT__conversations.json",
                "chatgpt/VRSEx__ADHD__model_comparisons.json",
                "chatgpt/realazthat__chatgpt2graph__examples__conversations.json"],
    "claude": ["claude/idanmashaal__Now2ai-Claude-Export-Processor__data__conversations.json",
               "claude_code/marot__spotter__test__fixtures__transcripts__tool_heavy.jsonl"],
    "deepseek": ["deepseek/ceyaima__deepseek-exporter__samples__DeepSeek_-_sample_2025-05-21T17-13-38__at_commit_179ac78.json"],
    "qwen": ["qwen/AfterThink__AfterChat-Converter__examples__small.json"],
}
_WORD = re.compile(r"\w{3,}")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _row_text(row: dict) -> str:
    """Every string a row holds in its payload and reward columns (JSON columns decoded)."""
    parts: list[str] = []

    def walk(value):
        if isinstance(value, str):
            parts.append(value)
            if value[:1] in "[{":
                try:
                    walk(json.loads(value))
                except ValueError:
                    pass
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for col in ("prompt", "chosen", "rejected", "completion", "messages", "reference_response", "solution",
                "verification_info", "ground_truth"):
        walk(row.get(col))
    return "\n".join(parts)


def _contributions(m) -> list[str]:
    """What a stored message can put in a row: its text (or upload note), its calls' arguments, its results."""
    out = [turn_text(m)] if turn_text(m).strip() else []
    out += [c.arguments if isinstance(c.arguments, str) else json.dumps(c.arguments, ensure_ascii=False)
            for c in m.tool_calls]
    out += [r.content or "" for r in m.tool_results]
    return out


def _in_row(text: str, row_text: str, row_words: set[str]) -> bool:
    """Whether ``text`` is in the row: its head verbatim, or (redaction, truncation) most of its head's words."""
    head = " ".join(text.split())[:300]
    if head and head in " ".join(row_text.split()):
        return True
    words = _words(head)
    return bool(words) and sum(w in row_words for w in words) / len(words) >= 0.5


@pytest.fixture(scope="module")
def real_rows(tmp_path_factory):
    from moonshine_core.distill import distill
    from moonshine_core.plugins import make_plugin_manager
    from moonshine_core.store import Store
    from moonshine_core.store import corpus
    from real_fixtures import merged_real_workspace

    pm = make_plugin_manager()
    ws, _ = merged_real_workspace(tmp_path_factory.mktemp("opening-turns") / "ws", PICKS)
    distill(ws, pm=pm, run_id="distill_opening")
    with Store(ws.mash_path) as store:
        stored = {(row["provider"], conv.conversation_id, m.message_id): m
                  for row, conv in corpus.conversations(store) for m in conv.messages}
    rows = {lane: [json.loads(line) for path in sorted(ws.distill_dir(lane, "distill_opening").glob("*.jsonl"))
                   for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
            for lane in LANES}   # split on "\n" only: row texts may hold U+2028, which splitlines() splits on
    return rows, stored


@pytest.mark.real_exports
def test_real_rows_open_on_a_user_turn_and_keep_strict_role_order(real_rows):
    rows, _ = real_rows
    checked = Counter()
    for lane, lane_rows in rows.items():
        for row in lane_rows:
            for messages in _sequences(lane, row):
                body = [m for m in messages if m["role"] != "system"]
                assert body and body[0]["role"] == "user", (lane, row["record_uid"], body[:1])
                assert role_order_problem(messages) is None, (lane, row["record_uid"], role_order_problem(messages))
            if lane == "conversational":
                assert alternates(row["messages"]), row["record_uid"]
            checked[lane] += 1
    print("real-export rows checked for opening and role order:", dict(checked))
    assert checked["conversational"] and checked["kto"] and checked["dpo"]
    # The uploads without text are turns of their own: first turn (yoonchoonkoon) and between answers (bobbytango).
    notes = [m["content"] for row in rows["conversational"] for m in row["messages"] if m["content"].startswith("[uploaded: ")]
    assert len(notes) >= 3, notes


@pytest.mark.real_exports
def test_real_source_message_ids_are_exactly_the_messages_in_the_row(real_rows):
    rows, stored = real_rows
    checked = Counter()
    for lane, lane_rows in rows.items():
        for row in lane_rows:
            ids = row["source_message_ids"]
            assert len(ids) == len(set(ids)), (lane, row["record_uid"])
            if "inline_comparison" in row["filter_flags"]:
                continue   # a comparison that carries its own texts: its id is the comparison's
            text = _row_text(row)
            words = set(_words(text))
            listed = []
            for mid in ids:
                m = stored[(row["provider"], row["conversation_id"], mid)]
                contributions = _contributions(m)
                # An empty tool output is in the row as the (empty) tool message answering its call.
                empty_output = m.tool_results and not any((r.content or "").strip() for r in m.tool_results) and \
                    any(x["role"] == "tool" for seq in _sequences(lane, row) for x in seq)
                assert empty_output or any(_in_row(c, text, words) for c in contributions if c.strip()), \
                    (lane, row["record_uid"], mid, [c[:80] for c in contributions])
                listed += contributions
            # No fewer: every message of the row comes from a listed stored message.
            listed_text = "\n".join(listed)
            listed_words = set(_words(listed_text))
            for messages in _sequences(lane, row):
                for m in messages:
                    if m["content"].strip():
                        assert _in_row(m["content"], listed_text, listed_words), \
                            (lane, row["record_uid"], m["role"], m["content"][:80])
            checked[lane] += 1
    print("real-export rows whose source ids were checked:", dict(checked))
    assert checked["conversational"] and checked["kto"]
