"""The plugin manager: entry-point loading, isolation, allow/block lists, strict mode."""

import json
import os
import subprocess
import textwrap

import pytest

from moonshine_core import Detection, hookimpl
from moonshine_core.errors import PluginError
from moonshine_core.plugins import make_plugin_manager


def make_distribution(root, dist, modules, entry_points):
    """A fake installed distribution on ``root`` (importlib.metadata finds it through sys.path)."""
    info = root / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[moonshine]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


GOOD = """
from moonshine_core import hookimpl, Detection
PROVIDER = "goodone"
@hookimpl
def moonshine_detect(source):
    return None
@hookimpl
def moonshine_parse(provider, source):
    return None
"""
BROKEN = "raise RuntimeError('boom at import')\n"
MISNAMED = """
from moonshine_core import hookimpl
PROVIDER = "somethingelse"
@hookimpl
def moonshine_parse(provider, source):
    return None
"""
UNNAMED = """
from moonshine_core import hookimpl
@hookimpl
def moonshine_parse(provider, source):
    return None
"""
UNKNOWN_HOOK = """
from moonshine_core import hookimpl
@hookimpl
def moonshine_detcet(source):
    return None
"""


@pytest.fixture
def fake_plugins(tmp_path, monkeypatch):
    make_distribution(tmp_path, "moonshine-goodone", {"goodone_mod": GOOD}, {"goodone": "goodone_mod"})
    make_distribution(tmp_path, "moonshine-broken", {"broken_mod": BROKEN}, {"broken": "broken_mod"})
    make_distribution(tmp_path, "moonshine-typo", {"typo_mod": UNKNOWN_HOOK}, {"typo": "typo_mod"})
    make_distribution(tmp_path, "moonshine-misnamed", {"misnamed_mod": MISNAMED}, {"misnamed": "misnamed_mod"})
    make_distribution(tmp_path, "moonshine-unnamed", {"unnamed_mod": UNNAMED}, {"unnamed": "unnamed_mod"})
    monkeypatch.syspath_prepend(str(tmp_path))
    for var in ("MOONSHINE_LOAD_PLUGINS", "MOONSHINE_BLOCK_PLUGINS", "MOONSHINE_STRICT_PLUGINS"):
        monkeypatch.delenv(var, raising=False)
    import importlib
    importlib.invalidate_caches()
    return tmp_path


def test_broken_plugins_are_reported_and_skipped(fake_plugins):
    pm = make_plugin_manager(allow={"goodone", "broken", "typo"}, strict=False)
    infos = {i.name: i for i in pm.plugin_infos()}
    assert infos["goodone"].error is None
    assert infos["goodone"].distribution == "moonshine-goodone" and infos["goodone"].version == "0.3"
    assert infos["goodone"].hooks == ["moonshine_detect", "moonshine_parse"]
    assert "boom at import" in infos["broken"].error
    assert "moonshine_detcet" in infos["typo"].error
    assert "typo" not in [p for p, _ in pm.pm.list_name_plugin()]
    assert infos["builtin-scorers"].builtin


def test_entry_point_name_and_provider_name_must_agree(fake_plugins):
    pm = make_plugin_manager(allow={"goodone", "misnamed", "unnamed"}, strict=False)
    infos = {i.name: i for i in pm.plugin_infos()}
    assert infos["goodone"].error is None
    assert "declares provider 'somethingelse' but is registered as 'misnamed'" in infos["misnamed"].error
    assert "does not say its provider name" in infos["unnamed"].error
    assert pm.providers() == ["goodone"]
    with pytest.raises(PluginError, match="misnamed"):
        make_plugin_manager(allow={"misnamed"}, strict=True)


def test_strict_mode_makes_load_errors_fatal(fake_plugins):
    with pytest.raises(PluginError, match="broken"):
        make_plugin_manager(allow={"broken"}, strict=True)


def test_allow_and_block_lists(fake_plugins, monkeypatch):
    monkeypatch.setenv("MOONSHINE_LOAD_PLUGINS", "goodone")
    names = {i.name for i in make_plugin_manager().plugin_infos()}
    assert "goodone" in names and "broken" not in names
    monkeypatch.setenv("MOONSHINE_LOAD_PLUGINS", "")
    assert all(i.builtin for i in make_plugin_manager().plugin_infos())
    monkeypatch.delenv("MOONSHINE_LOAD_PLUGINS")
    monkeypatch.setenv("MOONSHINE_BLOCK_PLUGINS", "broken,moonshine-typo,misnamed,unnamed")
    names = {i.name for i in make_plugin_manager(strict=True).plugin_infos()}
    assert "broken" not in names and "typo" not in names and "goodone" in names


