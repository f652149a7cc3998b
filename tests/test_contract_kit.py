"""The plugin contract kit, proved on the toy plugin in tests/toy (hooks detect, parse, normalize)."""

from pathlib import Path

import pytest

from moonshine_core import Conversation, Detection, Message, RawRecord, hookimpl
from moonshine_core.plugins import make_plugin_manager
from moonshine_core.testing import ProviderContract, check_provider

TOY = Path(__file__).resolve().parent / "toy"


class TestToyContract(ProviderContract):
    provider = "toy"
    samples = [TOY / "toy_export.json"]

    @pytest.fixture
    def contract_pm(self, toy_plugin):
        return make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)], strict=True)


def test_hook_detect_parse_normalize_on_toy(toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])
    from moonshine_core.sources import ExportSource
    with ExportSource(TOY / "toy_export.json") as source:
        (best, *_), _ = pm.detect(source)
        assert best.provider == "toy"
        raws = list(pm.parse("toy", source))
    records = [r for raw in raws for r in pm.normalize("toy", raw)]
    convs = [r for r in records if isinstance(r, Conversation)]
    assert [c.conversation_id for c in convs] == ["conv-1", "conv-2"]
    # The toolkit's regeneration rule finds the retry in conv-1 (two answers to one question).
    assert [c.comparison_id for c in records if not isinstance(c, Conversation)] == ["regen:conv-1:m1"]
    assert convs[0].current_leaf_id == "m3" and not convs[0].active_branch_inferred
    assert convs[1].messages[0].metadata["dangling_parent"] == "missing"


class ListParser:
    """A plugin that breaks the contract: it materialises a list and leaves a dangling parent."""

    provider = "listy"

    def __init__(self, toy_plugin):
        self.toy = toy_plugin

    @hookimpl
    def moonshine_detect(self, source):
        return Detection(provider="listy", variant="v", confidence=0.95) if self.toy.detect(source) else None

    @hookimpl
    def moonshine_parse(self, provider, source):
        return [RawRecord(kind="conversation", data={})] if provider == "listy" else None

    @hookimpl
    def moonshine_normalize(self, provider, raw):
        if provider != "listy":
            return None
        return [Conversation(conversation_id="x", current_leaf_id="b",
                             messages=[Message(message_id="b", role="user", parent_id="nowhere")])]


def test_contract_kit_catches_a_broken_plugin(toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin),
                                                            ("listy", ListParser(toy_plugin))])
    problems = check_provider(pm, "listy", TOY / "toy_export.json")
    assert any("iterator" in p for p in problems)
    assert any("dangling parent" in p for p in problems)


def test_kit_fixtures_ingest_into_a_temporary_workspace(moonshine_workspace, moonshine_ingest, toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])
    result = moonshine_ingest(TOY / "toy_export.json", pm=pm)
    assert result.gates_passed
    assert moonshine_workspace.run_ids() == [("toy", result.run_id)]
