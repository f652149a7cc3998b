"""``content_of`` (what every content hash covers) is the cattrs unstructuring it replaced, exactly."""

from __future__ import annotations

import attrs
import pytest

from moonshine_core.convert import unstructure
from moonshine_core.errors import MoonshineError
from moonshine_core.ids import canonical_json
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.records import Conversation
from moonshine_core.store.rows import content_of
from moonshine_core.testing import normalize_all, real_export_files


def _reference(record) -> dict:
    data = unstructure(record)
    data.pop("raw", None)
    return data


def _check(records) -> int:
    checked = 0
    for record in records:
        assert canonical_json(content_of(record)) == canonical_json(_reference(record))
        if isinstance(record, Conversation):
            for message in record.messages:
                assert canonical_json(content_of(message)) == canonical_json(_reference(message))
                for part in (*message.tool_calls, *message.tool_results, *message.attachments):
                    assert canonical_json(content_of(part)) == canonical_json(_reference(part))
                checked += 1
            bare = attrs.evolve(record, messages=[], raw=None)
            assert canonical_json(content_of(attrs.evolve(record, messages=[])) | {"raw": None}) == \
                canonical_json(unstructure(bare))
        checked += 1
    return checked


@pytest.mark.parametrize("provider", ["chatgpt", "claude", "qwen", "deepseek", "gemini", "codex"])
def test_content_equals_the_cattrs_unstructuring_on_every_sample(provider):
    pm = make_plugin_manager()
    if provider not in pm.providers():
        pytest.skip(f"{provider} plugin not installed")
    paths = pm.pm.get_plugin(provider).moonshine_sample_exports() or []
    assert paths, "no sample exports"
    for path in paths:
        records, _ = normalize_all(pm, provider, path)
        assert _check(records) > 0


@pytest.mark.real_exports
def test_content_equals_the_cattrs_unstructuring_on_the_real_exports():
    pm = make_plugin_manager()
    checked = 0
    for provider in pm.providers():
        for path in real_export_files(provider):
            try:
                records, _ = normalize_all(pm, provider, path)
            except MoonshineError:  # the folder also holds files that are not exports (refused by design)
                continue
            checked += _check(records)
    if not checked:
        pytest.skip("no real exports")
