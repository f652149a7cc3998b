"""One rollout → one conversation: which records become messages, hiding, folding, pairing, turns."""

from __future__ import annotations

import json

from moonshine_core.trees import check_tree, path_to_root

from codex_helpers import (FILE_A, FILE_B, FILE_C, FILE_E, FILE_LEGACY, FILE_SEGMENT, FILE_TS, HOME, SID, assistant,
                           call, env, event, item, meta, normalise, one, output, user, write_rollout)
from moonshine_codex.normalize import count_raw_messages, read_lines


def test_injected_context_is_hidden_and_prompts_are_user_turns():
    conv, by_id = one(FILE_A)
    assert by_id["L2"].hidden and by_id["L2"].hidden_reason == "codex:environment_context"
    assert by_id["L3"].hidden and by_id["L3"].hidden_reason == "codex:user_instructions"
    assert not by_id["L4"].hidden and by_id["L4"].role == "user"
    assert by_id["L31"].hidden_reason == "codex:turn_aborted"
    visible_users = [m.text for m in conv.messages if m.role == "user" and not m.hidden]
    assert visible_users == ["The add() test in demo-calc fails. Find out why and fix it.",
                             "Now run the full lint suite.", "Skip lint. Which Python version does the CI use?"]


def test_instructions_and_developer_messages_are_hidden_system_plumbing():
    conv, by_id = one(FILE_B)
    instructions = by_id["L1:instructions"]
    assert instructions.role == "system" and instructions.hidden and instructions.hidden_reason == "codex:base_instructions"
    assert by_id["L2"].role == "developer" and by_id["L2"].hidden_reason == "codex:permissions_instructions"
    assert by_id["L3"].hidden_reason == "codex:agents_md"
    legacy, lby = one(FILE_LEGACY)
    assert lby["L1:instructions"].hidden_reason == "codex:session_instructions"
    assert lby["L1:instructions"].text == "Always answer briefly."


def test_event_messages_never_duplicate_response_items():
    conv, _ = one(FILE_A)
    texts = [m.text for m in conv.messages if m.role == "assistant" and m.text]
    assert texts.count("Fixed: add() subtracted instead of adding. Both tests pass now.") == 1
    assert conv.metadata["event_counts"]["agent_message"] == 1
    assert conv.metadata["event_counts"]["user_message"] == 3
    assert conv.raw_message_count == len(conv.messages) == count_raw_messages(read_lines_of(FILE_A))


def read_lines_of(path):
    from moonshine_core.records import RawRecord
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return read_lines(RawRecord(kind="conversation", data=records))


def test_parallel_calls_fold_into_one_assistant_message_and_pair_by_call_id():
    conv, by_id = one(FILE_A)
    step = by_id["L8"]
    assert step.role == "assistant" and step.text == "I'll look at the code and run the tests."
    assert [c.call_id for c in step.tool_calls] == ["call_A1", "call_A2"]
    assert step.tool_calls[0].arguments == {"command": ["bash", "-lc", "cat calc.py"], "workdir": "/home/dev/demo-calc"}
    assert step.content_kind == "step:reasoning,message,function_call"
    first, second = by_id["L13"], by_id["L14"]
    assert first.role == second.role == "tool" and first.parent_id == "L8" and second.parent_id == "L13"
    assert first.tool_results[0].call_id == "call_A1" and first.tool_results[0].name == "shell"
    assert first.tool_results[0].content == "def add(a, b):\n    return a - b\n"


def test_exit_codes_become_error_flags_and_metadata():
    _, by_id = one(FILE_A)
    ok, failed = by_id["L13"].tool_results[0], by_id["L14"].tool_results[0]
    assert ok.is_error is False and ok.status == "success"
    assert failed.is_error is True and failed.status == "error"
    assert by_id["L14"].metadata["exit_code"] == 1 and by_id["L14"].metadata["duration_seconds"] == 0.9
    assert failed.structured["exit_code"] == 1
    freeform = by_id["L21"]
    assert freeform.metadata["exit_code"] == 0 and freeform.metadata["output_shape"] == "text"
    patch = by_id["L18"].tool_results[0]
    assert patch.name == "apply_patch" and patch.is_error is False
    _, bby = one(FILE_B)
    unified = bby["L13"]
    assert unified.tool_results[0].is_error is True and unified.metadata["exit_code"] == 2
    assert unified.metadata["duration_seconds"] == 2.4


