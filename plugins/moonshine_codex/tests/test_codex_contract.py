"""The core's provider contract suite on every shipped sample, a zip of the sessions folder, and through the entry point."""

from __future__ import annotations

from pathlib import Path

import pytest

from moonshine_core.testing import ProviderContract, plugin_manager_for

from codex_helpers import HOME, zip_folder
from moonshine_codex.plugin import plugin

SAMPLES = [Path(p) for p in plugin.moonshine_sample_exports()]


class TestCodexContract(ProviderContract):
    provider = "codex"
    plugin = plugin
    samples = SAMPLES

    @pytest.fixture(autouse=True)
    def _with_zip(self, tmp_path_factory):
        self.samples = SAMPLES + [zip_folder(HOME, tmp_path_factory.mktemp("zip") / "codex-sessions.zip")]


class TestCodexContractThroughEntryPoint(ProviderContract):
    provider = "codex"
    plugin = None
    samples = SAMPLES


def test_samples_cover_every_shape():
    assert {p.name for p in SAMPLES} == {"codex_home", "rollout-2025-04-22-c0de0000-0000-4000-8000-00000000000f.json",
                                        "rollout-2026-01-12T09-15-00-c0de0000-0000-4000-8000-00000000000e.jsonl"}


def test_installed_plugin_is_listed_without_error():
    manager = plugin_manager_for("codex")
    (info,) = [i for i in manager.plugin_infos() if i.name == "codex"]
    assert info.error is None and info.distribution == "moonshine-codex" and info.version == "0.1.0"
    assert {"moonshine_detect", "moonshine_parse", "moonshine_normalize", "moonshine_sample_exports"} <= set(info.hooks)
