"""The core's provider contract suite, on every shipped sample plus the sample as an official zip."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from moonshine_deepseek.plugin import plugin as deepseek
from moonshine_core.testing import ProviderContract, plugin_manager_for

SAMPLES = [Path(p) for p in deepseek.moonshine_sample_exports()]


class TestDeepSeekContract(ProviderContract):
    provider = "deepseek"
    plugin = deepseek
    samples = SAMPLES

    @pytest.fixture(autouse=True)
    def _with_official_zip(self, tmp_path_factory):
        folder = next(p for p in SAMPLES if p.is_dir())
        path = tmp_path_factory.mktemp("zip") / "deepseek_data-2025-10-01.zip"
        with zipfile.ZipFile(path, "w") as archive:
            for member in sorted(folder.iterdir()):
                archive.write(member, member.name)
        self.samples = SAMPLES + [path]


class TestDeepSeekContractThroughEntryPoint(ProviderContract):
    """Same suite with the plugin loaded from its installed entry point."""

    provider = "deepseek"
    plugin = None
    samples = SAMPLES


def test_samples_cover_every_variant():
    names = {p.name for p in SAMPLES}
    assert names == {"deepseek_export", "deepseek_web_api_flat.json", "deepseek_web_api_fragments.json"}


def test_installed_plugin_is_listed_without_error():
    manager = plugin_manager_for("deepseek")  # through the installed entry point
    (info,) = [i for i in manager.plugin_infos() if i.name == "deepseek"]
    assert info.error is None and info.distribution == "moonshine-deepseek" and info.version == "0.1.0"
    assert {"moonshine_detect", "moonshine_parse", "moonshine_normalize", "moonshine_sample_exports"} <= set(info.hooks)
    assert "deepseek" in manager.providers()