def test_mcp_result_without_exit_code_reads_its_end_event():
    _, by_id = one(FILE_B)
    mcp = by_id["L15"]
    result = mcp.tool_results[0]
    assert result.name == "mcp__browser__screenshot" and result.is_error is False
    assert mcp.metadata["outcome_from_event"] == "mcp_tool_call_end"
    assert "Screenshot taken" in result.content and "[image]" in result.content
    assert "base64" not in json.dumps(result.raw)   # inline image data is measured, not kept


def test_reasoning_summaries_are_summaries_and_encrypted_content_stays_raw():
    _, by_id = one(FILE_A)
    step = by_id["L8"]
    assert step.reasoning == "**Looking at the failing test**" and step.reasoning_kind == "summary"
    assert step.metadata["encrypted_reasoning_items"] == 1
    assert any(r.get("payload", {}).get("encrypted_content") for r in step.raw)
    _, eby = one(FILE_E)
    assert eby["L6"].reasoning_kind == "raw" and eby["L6"].reasoning.startswith("The test expects")


def test_aborted_turn_keeps_its_unanswered_call():
    conv, by_id = one(FILE_A)
    step = by_id["L28"]
    assert step.metadata["turn_aborted"] == "interrupted"
    assert step.metadata["unanswered_call_ids"] == ["call_A5"]
    assert conv.metadata["aborted_turns"][0]["reason"] == "interrupted"


def test_rollback_leaves_an_abandoned_branch_and_the_new_turn_hangs_before_it():
    conv, by_id = one(FILE_B)
    assert by_id["L22"].metadata["rolled_back"] and by_id["L24"].metadata["rolled_back"]
    assert by_id["L28"].parent_id == "L17" and by_id["L22"].parent_id == "L17"
    active = path_to_root(conv.messages, conv.current_leaf_id)
    assert "L22" not in active and "L28" in active
    assert conv.current_leaf_id == "L34" and check_tree(conv.messages) == []


def test_compaction_summary_is_a_hidden_message_and_replacement_history_is_not_repeated():
    conv, by_id = one(FILE_B)
    compacted = by_id["L34"]
    assert compacted.hidden and compacted.hidden_reason == "codex:compaction_summary"
    assert compacted.metadata["replacement_history_items"] == 2
    assert sum(m.text == "Restored the config and the CSS builds again." for m in conv.messages) == 1


def test_token_usage_attaches_to_the_answer_before_it():
    conv, by_id = one(FILE_A)
    assert by_id["L8"].usage["input_tokens"] == 4200
    assert conv.metadata["total_token_usage"]["input_tokens"] == 6000
    assert conv.model == "gpt-5-codex" and by_id["L8"].model == "gpt-5-codex"


def test_session_metadata_identity_and_thread_name():
    conv, _ = one(FILE_A)
    assert conv.conversation_id == "c0de0000-0000-4000-8000-00000000000a"
    assert conv.title is None   # the name lives in session_index.jsonl, only read with the whole folder
    assert conv.metadata["cli_version"] == "0.46.0" and conv.metadata["git"]["branch"] == "main"
    convs, _, _ = normalise(HOME)
    titles = {c.conversation_id: c.title for c in convs}
    assert titles["c0de0000-0000-4000-8000-00000000000a"] == "Fix add() in demo-calc"


def test_fork_names_its_parent_and_keeps_the_copied_history():
    conv, by_id = one(FILE_C)
    assert conv.metadata["forked_from_id"] == "c0de0000-0000-7000-8000-00000000000b"
    assert conv.metadata["embedded_session_ids"] == ["c0de0000-0000-7000-8000-00000000000b"]
    assert by_id["L8"].text.startswith("Why does the login page look broken?")


def test_resumed_segment_and_a_second_file_of_one_thread_get_their_own_ids(tmp_path):
    seg, _ = one(FILE_SEGMENT)
    assert seg.conversation_id == "c0de0000-0000-7000-8000-00000000000b_0199aa00"
    assert seg.metadata["session_id"] == "c0de0000-0000-7000-8000-00000000000b"
    write_rollout(tmp_path / "2026/02/01", [meta(), user("hi"), assistant("hello")])
    write_rollout(tmp_path / "2026/02/03", [meta(), user("again"), assistant("hello again")],
                  name=f"rollout-2026-02-03T08-00-00-{SID}.jsonl")
    convs, _, failures = normalise(tmp_path)
    assert not failures
    ids = sorted(c.conversation_id for c in convs)
    assert ids == [SID, f"{SID}@2026-02-03T08-00-00"]
    again = next(c for c in convs if c.conversation_id != SID)
    assert again.metadata["continues_session"] == SID


