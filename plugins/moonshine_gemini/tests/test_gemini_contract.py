"""The core's provider contract suite on every shipped sample, on the sample Takeout as a zip, and localized."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from moonshine_core.testing import ProviderContract, plugin_manager_for
from moonshine_gemini.plugin import plugin as gemini

SAMPLES = [Path(p) for p in gemini.moonshine_sample_exports()]
TAKEOUT = next(p for p in SAMPLES if p.is_dir())
GERMAN = {"My Activity": "Meine Aktivitäten", "Gemini Apps": "Gemini-Apps", "MyActivity": "MeineAktivitäten"}


def _zip(folder: Path, path: Path, rename: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = member.relative_to(folder).as_posix()
            for old, new in (rename or {}).items():
                name = name.replace(old, new)
            archive.write(member, name)
    return path


class TestGeminiContract(ProviderContract):
    """The suite on the samples, plus the Takeout folder zipped as Google delivers it, in English and German."""

    provider = "gemini"
    plugin = gemini
    samples = SAMPLES
    _zips = tempfile.TemporaryDirectory(prefix="gemini-contract-")

    def _samples(self) -> list[Path]:
        folder = Path(self._zips.name)
        zips = [folder / "takeout-20260315T101010Z-001.zip", folder / "takeout-de.zip"]
        if not zips[0].exists():
            _zip(TAKEOUT, zips[0])
            _zip(TAKEOUT, zips[1], GERMAN)
        return [*SAMPLES, *zips]


class TestGeminiContractThroughEntryPoint(ProviderContract):
    """Same suite with the plugin loaded from its installed entry point."""

    provider = "gemini"
    plugin = None
    samples = SAMPLES


def test_samples_are_the_takeout_folder_and_the_bare_file():
    assert {p.name for p in SAMPLES} == {"gemini_takeout", "MyActivity.json"}


def test_installed_plugin_is_listed_without_error():
    manager = plugin_manager_for("gemini")  # through the installed entry point
    (info,) = [i for i in manager.plugin_infos() if i.name == "gemini"]
    assert info.error is None and info.distribution == "moonshine-gemini" and info.version == "0.1.0"
    assert set(info.hooks) == {"moonshine_detect", "moonshine_parse", "moonshine_normalize",
                               "moonshine_sample_exports"}
    assert "gemini" in manager.providers()
