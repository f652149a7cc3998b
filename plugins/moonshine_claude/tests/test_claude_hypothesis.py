"""Mutated exports: whatever the damage, only ParseError (whole export) or NormalizeError (one record) escape,
and whatever normalises is sound (converter round trip, tree, active leaf, counts equal to raw)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Conversation
from moonshine_core.testing import check_records, mutate_json

import claude_fixtures as F
from helpers_claude import one_conversation, one_session, run

SETTINGS = settings(max_examples=int(__import__("os").environ.get("CLAUDE_HYPO_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _mutate(data: st.DataObject, value: Any, rounds: int = 4) -> Any:
    """Drop fields, put wrong types in, add or rename keys, duplicate items: at random places."""
    return mutate_json(data, value, json_values, rounds=rounds)


def _check_records(records: list) -> None:
    assert check_records(records) == []
    for record in records:
        if isinstance(record, Conversation):
            assert record.raw_message_count == len(record.messages)


@SETTINGS
@given(st.data(), st.sampled_from([F.conversation_2024, F.conversation_2025, F.conversation_2026]))
def test_mutated_claude_ai_conversation(data: st.DataObject, build) -> None:
    try:
        records = one_conversation(_mutate(data, build()))
    except NormalizeError:
        return
    _check_records(records)


@SETTINGS
@given(st.data(), st.sampled_from([F.session_records, F.subagent_records]))
def test_mutated_claude_code_session(data: st.DataObject, build) -> None:
    try:
        records = one_session(_mutate(data, build(), rounds=6))
    except NormalizeError:
        return
    _check_records(records)


def _export_files(which: str) -> dict[str, Any]:
    if which == "legacy":
        return {"conversations.json": [F.conversation_2024(), F.conversation_2025()], "users.json": F.users(),
                "projects.json": [F.project()], "memories.json": F.memories_legacy()}
    return {"conversations.json": [F.conversation_2026()], f"projects/{F.project()['uuid']}.json": F.project(),
            f"memories/{F.ACCOUNT}.json": F.memory_2026()}


@SETTINGS
@given(st.data(), st.sampled_from(["legacy", "2026"]), st.booleans())
def test_mutated_and_truncated_export_files(data: st.DataObject, which: str, zipped: bool) -> None:
    files = _export_files(which)
    name = data.draw(st.sampled_from(sorted(files)))
    files[name] = _mutate(data, files[name], rounds=2)
    blobs = {n: json.dumps(v).encode() for n, v in files.items()}
    if data.draw(st.booleans()):
        blob = blobs[name]
        blobs[name] = blob[: data.draw(st.integers(0, len(blob)))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "export"
        if zipped:
            root = F.write_zip(Path(tmp) / "export.zip", blobs)
        else:
            for member, blob in blobs.items():
                (root / member).parent.mkdir(parents=True, exist_ok=True)
                (root / member).write_bytes(blob)
        _run_tolerant(root)


@SETTINGS
@given(st.data())
def test_mutated_and_truncated_session_file(data: st.DataObject) -> None:
    records = _mutate(data, F.session_records(), rounds=4)
    text = "\n".join(json.dumps(r) for r in records) if isinstance(records, list) else json.dumps(records)
    text = text[: data.draw(st.integers(0, len(text)))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{F.SESSION}.jsonl"
        path.write_text(text)
        _run_tolerant(path)


def _run_tolerant(path: Path) -> None:
    from moonshine_core.sources import ExportSource
    from helpers_claude import normalize, parse

    try:
        with ExportSource(path) as source:
            raws = list(parse(source))
    except ParseError:
        return
    for raw in raws:
        try:
            _check_records(normalize(raw))
        except NormalizeError:
            pass


def test_run_helper_still_works_on_clean_exports(tmp_path: Path) -> None:
    assert run(F.write_legacy_folder(tmp_path / "x"))
