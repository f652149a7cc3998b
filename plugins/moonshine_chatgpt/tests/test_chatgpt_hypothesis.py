"""Property tests: mutated exports (missing fields, wrong types, extra keys, truncation) never make
the plugin raise anything but ParseError (parser) or NormalizeError (normalize), and whatever it does
return is sound (valid records that survive a converter round trip, a forest, counts equal to raw, an
active leaf that exists).

Normalising goes through the plugin's hook with ``raise_unexpected`` set, so a TypeError or KeyError
deep in a record fails the test instead of being turned into a NormalizeError."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moonshine_chatgpt import synthetic as syn
from moonshine_chatgpt.detect import detect
from moonshine_chatgpt.parse import iter_raw_records
from moonshine_chatgpt.plugin import plugin
from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Comparison, Conversation, RawRecord
from moonshine_core.sources import ExportSource
from moonshine_core.testing import check_records

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WRONG_VALUES = [None, 0, -1, 1.5, True, "", "x", [], {}, [1, "a", None], {"content_type": "weird"},
                {"parts": [{"content_type": 3}]}, "2024-01-01T00:00:00Z", 1e13]
OPS = ["delete", "wrong_type", "extra_key", "drop_items"]


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found.extend(_paths(child, prefix + (key,)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.extend(_paths(child, prefix + (index,)))
    return found


def _mutate(data: Any, mutations: list[tuple[int, str, int]]) -> Any:
    data = copy.deepcopy(data)
    for path_index, op, value_index in mutations:
        paths = [p for p in _paths(data) if p]
        if not paths:
            break
        path = paths[path_index % len(paths)]
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        target = parent[last]
        value = copy.deepcopy(WRONG_VALUES[value_index % len(WRONG_VALUES)])
        if op == "delete":
            del parent[last]
        elif op == "wrong_type":
            parent[last] = value
        elif op == "extra_key" and isinstance(target, dict):
            target[f"unexpected_{value_index}"] = value
        elif op == "drop_items" and isinstance(target, (list, dict)) and target:
            if isinstance(target, list):
                target.pop(value_index % len(target))
            else:
                target.pop(list(target)[value_index % len(target)])
    return data


mutations = st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(OPS), st.integers(0, 100)),
                     min_size=1, max_size=6)


def _check_records(records: list) -> None:
    assert check_records(records) == []
    conversations = {r.conversation_id: r for r in records if isinstance(r, Conversation)}
    for record in records:
        if isinstance(record, Comparison) and record.source == "regeneration":
            ids = {m.message_id for m in conversations[record.conversation_id].messages}
            assert set(record.candidate_message_ids) <= ids and len(record.candidate_message_ids) >= 2
            assert set(record.chosen_message_ids) | set(record.rejected_message_ids) <= set(
                record.candidate_message_ids)
        if isinstance(record, Conversation):
            assert len(record.messages) == record.raw_message_count


def _normalize_or_reject(raw: RawRecord) -> None:
    plugin.raise_unexpected = True
    try:
        records = plugin.moonshine_normalize(provider="chatgpt", raw=raw)
    except NormalizeError:
        return
    finally:
        plugin.raise_unexpected = False
    _check_records(records)


@SETTINGS
@given(era=st.sampled_from(["2023", "2025", "2026"]), muts=mutations)
def test_mutated_conversations(era, muts):
    base = {"2023": syn.conversation_2023, "2025": syn.conversation_2025,
            "2026": lambda: syn.conversation_2026_slim(extra_turn=True)}[era]()
    _normalize_or_reject(RawRecord(kind="conversation", data=_mutate(base, muts), index=0))


@SETTINGS
@given(which=st.integers(0, 100), kind=st.sampled_from(["feedback", "comparison", "shared", "user"]), muts=mutations)
def test_mutated_side_records(which, kind, muts):
    if kind == "feedback":
        items, raw_kind, context = syn.feedback_records(), "feedback", {}
    elif kind == "comparison":
        items, raw_kind, context = syn.comparison_records(), "comparison", {
            "resolved": {"rb1": {"conversation_id": 3, "answer_message_id": None}, "a1": "junk"}}
    elif kind == "shared":
        items, raw_kind, context = syn.shared_records(), "side", {"side_kind": "shared_conversations"}
    else:
        items, raw_kind, context = [syn.user_record()], "side", {"side_kind": "user", "personal": True}
    data = _mutate(items[which % len(items)], muts)
    _normalize_or_reject(RawRecord(kind=raw_kind, data=data, context=context))


def _run_export(folder: Path) -> None:
    try:
        with ExportSource(folder) as source:
            found = detect(source)  # must never raise
            assert found is None or found.provider == "chatgpt"
            raws = list(iter_raw_records(source))
    except ParseError:
        return
    for raw in raws:
        _normalize_or_reject(raw)


@SETTINGS
@given(member=st.sampled_from(["conversations.json", "message_feedback.json", "model_comparisons.json",
                               "shared_conversations.json", "user.json"]),
       muts=mutations, wrap=st.booleans())
def test_mutated_export_files(member, muts, wrap):
    files = syn.export_files("wrapped" if wrap else "single")
    files[member] = _mutate(files[member], muts)
    with tempfile.TemporaryDirectory() as tmp:
        _run_export(syn.write_export(Path(tmp) / "export", files))


@SETTINGS
@given(member=st.sampled_from(["conversations-000.json", "conversations-001.json"]), muts=mutations)
def test_mutated_shards(member, muts):
    files = syn.export_files("sharded")
    files[member] = _mutate(files[member], muts)
    with tempfile.TemporaryDirectory() as tmp:
        _run_export(syn.write_export(Path(tmp) / "export", files))


@SETTINGS
@given(member=st.sampled_from(["conversations.json", "message_feedback.json", "model_comparisons.json",
                               "user.json"]),
       cut=st.floats(0.0, 1.0), junk=st.binary(max_size=8), as_zip=st.booleans())
def test_truncated_or_corrupted_files(member, cut, junk, as_zip):
    files = syn.export_files("single")
    with tempfile.TemporaryDirectory() as tmp:
        folder = syn.write_export(Path(tmp) / "export", files)
        path = folder / member
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut)] + junk)
        target = folder
        if as_zip:
            target = syn.write_export(Path(tmp) / "export.zip", {}, as_zip=True)
            import zipfile
            with zipfile.ZipFile(target, "w") as archive:
                for name in files:
                    archive.write(folder / name, name)
        _run_export(target)


@SETTINGS
@given(text=st.text(alphabet=st.sampled_from(list("ab 【】†.\ue200\ue201\ue202\ue203\ue204\ue206[]\"entity")),
                    max_size=40))
def test_citation_cleaner_never_fails(text):
    from moonshine_chatgpt.text import clean_text

    cleaned = clean_text(text)
    assert isinstance(cleaned, str)
    assert not any(ch in cleaned for ch in "\ue200\ue201\ue202\ue203\ue204\ue206")


def test_json_roundtrip_of_sample_is_stable():
    data = syn.export_files("single")
    assert json.loads(json.dumps(data)) == data
