"""Tool outputs in every shape Codex wrote: exit codes, durations, error flags."""

from __future__ import annotations

import json

import pytest

from moonshine_codex.tools import decode_arguments, event_outcome, read_output, tool_call, tool_result


@pytest.mark.parametrize("output, exit_code, duration, success, status", [
    (json.dumps({"output": "ok\n", "metadata": {"exit_code": 0, "duration_seconds": 1.5}}), 0, 1.5, None, None),
    (json.dumps({"output": "bad\n", "metadata": {"exit_code": 127, "duration_seconds": 0.0}}), 127, 0.0, None, None),
    ("Exit code: 3\nWall time: 0.2 seconds\nTotal output lines: 9\nOutput:\nboom", 3, 0.2, None, None),
    ("Chunk ID: 1a\nWall time: 5.0 seconds\nProcess exited with code 0\nOriginal token count: 3\nOutput:\nok", 0, 5.0,
     None, None),
    ("Chunk ID: 1b\nWall time: 10.0 seconds\nProcess running with session ID 42\nOutput:\nstill going", None, 10.0,
     None, "running"),
    ("command timed out after 10000 milliseconds\npartial", None, None, False, "timeout"),
    ("aborted", None, None, None, "aborted"),
    ("failed to parse function arguments: missing field `command`", None, None, False, "error"),
    ("Success. Updated the following files:\nM a.py\n", None, None, True, None),
    (json.dumps({"content": "denied", "success": False}), None, None, False, None),
    ({"content": "fine", "success": True}, None, None, True, None),
    ("plain words with Exit code: 9 inside", None, None, None, None),
])
def test_read_output_shapes(output, exit_code, duration, success, status):
    facts = read_output(output)
    assert (facts["exit_code"], facts["duration_seconds"], facts["success"], facts["status"]) == \
           (exit_code, duration, success, status)


def test_content_item_lists_and_serialised_mcp_blocks_become_text():
    items = read_output([{"type": "input_text", "text": "a"}, {"type": "input_image", "image_url": "data:x"}])
    assert items["content"] == "a\n[image]" and items["shape"] == "content_items"
    blocks = read_output(json.dumps([{"type": "text", "text": "hello"}]))
    assert blocks["content"] == "hello" and blocks["shape"] == "content_blocks_json"
    assert read_output(None)["shape"] == "missing" and read_output(12)["content"] == "12"


def test_is_error_follows_the_exit_code_then_success_then_events():
    failing, meta = tool_result({"type": "function_call_output", "call_id": "c", "output": "Exit code: 1\nOutput:\n"},
                                "shell", None)
    assert failing.is_error is True and meta["exit_code"] == 1
    silent, meta = tool_result({"type": "function_call_output", "call_id": "c", "output": "done"}, "shell",
                               {"source": "exec_command_end", "exit_code": 2, "duration_seconds": 0.5})
    assert silent.is_error is True and meta["exit_code"] == 2 and meta["outcome_from_event"] == "exec_command_end"
    unknown, meta = tool_result({"type": "function_call_output", "call_id": "c", "output": "done"}, None, None)
    assert unknown.is_error is None and unknown.status is None and "exit_code" not in meta


def test_end_events():
    assert event_outcome("exec_command_end", {"exit_code": 0, "duration": {"secs": 1, "nanos": 500000000}}) == \
           {"source": "exec_command_end", "exit_code": 0, "duration_seconds": 1.5}
    assert event_outcome("patch_apply_end", {"success": False})["success"] is False
    assert event_outcome("mcp_tool_call_end", {"result": {"Err": "no server"}})["success"] is False
    assert event_outcome("mcp_tool_call_end", {"result": {"Ok": {"is_error": True}}})["success"] is False


def test_calls_of_every_kind():
    assert decode_arguments('{"a": 1}') == {"a": 1} and decode_arguments("[1]") == "[1]" and decode_arguments("x{") == "x{"
    shell = tool_call({"type": "local_shell_call", "id": "ls_1", "status": "completed",
                       "action": {"type": "exec", "command": ["ls"]}})
    assert (shell.name, shell.call_id, shell.arguments["command"]) == ("local_shell", "ls_1", ["ls"])
    patch = tool_call({"type": "custom_tool_call", "call_id": "p", "name": "apply_patch", "input": "*** Begin Patch"})
    assert patch.arguments == "*** Begin Patch"
    search = tool_call({"type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}})
    assert search.name == "web_search" and search.call_id is None
    image = tool_call({"type": "image_generation_call", "id": "ig", "result": "A" * 1000, "revised_prompt": "a cat"})
    assert image.arguments == {"revised_prompt": "a cat"} and "AAAA" not in json.dumps(image.raw)
    odd = tool_call({"type": "tool_search_call", "call_id": "t", "arguments": {"query": "x"}})
    assert odd.name == "tool_search" and odd.arguments == {"query": "x"}