def test_legacy_bare_lines_and_a_cut_off_last_line():
    conv, by_id = one(FILE_LEGACY)
    assert conv.format_variant == "codex-legacy"
    assert conv.metadata["record_counts"]["state"] == 3
    assert len(conv.metadata["malformed_lines"]) == 1
    assert by_id["L10"].tool_results[0].is_error is True   # "failed to parse function arguments"
    assert by_id["L8"].tool_results[0].is_error is False
    assert conv.raw_message_count == len(conv.messages)


def test_typescript_cli_json_rollout():
    conv, by_id = one(FILE_TS)
    assert conv.conversation_id == "c0de0000-0000-4000-8000-00000000000f"
    assert [m.role for m in conv.messages] == ["user", "assistant", "tool", "assistant"]
    assert by_id["L4"].tool_results[0].is_error is False and by_id["L4"].metadata["exit_code"] == 0


def test_rollout_without_session_meta_takes_the_uuid_of_its_file_name(tmp_path):
    path = write_rollout(tmp_path, [user("hi"), assistant("hello")])
    conv, _ = one(path)
    assert conv.conversation_id == SID
    nameless = write_rollout(tmp_path / "x", [{"type": "message", "role": "user", "content": "plain string"},
                                              {"record_type": "state"}], name="rollout-notes.jsonl")
    conv2, by_id = one(nameless)
    assert conv2.conversation_id.startswith("sha256:") and by_id["L1"].text == "plain string"


def test_unknown_shapes_are_kept_and_reported(tmp_path):
    path = write_rollout(tmp_path, [
        meta(), user("go"), item({"type": "hologram_call", "call_id": "h1", "beam": 3}),
        item({"type": "hologram_call_output", "call_id": "h1", "output": "done"}),
        item({"type": "mystery_item"}), event({"type": "brand_new_event"}), env("future_kind", {"x": 1}),
        item({"type": "message", "role": "critic", "content": [{"type": "input_text", "text": "hm"}]}),
        item({"type": "message", "role": "user", "content": [{"type": "input_audio", "data": "..."}]}),
        user("<custom_wrapper>keep me visible</custom_wrapper>"), 7,
    ])
    conv, by_id = one(path)
    assert {"response_item:hologram_call", "response_item:hologram_call_output", "response_item:mystery_item",
            "event_msg:brand_new_event", "line_kind:future_kind", "role:critic", "content_part:input_audio",
            "context_tag:custom_wrapper", "line:not_object"} <= set(conv.unknown_shapes)
    assert by_id["L3"].tool_calls[0].name == "hologram" and by_id["L4"].tool_results[0].call_id == "h1"
    assert not by_id["L10"].hidden and conv.raw_message_count == len(conv.messages)


def test_image_attachment_is_a_reference_without_its_bytes():
    _, by_id = one(FILE_B)
    [attachment] = by_id["L7"].attachments
    assert attachment.kind == "image" and attachment.mime_type == "image/png" and attachment.size_bytes > 300
    assert "iVBOR" not in json.dumps(by_id["L7"].raw)


def test_rollback_of_more_turns_than_exist_and_events_without_a_tip(tmp_path):
    path = write_rollout(tmp_path, [
        event({"type": "turn_aborted", "reason": "interrupted"}), event({"type": "error", "message": "boom"}),
        event({"type": "thread_rolled_back", "num_turns": 5}), meta(), user("one"), assistant("a"),
        event({"type": "thread_rolled_back", "num_turns": 9}), user("two"), assistant("b"),
        event({"type": "token_count", "info": None}),
    ])
    conv, by_id = one(path)
    assert by_id["L8"].parent_id is None and by_id["L5"].metadata["rolled_back"]
    assert check_tree(conv.messages) == [] and conv.current_leaf_id == "L9"


def test_ids_are_line_numbers_so_an_appended_file_keeps_its_old_ids(tmp_path):
    lines = [meta(), user("one"), call("c1"), output("c1", "Exit code: 0\nWall time: 0.1 seconds\nOutput:\nok")]
    first, _ = one(write_rollout(tmp_path / "a", lines))
    grown, _ = one(write_rollout(tmp_path / "b", lines + [assistant("done")]))
    assert [(m.message_id, m.parent_id) for m in first.messages] == \
           [(m.message_id, m.parent_id) for m in grown.messages][:len(first.messages)]
