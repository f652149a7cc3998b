"""The core's contract suite on the shipped samples, and discovery through the entry point."""

from __future__ import annotations

from pathlib import Path

import moonshine_chatgpt.plugin as plugin
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.testing import ProviderContract

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


def test_plugin_manager_lists_the_plugin():
    infos = {i.name: i for i in make_plugin_manager().plugin_infos()}
    assert "chatgpt" in infos
    info = infos["chatgpt"]
    assert info.error is None and info.distribution == "moonshine-chatgpt" and info.version == "0.1.0"
    assert {"moonshine_detect", "moonshine_parse", "moonshine_normalize", "moonshine_sample_exports"} <= set(
        info.hooks)
