"""The hook object: one ProviderPlugin named like its entry point; unexpected bugs cost one record."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import moonshine_qwen.normalize as qwen_normalize
from moonshine_core.errors import NormalizeError
from moonshine_core.provider import ProviderPlugin
from moonshine_core.records import RawRecord
from moonshine_qwen.plugin import plugin

import qwen_builders as qb


def test_entry_point_is_the_provider_plugin():
    (ep,) = [ep for ep in entry_points(group="moonshine") if ep.name == "qwen"]
    assert ep.value == "moonshine_qwen.plugin:plugin"
    loaded = ep.load()
    assert loaded is plugin and isinstance(loaded, ProviderPlugin) and loaded.provider == "qwen"


def _raw():
    return RawRecord(kind="conversation", data=qb.simple_conversation(), member="chat-export.json", index=7,
                     variant="export_all")


def test_an_unexpected_exception_becomes_a_normalize_error_naming_the_record(monkeypatch):
    def broken(blocks, message_id):
        raise KeyError("surprise")

    monkeypatch.setattr(qwen_normalize, "read_content_list", broken)
    with pytest.raises(NormalizeError, match=r"chat-export\.json#7: .*KeyError"):
        qb.manager().normalize("qwen", _raw())
    monkeypatch.setattr(plugin, "raise_unexpected", True)
    with pytest.raises(KeyError, match="surprise"):
        plugin.moonshine_normalize(provider="qwen", raw=_raw())


def test_a_plugin_normalize_error_is_prefixed_with_the_location():
    raw = RawRecord(kind="conversation", data="text", member="chat-export.json", index=2, variant="export_all")
    with pytest.raises(NormalizeError, match=r"^chat-export\.json#2: conversation is a JSON str, not an object$"):
        plugin.moonshine_normalize(provider="qwen", raw=raw)


def test_other_providers_are_not_normalized():
    assert plugin.moonshine_normalize(provider="chatgpt", raw=_raw()) is None