def test_detect_isolates_a_failing_detector(tmp_path):
    class Bad:
        provider = "bad"

        @hookimpl
        def moonshine_detect(self, source):
            raise ValueError("detector bug")

    class Impostor:
        provider = "impostor"

        @hookimpl
        def moonshine_detect(self, source):
            return Detection(provider="good", variant="v", confidence=0.9)

    class Good:
        provider = "good"

        @hookimpl
        def moonshine_detect(self, source):
            return Detection(provider="good", variant="v", confidence=0.5)

    pm = make_plugin_manager(load_entrypoints=False, strict=True,
                             extra=[("bad", Bad()), ("good", Good()), ("impostor", Impostor())])
    (tmp_path / "x.json").write_text("[]")
    from moonshine_core.sources import ExportSource
    with ExportSource(tmp_path / "x.json") as source:
        found, errors = pm.detect(source)
    # A detector's bug is reported even in strict mode, never fatal; a detection of another provider is dropped.
    assert [d.provider for d in found] == ["good"]
    assert any("bad: detect failed: ValueError: detector bug" in e for e in errors)
    assert any("impostor: detect returned provider 'good'" in e for e in errors)


def test_cli_lists_broken_plugin_and_still_succeeds(fake_plugins, moonshine_exe):
    env = {**os.environ, "PYTHONPATH": str(fake_plugins), "MOONSHINE_LOAD_PLUGINS": "goodone,broken"}
    env.pop("MOONSHINE_STRICT_PLUGINS", None)
    out = subprocess.run([moonshine_exe, "--json", "plugins"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    data = {p["name"]: p for p in json.loads(out.stdout)}
    assert data["broken"]["error"] and data["goodone"]["error"] is None
    assert "plugin broken skipped" in out.stderr
    strict = subprocess.run([moonshine_exe, "plugins"], capture_output=True, text=True,
                            env={**env, "MOONSHINE_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0
    assert strict.stderr.strip().count("\n") == 0 and "broken" in strict.stderr


def test_hook_score_runs_builtin_scorers():
    from moonshine_core.records import Conversation, Message
    pm = make_plugin_manager(load_entrypoints=False)
    conv = Conversation(conversation_id="c", current_leaf_id="b", messages=[
        Message(message_id="a", role="user", text="hi"),
        Message(message_id="b", role="assistant", parent_id="a", text="```py\nx\n```")])
    scores = {s.name: s for s in pm.score(conv)}
    assert scores["size"].detail["user_turns"] == 1
    assert scores["code_ratio"].value == 1.0


class RaisingScorer:
    @hookimpl
    def moonshine_score(self, conversation):
        raise ZeroDivisionError("scorer bug")


def test_a_raising_scorer_is_counted_and_skipped_or_fatal_when_strict():
    from moonshine_core.records import Conversation, Message
    from collections import Counter
    conv = Conversation(conversation_id="c", messages=[Message(message_id="a", role="user", text="hi")])
    pm = make_plugin_manager(load_entrypoints=False, strict=False, extra=[("raiser", RaisingScorer())])
    failures = Counter()
    names = {s.name for s in pm.score(conv, failures=failures)}
    assert {"size", "refusal"} <= names   # the other scorers still ran
    assert failures == {"plugin_error:raiser:ZeroDivisionError": 1}
    assert pm.hook_failures["plugin_error:raiser:ZeroDivisionError"] == 1
    strict = make_plugin_manager(load_entrypoints=False, strict=True, extra=[("raiser", RaisingScorer())])
    with pytest.raises(PluginError, match="raiser.*moonshine_score failed: ZeroDivisionError"):
        strict.score(conv)


def test_trace_switch_logs_every_hook_call(monkeypatch, capsys):
    from moonshine_core.records import Conversation
    monkeypatch.setenv("MOONSHINE_TRACE_PLUGINS", "1")
    pm = make_plugin_manager(load_entrypoints=False, strict=False, extra=[("raiser", RaisingScorer())])
    pm.score(Conversation(conversation_id="c-traced"))
    err = capsys.readouterr().err
    assert "moonshine trace: moonshine_score(conversation=<Conversation c-traced>) -> builtin-scorers: 3 item(s)" in err
    assert "-> raiser: raised ZeroDivisionError: scorer bug" in err
    monkeypatch.delenv("MOONSHINE_TRACE_PLUGINS")
    make_plugin_manager(load_entrypoints=False).score(Conversation(conversation_id="c-quiet"))
    assert "c-quiet" not in capsys.readouterr().err


def test_hook_emit_collects_rows_from_every_plugin():
    class Lane:
        @hookimpl
        def moonshine_emit(self, lane, conversation, context):
            return [{"lane": lane, "id": conversation.conversation_id}] if lane == "toy" else None

    from moonshine_core.records import Conversation
    pm = make_plugin_manager(load_entrypoints=False, extra=[("lane", Lane())])
    assert pm.emit("toy", Conversation(conversation_id="c"), None) == [{"lane": "toy", "id": "c"}]
    assert pm.emit("other", Conversation(conversation_id="c"), None) == []


def test_hook_sample_exports_are_collected(toy_plugin):
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin.plugin)])
    assert pm.sample_exports() == {"toy": [str(toy_plugin.SAMPLE)]}
