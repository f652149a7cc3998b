"""Claude Code session logs: folding, parents through plumbing, hidden records, tool errors."""

from __future__ import annotations

import copy
import json

from moonshine_core.trees import check_tree, path_to_root

import claude_fixtures as F
from helpers_claude import comparisons, conversations, one_session
from moonshine_claude.claude_code import count_folded_messages


def _session(records=None, **context):
    [conv] = conversations(one_session(F.session_records() if records is None else records, **context)).values()
    return conv, {m.message_id: m for m in conv.messages}


def test_records_sharing_message_id_fold_into_one_message() -> None:
    conv, by_id = _session()
    folded = by_id["a1"]
    assert folded.metadata["folded_records"] == ["a1", "a2", "a3", "a4"]
    assert folded.text == "Listing." and folded.reasoning == "Use ls twice." and folded.reasoning_kind == "raw"
    assert [c.call_id for c in folded.tool_calls] == ["toolu_A", "toolu_B"]
    assert folded.model == "claude-opus-4-6" and folded.usage["output_tokens"] == 20
    assert isinstance(folded.raw, list) and len(folded.raw) == 4


def test_counts_after_folding_match_the_independent_count() -> None:
    conv, _ = _session()
    assert len(conv.messages) == conv.raw_message_count == count_folded_messages(F.session_records()) == 11


def test_parents_look_through_progress_records_and_results_chain() -> None:
    conv, by_id = _session()
    assert by_id["u1"].parent_id is None                 # its parent is a progress line with no parent
    assert by_id["r2"].parent_id == "a1"                 # a4 (folded into a1) -> r2
    assert by_id["r1"].parent_id == "r2" and by_id["r1"].metadata["reparented_from"] == "a1"
    assert check_tree(conv.messages) == []
    path = path_to_root(conv.messages, conv.current_leaf_id)
    assert conv.current_leaf_id == "a6" and {"r1", "r2"} <= set(path)


def test_tool_results_are_structured_and_keep_errors() -> None:
    _, by_id = _session()
    [error] = by_id["r2"].tool_results
    assert by_id["r2"].role == "tool" and error.call_id == "toolu_B" and error.is_error is True
    assert error.name == "Bash" and error.structured["stdout"].startswith("ls:")
    calls = {c.call_id for m in by_id.values() for c in m.tool_calls}
    results = {r.call_id for m in by_id.values() for r in m.tool_results}
    assert calls == results


def test_meta_command_interrupt_and_system_records_are_kept_hidden() -> None:
    _, by_id = _session()
    assert (by_id["u2"].hidden, by_id["u2"].hidden_reason) == (True, "meta")
    assert (by_id["u3"].hidden, by_id["u3"].hidden_reason) == (True, "command")
    assert (by_id["u4"].hidden, by_id["u4"].hidden_reason) == (True, "interrupt")
    assert by_id["s1"].role == "system" and by_id["s1"].hidden_reason == "system:local_command"
    assert not by_id["u1"].hidden and not by_id["u5"].hidden


def test_non_message_records_are_counted_not_messages() -> None:
    conv, by_id = _session()
    assert not {"p1", "p2"} & set(by_id)
    counts = conv.metadata["record_counts"]
    assert counts["progress"] == 2 and counts["file-history-snapshot"] == 1 and counts["summary"] == 1
    assert conv.unknown_shapes == ["record_type:mystery-record"]
    assert conv.title == "Listing files" and conv.conversation_id == F.SESSION


def test_images_are_references_without_base64() -> None:
    _, by_id = _session()
    [image] = by_id["u5"].attachments
    assert image.kind == "image" and image.mime_type == "image/png" and image.size_bytes == 525
    assert "iVBORw0iVBORw0" not in json.dumps(by_id["u5"].raw)
    assert by_id["u5"].text == "thanks, show this"


def test_subagent_file_links_to_its_session() -> None:
    conv, by_id = _session(F.subagent_records(), subagent=True, file_stem="agent-abc123")
    assert conv.conversation_id == f"{F.SESSION}:agent-abc123"
    assert conv.metadata["parent_session_id"] == F.SESSION and conv.metadata["subagent"]
    assert all(m.metadata["is_sidechain"] for m in conv.messages)


