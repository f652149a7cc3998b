"""Mutated and truncated exports: only ParseError / NormalizeError may ever escape, and output stays sound
(records survive a converter round trip, trees are sound, the active leaf exists, counts equal to raw)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Conversation, RawRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import check_records, mutate_json

from moonshine_qwen.plugin import SAMPLES_DIR, plugin
import qwen_builders as qb

SAMPLES = sorted(Path(SAMPLES_DIR).glob("*.json"))
BASE = [json.loads(p.read_text(encoding="utf-8")) for p in SAMPLES]


@pytest.fixture(autouse=True, scope="module")
def _bugs_surface():
    """An exception other than ParseError / NormalizeError is a bug here: let it out instead of wrapping it."""
    plugin.raise_unexpected = True
    yield
    plugin.raise_unexpected = False


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**13) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
QWEN_KEYS = ["id", "role", "content", "content_list", "parentId", "childrenIds", "timestamp", "model", "modelName",
             "modelIdx", "files", "feedbackId", "annotation", "reasoning_content", "phase", "extra", "usage",
             "history", "messages", "currentId", "currentResponseIds", "meta", "tags", "chat", "models", "title",
             "summary_title", "summary_thought", "web_search_info", "created_at", "status", "is_stop", "done"]


def _mutate(doc: Any, data: st.DataObject) -> Any:
    return mutate_json(data, doc, json_values, keys=QWEN_KEYS + ["zz_extra"], keep_root=True)


def _run_bytes(payload: bytes, name: str = "chat-export.json") -> list[Any]:
    """Parse and normalise; return the records. Only the documented errors may escape."""
    records: list[Any] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(payload)
        pm = qb.manager()
        with ExportSource(path) as source:
            pm.detect(source)  # a detector must never raise either
            try:
                for raw in pm.parse("qwen", source):
                    try:
                        records.extend(pm.normalize("qwen", raw))
                    except NormalizeError:
                        pass
            except ParseError:
                pass
    return records


def _assert_sound(records: list[Any]) -> None:
    assert check_records(records) == []
    for record in records:
        if isinstance(record, Conversation):
            assert record.raw_message_count == len(record.messages)


@SETTINGS
@given(data=st.data(), which=st.integers(0, len(BASE) - 1))
def test_mutated_exports_only_raise_documented_errors(data, which):
    doc = _mutate(BASE[which], data)
    _assert_sound(_run_bytes(json.dumps(doc, ensure_ascii=False).encode("utf-8")))


@SETTINGS
@given(which=st.integers(0, len(BASE) - 1), fraction=st.floats(0.0, 1.0))
def test_truncated_exports_are_parse_errors(which, fraction):
    payload = json.dumps(BASE[which], indent=1).encode("utf-8")
    cut = int(len(payload) * fraction)
    try:
        records = []
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "chat-export.json"
            path.write_bytes(payload[:cut])
            pm = qb.manager()
            with ExportSource(path) as source:
                for raw in pm.parse("qwen", source):
                    records.extend(pm.normalize("qwen", raw))
    except (ParseError, NormalizeError):
        return
    # Only a cut in the trailing whitespace (or nothing cut) can parse.
    assert payload[cut:].strip() == b""
    _assert_sound(records)


@SETTINGS
@given(which=st.integers(0, len(BASE) - 1), position=st.floats(0.0, 1.0), junk=st.binary(min_size=1, max_size=4))
def test_corrupted_bytes_only_raise_documented_errors(which, position, junk):
    payload = json.dumps(BASE[which], ensure_ascii=False).encode("utf-8")
    at = int(len(payload) * position)
    _assert_sound(_run_bytes(payload[:at] + junk + payload[at + len(junk):]))


conversation_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values, "title": json_values, "created_at": json_values, "currentId": json_values,
        "currentResponseIds": json_values, "meta": st.fixed_dictionaries({}, optional={"tags": json_values}),
        "chat": st.fixed_dictionaries({}, optional={
            "history": st.fixed_dictionaries({}, optional={
                "messages": st.dictionaries(st.text(max_size=4), st.dictionaries(
                    st.sampled_from(QWEN_KEYS), json_values, max_size=8) | json_values, max_size=5),
                "currentId": json_values}),
            "messages": st.lists(st.dictionaries(st.sampled_from(QWEN_KEYS), json_values, max_size=8) | json_values,
                                 max_size=5),
            "models": json_values}),
    },
)


@SETTINGS
@given(conv=conversation_like | json_values)
def test_normalize_on_arbitrary_conversation_shapes(conv):
    raw = RawRecord(kind="conversation", data=conv, member="chat-export.json", index=0, variant="export_all")
    try:
        records = qb.manager().normalize("qwen", raw)
    except NormalizeError:
        return
    _assert_sound(records)
