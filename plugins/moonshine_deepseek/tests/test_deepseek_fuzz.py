"""Property tests: mutated exports only ever raise the documented error types.

Mutations drop keys, swap values for arbitrary JSON of any type, add unknown keys and truncate files.
Parsing may raise only ParseError, normalising only NormalizeError; whatever normalises survives a
converter round trip and is a sound tree whose message count matches the raw count.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moonshine_deepseek.plugin as deepseek_plugin
from moonshine_deepseek.plugin import plugin as deepseek
from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Conversation
from moonshine_core.sources import ExportSource
from moonshine_core.testing import check_records, mutate_json, plugin_manager_for
from moonshine_deepseek.normalize import normalize_api_chat, normalize_export_conversation

SAMPLES = Path(deepseek_plugin.__file__).resolve().parent / "samples"
EXPORT = json.loads((SAMPLES / "deepseek_export" / "conversations.json").read_text(encoding="utf-8"))
USER = json.loads((SAMPLES / "deepseek_export" / "user.json").read_text(encoding="utf-8"))
API = [json.loads((SAMPLES / n).read_text(encoding="utf-8"))
       for n in ("deepseek_web_api_flat.json", "deepseek_web_api_fragments.json")]
# The safety net stays on here: stray exceptions must come out as NormalizeError (ProviderPlugin's rule).
PM = plugin_manager_for("deepseek", deepseek)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12) | st.sampled_from(["REQUEST", "RESPONSE", "THINK", "SEARCH", "TIP", "FILE", "root",
                                               "1", "2025-07-11T12:09:40.014000+08:00", "[citation:1]"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _mutate(data: st.DataObject, doc: Any) -> Any:
    return mutate_json(data, doc, json_values)


def _check_export(path: Path) -> None:
    with ExportSource(path) as source:
        _, errors = PM.detect(source)
        assert errors == []
    try:
        with ExportSource(path) as source:
            raws = list(PM.parse("deepseek", source))
    except ParseError:
        return
    for raw in raws:
        try:
            records = PM.normalize("deepseek", raw)
        except NormalizeError:
            continue
        assert check_records(records) == []
        for record in records:
            if isinstance(record, Conversation):
                assert record.raw_message_count == len(record.messages)


@FUZZ
@given(data=st.data())
def test_mutated_official_zip(data):
    conversations = _mutate(data, EXPORT)
    user = _mutate(data, USER) if data.draw(st.booleans(), label="mutate user") else USER
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "deepseek_data.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("conversations.json", json.dumps(conversations))
            archive.writestr("user.json", json.dumps(user))
        _check_export(path)


@FUZZ
@given(data=st.data(), which=st.sampled_from([0, 1]))
def test_mutated_web_api_dump(data, which):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chat.json"
        path.write_text(json.dumps(_mutate(data, API[which])), encoding="utf-8")
        _check_export(path)


@FUZZ
@given(cut=st.floats(0.0, 1.0), which=st.sampled_from(["export", "api0", "api1"]))
def test_truncated_files(cut, which):
    doc = {"export": EXPORT, "api0": API[0], "api1": API[1]}[which]
    text = json.dumps(doc).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "conversations.json"
        path.write_bytes(text[: int(len(text) * cut)])
        _check_export(path)


@FUZZ
@given(data=st.data())
def test_inner_normalisers_raise_only_normalize_error(data):
    """Straight into the normalisers, past the safety net that turns stray errors into NormalizeError."""
    conversation = _mutate(data, data.draw(st.sampled_from(EXPORT), label="conversation"))
    chat = _mutate(data, data.draw(st.sampled_from(API), label="chat"))
    for call, value in ((normalize_export_conversation, conversation), (normalize_api_chat, chat)):
        try:
            records = call(value, "fuzz")
        except NormalizeError:
            continue
        assert check_records(records) == []
