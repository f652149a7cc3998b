"""The core's contract suite on the shipped samples, and discovery through the entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from moonshine_chatgpt.plugin import plugin
from moonshine_core.errors import NormalizeError
from moonshine_core.provider import ProviderPlugin
from moonshine_core.records import RawRecord
from moonshine_core.testing import ProviderContract, plugin_manager_for

SAMPLES = [Path(p) for p in plugin.moonshine_sample_exports()]


class TestChatGPTContract(ProviderContract):
    provider = "chatgpt"
    plugin = plugin
    samples = SAMPLES


class TestChatGPTContractViaEntryPoint(ProviderContract):
    provider = "chatgpt"
    plugin = None
    samples = SAMPLES


def test_samples_cover_single_and_sharded():
    names = {p.name for p in SAMPLES}
    assert names == {"chatgpt-export-2025", "chatgpt-export-2026-sharded"}


def test_plugin_is_a_provider_plugin_named_chatgpt():
    assert isinstance(plugin, ProviderPlugin) and plugin.provider == "chatgpt"


def test_plugin_manager_lists_the_plugin():
    infos = {i.name: i for i in plugin_manager_for("chatgpt").plugin_infos()}
    assert "chatgpt" in infos
    info = infos["chatgpt"]
    assert info.error is None and info.distribution == "moonshine-chatgpt" and info.version == "0.1.0"
    assert {"moonshine_detect", "moonshine_parse", "moonshine_normalize", "moonshine_sample_exports"} <= set(
        info.hooks)


def test_hooks_answer_only_for_chatgpt():
    raw = RawRecord(kind="conversation", data={"id": "c", "mapping": {}})
    assert plugin.moonshine_normalize(provider="claude", raw=raw) is None
    assert plugin.moonshine_normalize(provider="chatgpt", raw=raw)[0].conversation_id == "c"


def test_normalize_errors_name_the_record():
    raw = RawRecord(kind="conversation", data={"id": "c"}, member="conversations.json", index=7)
    with pytest.raises(NormalizeError, match=r"^conversations\.json#7: conversation c: mapping is missing"):
        plugin.moonshine_normalize(provider="chatgpt", raw=raw)
