"""The core's provider contract suite, run on the shipped samples and on test-built exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from moonshine_core.testing import ProviderContract, check_provider, plugin_manager_for

import claude_fixtures as F
from moonshine_claude.plugin import plugin as claude_plugin

moonshine_sample_exports = claude_plugin.moonshine_sample_exports


class TestClaudeContract(ProviderContract):
    provider = "claude"
    plugin = claude_plugin
    samples = [Path(p) for p in moonshine_sample_exports()]


def test_samples_ship_every_variant() -> None:
    names = [Path(p).name for p in moonshine_sample_exports()]
    assert names == ["claude_ai_2026", "claude_ai_legacy", "claude_code"]
    assert all(Path(p).is_dir() for p in moonshine_sample_exports())


@pytest.mark.parametrize("build", [F.write_manifest_folder, F.write_legacy_folder])
def test_contract_on_built_exports(tmp_path: Path, build) -> None:
    pm = plugin_manager_for("claude", claude_plugin)
    assert check_provider(pm, "claude", build(tmp_path / "export")) == []


def test_entry_point_loads() -> None:
    pm = plugin_manager_for("claude")
    assert "claude" in pm.providers() and not pm.load_errors()


def test_samples_are_the_builders_output(tmp_path: Path) -> None:
    """The shipped samples are synthetic: exactly what the fixture builders write."""
    samples = {Path(p).name: Path(p) for p in moonshine_sample_exports()}
    for name, build in (("claude_ai_legacy", F.write_legacy_folder), ("claude_ai_2026", F.write_2026_folder),
                        ("claude_code", F.write_claude_code_folder)):
        fresh = build(tmp_path / name)
        shipped = samples[name]
        files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
        assert files == sorted(p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file())
        for rel in files:
            assert (fresh / rel).read_bytes() == (shipped / rel).read_bytes(), rel
