"""Property tests: mutated exports only ever raise the documented error types.

Mutations drop keys, swap values for arbitrary JSON of any type, add keys the format uses in wrong places,
duplicate items and truncate files. Detection never raises, parsing raises only ParseError, normalising only
NormalizeError; whatever normalises survives a converter round trip, is a sound tree, and its message count
equals its raw count.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moonshine_gemini.plugin as gemini_plugin
from moonshine_core.errors import NormalizeError, ParseError
from moonshine_core.records import Conversation
from moonshine_core.sources import ExportSource
from moonshine_core.testing import check_records, mutate_json, normalize_all, plugin_manager_for
from moonshine_gemini.normalize import normalize
from moonshine_gemini.plugin import plugin as gemini

SAMPLES = Path(gemini_plugin.__file__).resolve().parent / "samples"
MEMBER = "Takeout/My Activity/Gemini Apps/MyActivity.json"
TAKEOUT = json.loads((SAMPLES / "gemini_takeout" / MEMBER).read_text(encoding="utf-8"))
BARE = json.loads((SAMPLES / "MyActivity.json").read_text(encoding="utf-8"))
# The safety net stays on: stray exceptions must come out as NormalizeError (ProviderPlugin's rule).
PM = plugin_manager_for("gemini", gemini)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYS = ["header", "title", "time", "products", "safeHtmlItem", "html", "subtitles", "name", "url", "details",
        "imageFile", "attachedFiles", "titleUrl", "activityControls"]

#: Words of the format, so that mutations put real values (verbs, links, HTML) in wrong places.
FORMAT_WORDS = ["Gemini Apps", "Prompted ", "Prompted x", "Gave feedback: Good response", "Cleared previous feedback",
                "Created Gemini Canvas titled T", "2026-03-09T09:00:00.100Z", "https://gemini.google.com/app/abc",
                "<p>a<b>b</p>", "<pre><code>x</code></pre>", "-  f.png", "X was used in this chat."]
SCALARS = (st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.text(max_size=12)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(FORMAT_WORDS))


def _containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    keys = st.sampled_from(KEYS) | st.text(max_size=6)
    return st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3)


json_values = st.recursive(SCALARS, _containers, max_leaves=6)


def _check(path: Path) -> None:
    """Detection reports no error; parsing fails only with ParseError; what normalises is sound and counted."""
    with ExportSource(path) as source:
        assert PM.detect(source)[1] == []
    try:
        records, _ = normalize_all(PM, "gemini", path)   # failures there are NormalizeErrors, listed
    except ParseError:
        return
    assert check_records(records) == []
    assert all(r.raw_message_count == len(r.messages) for r in records if isinstance(r, Conversation))


@FUZZ
@given(data=st.data())
def test_mutated_takeout_zip(data):
    activity = mutate_json(data, TAKEOUT, json_values, keys=KEYS)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "takeout.zip"
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(MEMBER, json.dumps(activity))
            archive.writestr("Takeout/My Activity/Gemini Apps/tide-chart-4f1a2b.png", b"\x89PNG")
        _check(path)


@FUZZ
@given(data=st.data())
def test_mutated_bare_file(data):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "MyActivity.json"
        path.write_text(json.dumps(mutate_json(data, BARE, json_values, keys=KEYS)), encoding="utf-8")
        _check(path)


@FUZZ
@given(cut=st.floats(0.0, 1.0), which=st.sampled_from(["takeout", "bare"]))
def test_truncated_files(cut, which):
    text = json.dumps(TAKEOUT if which == "takeout" else BARE).encode("utf-8")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "MyActivity.json"
        path.write_bytes(text[: int(len(text) * cut)])
        _check(path)


def _raw_records() -> list[Any]:
    with ExportSource(SAMPLES / "gemini_takeout") as source:
        return list(PM.parse("gemini", source))


RAWS = _raw_records()


@FUZZ
@given(data=st.data())
def test_normalize_alone_raises_only_normalize_error(data):
    """Straight into the normaliser, past the safety net, with mutated records and mutated plan context."""
    raw = data.draw(st.sampled_from(RAWS), label="raw")
    mutated = type(raw)(kind=raw.kind, data=mutate_json(data, raw.data, json_values, keys=KEYS),
                        member=raw.member, index=raw.index, variant=raw.variant,
                        context=mutate_json(data, raw.context, json_values, rounds=2)
                        if data.draw(st.booleans(), label="mutate context") else raw.context)
    try:
        records = normalize(mutated)
    except NormalizeError:
        return
    assert check_records(records) == []
