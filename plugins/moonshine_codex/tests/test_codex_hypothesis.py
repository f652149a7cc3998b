"""Property tests: mutated rollouts only ever raise the documented errors, and what normalises is sound.

Mutations drop keys, swap values for arbitrary JSON, add keys (the plugin's own field names in wrong
places), duplicate lines and rename keys; files are also cut off at random bytes. Parsing may raise only
ParseError, normalising only NormalizeError; every conversation that comes out survives a converter round
trip, is a sound tree, and has as many messages as its independent raw count.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Conversation, RawRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import check_records, mutate_json, normalize_all, plugin_manager_for

from codex_helpers import FILE_A, FILE_B, FILE_C, FILE_E, FILE_LEGACY, FILE_SEGMENT, FILE_TS
from moonshine_codex.normalize import normalize
from moonshine_codex.plugin import plugin

ROLLOUTS = [[json.loads(line) for line in p.read_text().splitlines() if line.strip().endswith("}")]
            for p in (FILE_A, FILE_B, FILE_C, FILE_SEGMENT, FILE_LEGACY, FILE_E)]
TS = json.loads(FILE_TS.read_text())
PM = plugin_manager_for("codex", plugin)   # the safety net stays on: stray exceptions must become NormalizeError
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["type", "payload", "timestamp", "id", "role", "content", "text", "call_id", "output", "arguments", "name",
        "summary", "encrypted_content", "metadata", "exit_code", "num_turns", "info", "last_token_usage",
        "replacement_history", "base_instructions", "instructions", "record_type", "session", "items", "action"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10) | st.sampled_from([
        "session_meta", "response_item", "event_msg", "turn_context", "compacted", "message", "reasoning",
        "function_call", "function_call_output", "custom_tool_call", "local_shell_call", "user", "assistant",
        "developer", "input_text", "output_text", "input_image", "thread_rolled_back", "turn_aborted", "token_count",
        "exec_command_end", "call_A1", "L3", "Exit code: 1\nOutput:\n", '{"output": "x", "metadata": {"exit_code": 2}}',
        "<environment_context>x</environment_context>", "data:image/png;base64,AAAA"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)


def _check(path: Path) -> None:
    """Detection reports no plugin error; whatever parses and normalises is sound and fully counted."""
    with ExportSource(path) as source:
        assert PM.detect(source)[1] == []
    try:
        records, _ = normalize_all(PM, "codex", path)   # NormalizeError per file is listed, not raised
    except ParseError:
        return
    assert check_records(records) == []
    assert all(c.raw_message_count == len(c.messages) for c in records if isinstance(c, Conversation))


def _write_lines(folder: str, lines: Any) -> Path:
    path = Path(folder) / "rollout-2026-02-01T10-00-00-c0de0000-0000-4000-8000-0000000000ff.jsonl"
    if isinstance(lines, list):
        path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    else:
        path.write_text(json.dumps(lines) + "\n", encoding="utf-8")
    return path


@FUZZ
@given(data=st.data(), which=st.integers(0, len(ROLLOUTS) - 1))
def test_mutated_rollout_lines(data, which):
    lines = mutate_json(data, ROLLOUTS[which], json_values, keys=KEYS, rounds=6, keep_root=True)
    with tempfile.TemporaryDirectory() as folder:
        _check(_write_lines(folder, lines))


@FUZZ
@given(data=st.data())
def test_mutated_typescript_rollout(data):
    doc = mutate_json(data, TS, json_values, keys=KEYS, rounds=5)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rollout-2025-04-22-c0de0000-0000-4000-8000-0000000000fe.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        _check(path)


@FUZZ
@given(cut=st.floats(0.0, 1.0), which=st.integers(0, len(ROLLOUTS)))
def test_truncated_files(cut, which):
    text = (json.dumps(TS) if which == len(ROLLOUTS) else
            "".join(json.dumps(x) + "\n" for x in ROLLOUTS[which])).encode("utf-8")
    name = ("rollout-2025-04-22-c0de0000-0000-4000-8000-0000000000fe.json" if which == len(ROLLOUTS) else
            "rollout-2026-02-01T10-00-00-c0de0000-0000-4000-8000-0000000000ff.jsonl")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(text[: int(len(text) * cut)])
        _check(path)


@FUZZ
@given(data=st.data(), which=st.integers(0, len(ROLLOUTS) - 1))
def test_normalize_directly_raises_only_normalize_error(data, which):
    """Straight into the normaliser, past the safety net that turns stray errors into NormalizeError."""
    lines = mutate_json(data, ROLLOUTS[which], json_values, keys=KEYS, rounds=6)
    context = mutate_json(data, {"file_stem": "rollout-x", "line_numbers": list(range(1, 40)), "shape": "envelope"},
                          json_values, keys=["file_stem", "line_numbers", "id_suffix", "thread_name"], rounds=2)
    raw = RawRecord(kind="conversation", data=lines, member="fuzz.jsonl", index=0,
                    context=context if isinstance(context, dict) else {})
    try:
        records = normalize(raw)
    except NormalizeError:
        return
    assert check_records(records) == []
    conversation = records[0]
    assert conversation.raw_message_count == len(conversation.messages)
