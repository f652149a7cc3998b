"""The core's provider contract suite, run on the samples this plugin ships."""

from __future__ import annotations

from pathlib import Path

from moonshine_qwen.plugin import SAMPLES_DIR
from moonshine_qwen.plugin import plugin as qwen_plugin
from moonshine_core.testing import ProviderContract

SAMPLES = sorted(Path(SAMPLES_DIR).glob("*.json"))


def test_samples_are_shipped_and_returned_by_the_hook():
    assert len(SAMPLES) >= 2
    assert qwen_plugin.moonshine_sample_exports() == [str(p) for p in SAMPLES]


class TestQwenContract(ProviderContract):
    provider = "qwen"
    plugin = qwen_plugin
    samples = SAMPLES


class TestQwenContractViaEntryPoint(ProviderContract):
    """The same suite with the plugin loaded the way users get it: through its installed entry point."""

    provider = "qwen"
    plugin = None
    samples = SAMPLES[:1]
