"""The Python examples of README.md and docs/ run as written, so they cannot rot.

A block is run with the user's paths pointed at what a test has: ``~/moonshine`` at a fresh
workspace, ``~/Downloads/<provider>-export.zip`` at that provider plugin's bundled sample, a
lane folder at one just distilled. Doctest-style blocks (``>>>``) run through :mod:`doctest`.
docs/lanes.md's blocks are run by tests/test_lane_snippets.py and the plugin guide's by
tests/test_plugin_guide.py.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

from moonshine_core.plugins import make_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
DOWNLOAD = re.compile(r"~/Downloads/(?P<provider>[a-z_]+)-export\.zip")


def python_blocks(doc: str) -> list[str]:
    return BLOCK.findall((ROOT / doc).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def samples():
    found = make_plugin_manager().sample_exports()
    if not {"claude", "chatgpt"} <= set(found):
        pytest.skip("the claude and chatgpt plugins (and their samples) are not installed")
    return {provider: paths[0] for provider, paths in found.items()}


def localise(code: str, workspace: Path, samples: dict[str, str]) -> str:
    code = code.replace('"~/moonshine"', repr(str(workspace)))
    return DOWNLOAD.sub(lambda m: samples[m.group("provider")], code)


def test_readme_notebook_example_runs_on_a_fresh_workspace(tmp_path, samples, capsys):
    blocks = python_blocks("README.md")
    notebook = next(b for b in blocks if "Workspace.open" in b)
    exec(compile(localise(notebook, tmp_path / "ws", samples), "README.md", "exec"), {})
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed, "the README's notebook example printed no conversation"


def test_readme_training_data_example_loads_a_lane(tmp_path, samples, monkeypatch):
    pytest.importorskip("datasets")
    from moonshine_core.distill import distill
    from moonshine_core.lifecycle import run_export
    from moonshine_core.workspace import Workspace

    (tmp_path / "ws").mkdir()
    (tmp_path / "ws" / "moonshine.toml").write_text('allowed_source_kinds = ["provider_export", "synthetic_sample"]\n')
    ws = Workspace.open(tmp_path / "ws")
    for provider in ("chatgpt", "claude"):
        run_export(ws, samples[provider], provider, source_kind="synthetic_sample", distill=False)
    run_id = "distill_20261125_120000"   # the id the README's example names
    distill(ws, lanes=["dpo"], run_id=run_id)
    monkeypatch.chdir(ws.root)
    block = next(b for b in python_blocks("README.md") if "load_lane" in b)
    scope: dict = {}
    exec(compile(block, "README.md", "exec"), scope)
    assert set(scope["dpo"]) >= {"train"} and len(scope["dpo"]["train"]) > 0


def test_lifecycle_doc_example_runs(tmp_path, samples, capsys):
    block = python_blocks("docs/lifecycle.md")[0]
    exec(compile(localise(block, tmp_path / "ws", samples), "docs/lifecycle.md", "exec"), {})
    out = capsys.readouterr().out
    assert "inserted" in out and "[]" in out   # counts printed, no failed gates


@pytest.mark.parametrize("doc", ["docs/tokens.md", "docs/records_and_store.md"])
def test_doctest_blocks_hold(doc):
    from moonshine_core.records import Conversation

    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL
                                   | doctest.NORMALIZE_WHITESPACE)
    blocks = [b for b in BLOCK.findall((ROOT / doc).read_text(encoding="utf-8")) if ">>>" in b]
    assert blocks, f"{doc} has no doctest block"
    for number, block in enumerate(blocks):
        test = parser.get_doctest(block, {"Conversation": Conversation}, f"{doc}[{number}]", doc, 0)
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} doctest example(s) of {doc} failed (see output)"


def test_plugin_hooks_lane_example_registers_a_working_lane():
    from moonshine_core.records import Conversation, Message

    block = next(b for b in python_blocks("docs/plugin_hooks.md") if "moonshine_lanes" in b)
    scope: dict = {}
    exec(compile(block, "docs/plugin_hooks.md", "exec"), scope)
    (lane,) = scope["moonshine_lanes"]()
    conversation = Conversation(conversation_id="c1", title="Greetings",
                                messages=[Message(message_id="m1", role="user", text="hello?")])
    rows = lane.emit(conversation, None)
    assert rows and rows[0]["completion"] == "Greetings" and lane.validate(rows[0]) is None