def test_rewind_siblings_become_a_regeneration() -> None:
    records = F.session_records()
    retry = copy.deepcopy(records[-3])                 # a6, answered again under u5
    retry["uuid"], retry["message"]["id"] = "a7", "msg_D"
    retry["message"]["content"] = [{"type": "text", "text": "A lovely picture."}]
    records.insert(len(records) - 2, retry)
    [comparison] = comparisons(one_session(records))
    assert comparison.prompt_message_id == "u5" and comparison.candidate_message_ids == ["a6", "a7"]
    assert comparison.chosen_message_ids == ["a7"] and comparison.rejected_message_ids == ["a6"]


def test_duplicate_lines_and_broken_records_are_tolerated() -> None:
    records = F.session_records()
    records += [copy.deepcopy(records[2]), "junk", {"type": "user"}, {"type": "assistant", "message": "x"}]
    conv, _ = _session(records)
    assert len(conv.messages) == conv.raw_message_count == count_folded_messages(records) == 13
    assert conv.metadata["duplicate_records"] == 1 and check_tree(conv.messages) == []


def test_synthetic_api_error_messages() -> None:
    records = F.session_records()
    records[-3]["message"]["model"] = "<synthetic>"
    records[-3]["isApiErrorMessage"] = True
    _, by_id = _session(records)
    assert by_id["a6"].model is None and by_id["a6"].metadata["synthetic"] and by_id["a6"].status == "api_error"


def _rewind_with_tool_use(records):
    """A second answer to u5 that runs a tool before answering (a7 tool_use -> r3 result -> a8 text)."""
    T = "2026-02-10T22:59:"
    at = len(records) - 2                              # before the summary and the mystery record
    records[at:at] = [
        F._assistant("a7", "u5", T + "00.000Z", "msg_D",
                     {"type": "tool_use", "id": "toolu_C", "name": "Read", "input": {"path": "x.png"}}, 6),
        F._result("r3", "a7", T + "01.000Z", "toolu_C", "an image of a cat"),
        F._assistant("a8", "r3", T + "02.000Z", "msg_E", {"type": "text", "text": "It is a cat."}, 5),
    ]
    return records


def test_rewind_alternatives_are_represented_by_their_final_answer() -> None:
    records = _rewind_with_tool_use(F.session_records())
    conv, by_id = _session(records)
    assert conv.current_leaf_id == "a8" and by_id["a7"].text == ""
    [comparison] = comparisons(one_session(records))
    assert comparison.prompt_message_id == "u5" and comparison.candidate_message_ids == ["a6", "a8"]
    assert comparison.chosen_message_ids == ["a8"] and comparison.rejected_message_ids == ["a6"]
    assert comparison.created_at == by_id["a8"].created_at


def test_sidechain_messages_are_not_alternatives() -> None:
    records = F.session_records()
    side = {**F._assistant("sc1", "u5", "2026-02-10T22:58:30.000Z", "msg_S",
                           {"type": "text", "text": "Sub-agent report."}, 3), "isSidechain": True}
    records.insert(len(records) - 2, side)
    conv, by_id = _session(records)
    assert by_id["sc1"].parent_id == "u5" and by_id["sc1"].metadata["is_sidechain"]
    assert comparisons(one_session(records)) == []
    records = _rewind_with_tool_use(records)          # a real rewind next to it: only a6 and a8 compete
    [comparison] = comparisons(one_session(records))
    assert comparison.candidate_message_ids == ["a6", "a8"]


def test_parallel_tool_results_are_not_regenerations() -> None:
    """Results of one batch are chained, so the batch's follow-up answer is no fork."""
    assert comparisons(one_session(F.session_records())) == []


def test_a_repeated_line_that_lost_its_message_counts_once():
    """Found by the property test: a resumed session repeats a line (same uuid) whose copy lacks
    ``message``; the raw count and the messages must agree that it is one message."""
    from claude_fixtures import subagent_records
    from moonshine_claude.claude_code import count_folded_messages

    records = subagent_records()
    copy = {k: v for k, v in records[1].items() if k != "message"}
    records.append(copy)
    assert count_folded_messages(records) == 2
