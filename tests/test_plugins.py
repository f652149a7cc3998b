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
@hookimpl
def moonshine_detect(source):
    return None
@hookimpl
def moonshine_parse(provider, source):
    return None
"""
BROKEN = "raise RuntimeError('boom at import')\n"
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
    monkeypatch.setenv("MOONSHINE_BLOCK_PLUGINS", "broken,moonshine-typo")
    names = {i.name for i in make_plugin_manager(strict=True).plugin_infos()}
    assert "broken" not in names and "typo" not in names and "goodone" in names


def test_detect_isolates_a_failing_detector(tmp_path):
    class Bad:
        @hookimpl
        def moonshine_detect(self, source):
            raise ValueError("detector bug")

    class Good:
        @hookimpl
        def moonshine_detect(self, source):
            return Detection(provider="good", variant="v", confidence=0.5)

    pm = make_plugin_manager(load_entrypoints=False, extra=[("bad", Bad()), ("good", Good())])
    (tmp_path / "x.json").write_text("[]")
    from moonshine_core.sources import ExportSource
    with ExportSource(tmp_path / "x.json") as source:
        found, errors = pm.detect(source)
    assert [d.provider for d in found] == ["good"]
    assert errors and "detector bug" in errors[0]


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
    pm = make_plugin_manager(load_entrypoints=False, extra=[("toy", toy_plugin)])
    assert pm.sample_exports() == {"toy": [str(toy_plugin.SAMPLE)]}
