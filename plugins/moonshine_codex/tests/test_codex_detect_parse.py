"""Detection reads only file heads and claims only Codex rollouts; parsing streams one file at a time."""

from __future__ import annotations

import inspect
import json
import zipfile
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from moonshine_core.errors import ParseError
from moonshine_core.sources import ExportSource
from moonshine_core.testing import plugin_manager_for

from codex_helpers import FILE_A, HOME, SAMPLES_DIR, assistant, meta, normalise, pm, user, write_rollout, zip_folder
from moonshine_codex.parse import detect, parse

OTHER_SAMPLES = [p for p in (SAMPLES_DIR.parents[2]).glob("moonshine_*/moonshine_*/samples/*")
                 if "moonshine_codex" not in str(p)]


def _detect(path: Path):
    with ExportSource(path) as source:
        return detect(source)


def test_variants_and_confidence():
    folder = _detect(HOME)
    assert folder.provider == "codex" and folder.variant == "sessions-folder-mixed" and folder.confidence == 0.95
    assert "4 envelope, 1 legacy" in folder.evidence
    assert _detect(FILE_A).variant == "rollout-envelope"


def test_zip_of_the_sessions_folder(tmp_path):
    found = _detect(zip_folder(HOME, tmp_path / "sessions.zip"))
    assert found.provider == "codex"
    convs, _, failures = normalise(tmp_path / "sessions.zip")
    assert not failures and len(convs) == 5


def test_a_rollout_under_another_name_is_found_by_its_head(tmp_path):
    path = write_rollout(tmp_path, [meta(), user("hi"), assistant("hello")], name="my-session.jsonl")
    found = _detect(path)
    assert found.variant == "rollout-envelope" and found.confidence == 0.95


@pytest.mark.parametrize("lines", [
    [{"type": "user", "sessionId": "s", "uuid": "u", "message": {"role": "user", "content": "hi"}}],
    [{"id": "x", "timestamp": "2025-01-01T00:00:00Z", "text": "not codex"}],
    [{"session_id": "s", "ts": 1, "text": "history line"}],
])
def test_other_jsonl_is_not_claimed(tmp_path, lines):
    path = tmp_path / "session.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert _detect(path) is None


def test_history_and_session_index_alone_are_not_an_export(tmp_path):
    (tmp_path / "history.jsonl").write_text(json.dumps({"session_id": "s", "ts": 1, "text": "x"}) + "\n")
    (tmp_path / "session_index.jsonl").write_text(json.dumps({"id": "s", "thread_name": "n"}) + "\n")
    assert _detect(tmp_path) is None
    with ExportSource(tmp_path) as source, pytest.raises(ParseError, match="no Codex rollout"):
        parse(source)


@pytest.mark.parametrize("sample", OTHER_SAMPLES, ids=lambda p: p.name)
def test_never_claims_another_providers_sample(sample):
    assert _detect(sample) is None


@pytest.mark.parametrize("provider", sorted({ep.name for ep in entry_points(group="moonshine")} - {"codex"}))
def test_other_plugins_do_not_claim_codex_samples(provider):
    manager = plugin_manager_for(provider)   # that installed plugin alone, through its entry point
    for sample in SAMPLES_DIR.iterdir():
        with ExportSource(sample) as source:
            found, errors = manager.detect(source)
        assert not errors and not [d for d in found if d.provider == provider], (sample, found)


def test_parse_is_a_generator_of_one_record_per_file():
    with ExportSource(HOME) as source:
        records = parse(source)
        assert inspect.isgenerator(records)
        raws = list(records)
    assert [r.member.rsplit("/", 1)[-1][:19] for r in raws] == [
        "rollout-2025-08-20T", "rollout-2025-10-14T", "rollout-2026-03-02T", "rollout-2026-03-05T",
        "rollout-2026-09-09T"]
    assert all(r.kind == "conversation" and isinstance(r.data, list) for r in raws)


def test_a_damaged_typescript_rollout_costs_only_its_record(tmp_path):
    good = write_rollout(tmp_path, [meta(), user("hi"), assistant("hello")])
    bad = tmp_path / "rollout-2025-04-01-c0de0000-0000-4000-8000-000000000099.json"
    bad.write_text(json.dumps({"session": {"id": "x"}, "items": [{"type": "message"}]})[:-10])
    assert good.exists()
    convs, _, failures = normalise(tmp_path)
    assert len(convs) == 1 and len(failures) == 1 and "cannot be read" in failures[0]


def test_a_damaged_zip_member_is_a_parse_error(tmp_path):
    path = tmp_path / "broken.zip"
    zip_folder(HOME, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[3]
    start = info.header_offset + 30 + len(info.filename.encode()) + 5
    data[start:start + 40] = b"\x00" * 40
    path.write_bytes(bytes(data))
    manager = pm()
    try:
        with ExportSource(path) as source:
            for raw in manager.parse("codex", source):
                manager.normalize("codex", raw)
    except ParseError:
        pass
